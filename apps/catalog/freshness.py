"""Conditional requests on the catalog API: one counter moves whenever a listing or anything shown
with it changes (offerings, plans, versions, artifacts, documents, screenshots, clearances,
reviews, vocabularies; deletions too). ETags combine it with who asks and what was asked, so a
client repeating a request gets 304 Not Modified without the search being run again."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from apps.catalog.models import CatalogVersion


def catalog_version() -> int:
    return CatalogVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def _bump() -> None:
    if not CatalogVersion.objects.filter(pk=1).update(version=F("version") + 1):
        CatalogVersion.objects.get_or_create(pk=1, defaults={"version": 1})


def catalog_changed(**kwargs: Any) -> None:
    """Signal receiver: count the change once the transaction commits (no lock held meanwhile)."""
    transaction.on_commit(_bump)


def connect() -> None:
    from apps.catalog import models as m

    watched = (
        m.Listing,
        m.Offering,
        m.Plan,
        m.Version,
        m.Artifact,
        m.Document,
        m.Screenshot,
        m.RegulatoryClearance,
        m.Review,
        m.Category,
        m.Specialty,
        m.Modality,
        m.Standard,
        m.ListingRevision,
    )
    for model in watched:
        post_save.connect(catalog_changed, sender=model, dispatch_uid=f"catalog.freshness.save.{model.__name__}")
        post_delete.connect(catalog_changed, sender=model, dispatch_uid=f"catalog.freshness.delete.{model.__name__}")
    for through in (
        m.Listing.categories.through,
        m.Listing.specialties.through,
        m.Listing.modalities.through,
        m.Listing.standards.through,
    ):
        m2m_changed.connect(catalog_changed, sender=through, dispatch_uid=f"catalog.freshness.m2m.{through.__name__}")


class NotModified(APIException):
    status_code = 304


class ConditionalCatalogMixin:
    """For catalog viewsets: GET/HEAD answers carry a weak ETag; a matching If-None-Match gets 304
    before any work is done."""

    def _etag(self, request: Request) -> str:
        principal = getattr(self, "principal", None)
        from marketplace.principal import get_principal

        principal = principal or get_principal(request)
        who = f"{principal.kind.value}:{principal.organization_id or ''}:{principal.role or ''}"
        if principal.organization is not None:
            who += f":{int(bool(principal.organization.is_verified))}"
        digest = hashlib.sha256(f"{who}|{request.get_full_path()}".encode()).hexdigest()[:16]
        return f'W/"c{catalog_version()}-{digest}"'

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._catalog_etag = None
        if request.method in ("GET", "HEAD"):
            self._catalog_etag = self._etag(request)
            given = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",") if tag.strip()]
            if self._catalog_etag in given or "*" in given:
                raise NotModified()

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotModified):
            return Response(status=304, headers=self._conditional_headers())
        return super().handle_exception(exc)  # type: ignore[misc]

    def _conditional_headers(self) -> dict[str, str]:
        return {"ETag": self._catalog_etag or "", "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if getattr(self, "_catalog_etag", None) and response.status_code == 200:
            for name, value in self._conditional_headers().items():
                response[name] = value
        return response
