"""The demo listing views of `manage.py seed_demo`: a count per day for the demo vendors'
published listings only, and nothing new when run again."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.analytics.demo import seed_analytics_demo
from apps.analytics.models import ListingViewDay
from tests.catalog.factories import ListingFactory, publish_listing
from tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def test_views_for_the_demo_vendors_published_listings_once() -> None:
    radiant = VendorFactory(name="Radiant AI", slug="radiant-ai")
    published = publish_listing(vendor=radiant, name="Demo Reader", slug="demo-reader")
    draft = ListingFactory(vendor=radiant, name="Demo Draft")
    other = publish_listing(name="Not A Demo", slug="not-a-demo")

    created = seed_analytics_demo(days=14)
    assert created > 0
    days = ListingViewDay.objects.filter(listing=published)
    assert days.count() == created
    assert all(row.views > 0 for row in days)
    assert max(row.day for row in days) == timezone.now().date()
    assert not ListingViewDay.objects.filter(listing__in=[draft, other]).exists()
    assert seed_analytics_demo(days=14) == 0
