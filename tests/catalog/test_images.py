"""Listing logos are served from local storage as images, never as anything else."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from apps.catalog import services
from marketplace.principal import Principal, PrincipalKind, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_logo_is_served_as_an_image_with_nosniff(radiant: Any) -> None:
    actor = Principal(
        kind=PrincipalKind.MEMBER, label="a", organization=radiant.organization, role=Role.ADMIN, user=radiant.admin
    )
    listing = services.listing_create(vendor=radiant.organization, actor=actor, data={"name": "Dose Watch"})
    listing = services.listing_set_logo(
        listing=listing, actor=actor, upload=SimpleUploadedFile("logo.png", _png(), content_type="image/png")
    )
    response = Client().get(listing.logo.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == _png()


def test_only_listing_images_are_served() -> None:
    default_storage.save("listings/page.html", io.BytesIO(b"<html><script>alert(1)</script></html>"))
    default_storage.save("documents/secret.png", io.BytesIO(_png()))
    client = Client()
    assert client.get("/media/listings/page.html").status_code == 404
    assert client.get("/media/listings/../documents/secret.png").status_code == 404
    assert client.get("/media/listings/missing.png").status_code == 404
