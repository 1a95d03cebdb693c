"""Search results are built from rows (listing_summaries) for speed; they must equal what
ListingSummarySerializer gives for the same listings, field for field."""

from __future__ import annotations

from typing import Any

import pytest

from apps.catalog.api.serializers import SUMMARY_VALUES, ListingSummarySerializer, listing_summaries
from apps.catalog.models import Listing
from tests.catalog.factories import publish_listing

pytestmark = pytest.mark.django_db


def test_rows_give_what_the_serializer_gives(radiant: Any, anonymous_api: Any) -> None:
    publish_listing(vendor=radiant.organization, name="Stroke Alert", slug="stroke-alert")
    publish_listing(
        vendor=radiant.organization,
        name="Nodule Finder",
        slug="nodule-finder",
        offerings=[("on_premise", "quote_only")],
    )
    listings = Listing.objects.filter(status=Listing.Status.PUBLISHED).order_by("name", "id")
    expected = [dict(item) for item in ListingSummarySerializer(listings, many=True).data]
    assert listing_summaries(list(listings.values(*SUMMARY_VALUES))) == expected
    results = anonymous_api.get("/api/v1/apps/", {"ordering": "name"}).json()["results"]
    assert results == expected
