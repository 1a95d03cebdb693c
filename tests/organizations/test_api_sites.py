"""Sites: the places where a provider runs software. St. Mary's admins keep the list; its
members and API clients read it; nobody else sees it."""

from __future__ import annotations

from typing import Any

import pytest

from apps.organizations.models import Site
from marketplace.models import AuditEntry
from tests.api_contract import OPERATOR, PARTY_CALLERS, ApiContract, BadInput
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def sites_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/sites/"


class TestSitesContract(ApiContract):
    model = Site
    readers = PARTY_CALLERS | {OPERATOR}
    writers = frozenset({"admin", "client:admin"})
    bad_inputs = (
        BadInput("no name", {"kind": "hospital"}, "name"),
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("unknown kind", {"name": "Central", "kind": "castle"}, "kind"),
        BadInput("unknown posture", {"name": "Central", "network_posture": "offline"}, "network_posture"),
        BadInput("country not ISO", {"name": "Central", "country": "Germany"}, "country"),
        BadInput("city too long", {"name": "Central", "city": "x" * 121}, "city"),
    )
    bad_updates = (
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("unknown kind", {"kind": "castle"}, "kind"),
    )

    def list_url(self, party: Party) -> str:
        return sites_url(party)

    def detail_url(self, party: Party, obj: Any) -> str:
        return f"{sites_url(party)}{obj.public_id}/"

    def make(self, party: Party) -> Site:
        return SiteFactory(organization=party.organization)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"name": "St. Mary's Central Hospital", "kind": "hospital", "country": "DE", "city": "Hamburg"}

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {"city": "Lübeck"}

    def assert_deleted(self, obj: Any) -> None:
        obj.refresh_from_db()
        assert obj.archived_at is not None


def test_an_admin_adds_a_site_that_members_then_see(st_mary: Party) -> None:
    response = st_mary.api("admin").post(
        sites_url(st_mary),
        {"name": "St. Mary's Central Hospital", "kind": "hospital", "network_posture": "air_gapped", "city": "Hamburg"},
    )
    assert response.status_code == 201, response.content
    site = response.json()
    assert site["name"] == "St. Mary's Central Hospital" and site["network_posture"] == "air_gapped"
    assert site["archived_at"] is None

    listed = st_mary.api("member").get(sites_url(st_mary)).json()
    assert [s["id"] for s in listed["results"]] == [site["id"]]
    entry = AuditEntry.objects.get(action="organizations.site.created")
    assert entry.object_id == site["id"] and entry.new_values["name"] == "St. Mary's Central Hospital"


def test_a_vendor_has_no_sites(radiant: Party) -> None:
    response = radiant.api("admin").post(sites_url(radiant), {"name": "Radiant HQ"})
    assert_error(response, 400, code="validation_error", field="organization")
    assert not Site.objects.filter(organization=radiant.organization).exists()


def test_site_names_are_unique_within_an_organization(st_mary: Party, northside: Party) -> None:
    SiteFactory(organization=st_mary.organization, name="Central")
    response = st_mary.api("admin").post(sites_url(st_mary), {"name": "Central"})
    assert_error(response, 400, field="name")
    assert Site.objects.filter(organization=st_mary.organization, name="Central").count() == 1

    # Another organization may use the same name.
    assert northside.api("admin").post(sites_url(northside), {"name": "Central"}).status_code == 201


def test_renaming_a_site_onto_another_name_is_refused(st_mary: Party) -> None:
    SiteFactory(organization=st_mary.organization, name="Central")
    east = SiteFactory(organization=st_mary.organization, name="East")
    response = st_mary.api("admin").patch(f"{sites_url(st_mary)}{east.public_id}/", {"name": "Central"})
    assert_error(response, 400, field="name")
    east.refresh_from_db()
    assert east.name == "East"


def test_updating_a_site_records_old_and_new_values(st_mary: Party) -> None:
    site = SiteFactory(organization=st_mary.organization, name="Central", city="Hamburg")
    response = st_mary.api("admin").patch(f"{sites_url(st_mary)}{site.public_id}/", {"city": "Lübeck"})
    assert response.status_code == 200 and response.json()["city"] == "Lübeck"
    entry = AuditEntry.objects.get(action="organizations.site.updated")
    assert entry.old_values == {"city": "Hamburg"} and entry.new_values == {"city": "Lübeck"}


def test_deleting_a_site_archives_it(st_mary: Party) -> None:
    site = SiteFactory(organization=st_mary.organization, name="Old Wing")
    api = st_mary.api("admin")
    url = f"{sites_url(st_mary)}{site.public_id}/"

    assert api.delete(url).status_code == 204
    site.refresh_from_db()
    assert site.archived_at is not None  # still there: deployments and licenses keep naming it

    assert api.get(sites_url(st_mary)).json()["count"] == 0
    archived = api.get(sites_url(st_mary), {"include_archived": "true"}).json()
    assert [s["id"] for s in archived["results"]] == [str(site.public_id)]
    assert api.get(url).json()["archived_at"] is not None

    assert api.delete(url).status_code == 204  # archiving again changes nothing
    assert AuditEntry.objects.filter(action="organizations.site.archived").count() == 1


def test_sites_filter_by_kind_and_posture(st_mary: Party) -> None:
    SiteFactory(organization=st_mary.organization, name="Central", kind="hospital")
    SiteFactory(organization=st_mary.organization, name="Vault", kind="data_centre", network_posture="air_gapped")
    api = st_mary.api("member")
    assert [s["name"] for s in api.get(sites_url(st_mary), {"kind": "data_centre"}).json()["results"]] == ["Vault"]
    posture = api.get(sites_url(st_mary), {"network_posture": "cloud_connected"}).json()["results"]
    assert [s["name"] for s in posture] == ["Central"]
    assert_error(api.get(sites_url(st_mary), {"kind": "castle"}), 400, field="kind")
