"""The shared API contract, adapted to the catalog's public-read resources.

The catalog is readable without signing in, so a caller who may not see a draft (anonymous,
another organization) is answered like someone asking for another organization's object: the
draft does not exist for them (404, or a list without it), never 401 or 403. Everything else
is the generic contract of tests/api_contract.py."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db.models import Model

from apps.catalog.models import Listing
from tests.api_contract import OPERATOR, PARTY_CALLERS, ApiContract
from tests.catalog.factories import ready_listing, verify
from tests.conftest import Party, assert_error

VENDOR_WRITERS: frozenset[str] = frozenset({"member", "client:member", "admin", "client:admin"})
VENDOR_READERS: frozenset[str] = PARTY_CALLERS | {OPERATOR}


def draft_of(party: Party) -> Listing:
    """The party's one draft listing under test (made ready for review, vendor verified)."""
    slug = f"{party.organization.slug}-draft"
    existing = Listing.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    verify(party.organization)
    return ready_listing(vendor=party.organization, name=f"{party.organization.name} Draft", slug=slug)


class CatalogContract(ApiContract):
    """Objects that belong to a vendor's draft listing: only the vendor's side and operators
    see them; anybody else is told they do not exist."""

    owner: ClassVar[str] = "radiant"
    stranger: ClassVar[str] = "orbit"
    readers: ClassVar[frozenset[str]] = VENDOR_READERS
    writers: ClassVar[frozenset[str]] = VENDOR_WRITERS
    can_delete: ClassVar[bool] = False

    def test_contract_others_may_not_read(self, non_reader: str, owner_party: Party, obj: Model, call_as: Any) -> None:
        api = call_as(non_reader, owner_party)
        listed = api.get(self.list_url(owner_party))
        if listed.status_code == 200:  # a public list that simply does not contain it
            assert self.key(obj) not in self._keys(listed)
        else:
            assert_error(listed, 404)
        assert_error(api.get(self.detail_url(owner_party, obj)), 404)


class ListingChildContract(CatalogContract):
    """Offerings, plans, versions: nested under the owner's draft at /apps/{slug}/<children>/."""

    children: ClassVar[str]

    @pytest.fixture
    def owner_party(self, request: pytest.FixtureRequest) -> Party:
        """The owner, whose draft exists before anything is counted."""
        party: Party = request.getfixturevalue(self.owner)
        draft_of(party)
        return party

    def list_url(self, party: Party) -> str:
        return f"/api/v1/apps/{draft_of(party).slug}/{self.children}/"

    def detail_url(self, party: Party, obj: Model) -> str:
        return f"{self.list_url(party)}{obj.public_id}/"  # type: ignore[attr-defined]

    def owned_by(self, obj: Model, party: Party) -> bool:
        return self.listing_of(obj).vendor_id == party.organization.pk

    def listing_of(self, obj: Model) -> Listing:
        return obj.listing  # type: ignore[attr-defined]
