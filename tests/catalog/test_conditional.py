"""Conditional requests: catalog answers carry an ETag that changes whenever a listing or
anything shown with it changes (deletions too); a matching If-None-Match gets 304."""

from __future__ import annotations

from typing import Any

import pytest

from apps.catalog import services
from apps.catalog.models import Document, Plan
from marketplace.principal import Role
from tests.catalog.factories import add_document, publish_listing, vendor_principal

pytestmark = pytest.mark.django_db


def _etag(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    assert response["ETag"].startswith('W/"c') and "no-cache" in response["Cache-Control"]
    return response["ETag"]


def _not_modified(client: Any, url: str, etag: str) -> bool:
    response = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code in (200, 304)
    if response.status_code == 304:
        assert response.content == b"" and response["ETag"] in etag
    return response.status_code == 304


@pytest.mark.parametrize("url", ["/api/v1/apps/?q=scan", "/api/v1/apps/{slug}/", "/api/v1/apps/{slug}/offerings/"])
def test_unchanged_answers_are_not_sent_again(
    radiant: Any, anonymous_api: Any, url: str, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        listing = publish_listing(vendor=radiant.organization)
    url = url.format(slug=listing.slug)
    etag = _etag(anonymous_api, url)
    assert _not_modified(anonymous_api, url, etag)
    assert _not_modified(anonymous_api, url, f'W/"other", {etag}')


def test_every_kind_of_change_moves_the_etag(
    radiant: Any, anonymous_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        listing = publish_listing(vendor=radiant.organization)
    url = f"/api/v1/apps/{listing.slug}/"
    actor = vendor_principal(radiant.organization, Role.ADMIN)
    changes = [
        lambda: services.version_create(listing=listing, actor=actor, data={"version": "9.9.9"}),
        lambda: Plan.objects.filter(offering__listing=listing).first().save(),
        lambda: add_document(listing),
        lambda: Document.objects.filter(listing=listing).first().delete(),  # deletions too
        lambda: services.listing_suspend(listing=listing, actor=_operator(), reason="Safety review."),
    ]
    for change in changes:
        etag = (
            anonymous_api.get(url)["ETag"] if anonymous_api.get(url).status_code == 200 else _vendor_etag(radiant, url)
        )
        with django_capture_on_commit_callbacks(execute=True):
            change()
        client = anonymous_api if anonymous_api.get(url).status_code == 200 else radiant.api("member")
        assert not _not_modified(client, url, etag)


def test_the_etag_depends_on_who_asks(radiant: Any, st_mary: Any, anonymous_api: Any) -> None:
    listing = publish_listing(vendor=radiant.organization)
    url = f"/api/v1/apps/{listing.slug}/"
    assert _etag(anonymous_api, url) != _etag(st_mary.api("member"), url) != _etag(radiant.api("member"), url)
    assert not _not_modified(radiant.api("member"), url, _etag(anonymous_api, url))


def _operator() -> Any:
    from tests.catalog.factories import an_operator

    return an_operator()


def _vendor_etag(radiant: Any, url: str) -> str:
    return radiant.api("member").get(url)["ETag"]
