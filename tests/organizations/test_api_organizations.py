"""The partner directory: anyone may browse it; a person founds an organization and becomes its
admin; admins edit it; operators verify vendors once their details are complete."""

from __future__ import annotations

from typing import Any

import pytest

from apps.organizations.models import Membership, Organization
from marketplace.models import AuditEntry, Event
from tests.api_contract import ADMINS, ALL_CALLERS, ApiContract, BadInput
from tests.conftest import Party, assert_error
from tests.factories import OrganizationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db

DIRECTORY = "/api/v1/organizations/"
PRIVATE_FIELDS = {"legal_name", "registration_number", "contact_email", "partner_terms_version"}


def org_url(slug: str) -> str:
    return f"{DIRECTORY}{slug}/"


class TestOrganizationsContract(ApiContract):
    model = Organization
    owner = "radiant"
    stranger = "st_mary"
    readers = ALL_CALLERS  # the directory is public
    creators = frozenset({"admin", "member"})  # people, not API clients or operators
    writers = ADMINS
    can_delete = False
    actions = {"verify": frozenset({"operator"})}
    tenant_scoped = False
    result_key = "slug"
    mass_assignment_extra = {
        "verified": True,
        "verified_by": "operator@platform.example",
        "partner_terms_accepted_at": "2000-01-01T00:00:00Z",
        "partner_terms_version": "1999-01",
    }
    bad_inputs = (
        BadInput("no name", {"kind": "vendor"}, "name"),
        BadInput("blank name", {"name": "", "kind": "vendor"}, "name"),
        BadInput("no kind", {"name": "Harbour Imaging"}, "kind"),
        BadInput("unknown kind", {"name": "Harbour Imaging", "kind": "hospital"}, "kind"),
        BadInput("unknown sector", {"name": "Harbour Imaging", "kind": "vendor", "sector": "pharma"}, "sector"),
        BadInput("country not ISO", {"name": "Harbour Imaging", "kind": "vendor", "country": "nl"}, "country"),
        BadInput("website not a URL", {"name": "Harbour Imaging", "kind": "vendor", "website": "harbour"}, "website"),
        BadInput("slug not a slug", {"name": "Harbour Imaging", "kind": "vendor", "slug": "Harbour Imaging!"}, "slug"),
        BadInput("slug taken", {"name": "Harbour Imaging", "kind": "vendor", "slug": "radiant-ai"}, "slug"),
    )
    bad_updates = (
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("contact not an e-mail", {"contact_email": "partners at radiant"}, "contact_email"),
        BadInput("country not ISO", {"country": "Germany"}, "country"),
    )

    def list_url(self, party: Party) -> str:
        return DIRECTORY

    def detail_url(self, party: Party, obj: Any) -> str:
        return org_url(obj.slug)

    def make(self, party: Party) -> Organization:
        return party.organization

    def make_many(self, party: Party, count: int) -> None:
        OrganizationFactory.create_batch(count)

    def key(self, obj: Any) -> str:
        return obj.slug

    def find(self, body: dict[str, Any]) -> Organization:
        return Organization.objects.get(slug=body["slug"])

    def owned_by(self, obj: Any, party: Party) -> bool:
        # A new organization belongs to whoever founded it, who is its admin.
        people = (party.admin, party.member)
        return Membership.objects.filter(organization=obj, user__in=people, role="admin").exists()

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"name": "Harbour Imaging", "kind": "vendor", "sector": "business", "country": "NL"}

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {"description": "AI for chest X-ray triage."}

    def assert_created_plainly(self, created: Any) -> None:
        assert created.verified_by is None and created.partner_terms_version == ""


# --- the directory --------------------------------------------------------------------------


def test_anyone_browses_the_directory_without_private_details(
    anonymous_api: Any, st_mary: Party, northside: Party, radiant: Party
) -> None:
    body = anonymous_api.get(DIRECTORY).json()
    assert [o["name"] for o in body["results"]] == ["Northside Clinics", "Radiant AI", "St. Mary's Hospital Group"]
    assert all(not PRIVATE_FIELDS & set(o) for o in body["results"])

    public = anonymous_api.get(org_url("radiant-ai")).json()
    assert public["kind"] == "vendor" and not PRIVATE_FIELDS & set(public)
    # Another organization sees the public profile; Radiant's own people see the private one.
    assert not PRIVATE_FIELDS & set(st_mary.api("admin").get(org_url("radiant-ai")).json())
    own = radiant.api("member").get(org_url("radiant-ai")).json()
    assert set(own) >= PRIVATE_FIELDS and own["legal_name"] == "Radiant AI GmbH"


def test_unknown_organization_is_a_404(anonymous_api: Any) -> None:
    assert_error(anonymous_api.get(org_url("nobody")), 404, code="not_found")


def test_directory_filters(anonymous_api: Any, st_mary: Party, radiant: Party, operator: Any) -> None:
    OrganizationFactory(
        name="Charité Research",
        slug="charite-research",
        kind="both",
        sector="academia",
        description="University hospital research in medical imaging.",
    )
    VendorFactory(name="Cardio Labs", slug="cardio-labs", partnership_offer="Imaging integration partners wanted")
    Organization.objects.filter(slug="radiant-ai").update(verified_at="2026-01-05T10:00:00Z")

    def names(**params: Any) -> list[str]:
        response = anonymous_api.get(DIRECTORY, params)
        assert response.status_code == 200, response.content
        return [o["name"] for o in response.json()["results"]]

    assert names(kind="vendor") == ["Cardio Labs", "Charité Research", "Radiant AI"]  # "both" counts as either
    assert names(kind="provider") == ["Charité Research", "St. Mary's Hospital Group"]
    assert names(sector="academia") == ["Charité Research"]
    assert names(q="imaging") == ["Cardio Labs", "Charité Research"]  # description or partnership offer
    assert names(q="radiant") == ["Radiant AI"]
    assert names(verified="true") == ["Radiant AI"]
    assert "Radiant AI" not in names(verified="false")
    assert names(kind="vendor", verified="false", q="imaging") == ["Cardio Labs", "Charité Research"]
    assert names(country="NL", sector="academia") == []
    assert_error(anonymous_api.get(DIRECTORY, {"kind": "hospital"}), 400, field="kind")


# --- founding -----------------------------------------------------------------------------


def test_a_person_founds_an_organization_and_becomes_its_admin(st_mary: Party) -> None:
    founder = st_mary.member  # a member at St. Mary's founds a vendor start-up on the side
    response = st_mary.api("member").post(
        DIRECTORY, {"name": "Harbour Imaging", "kind": "vendor", "country": "NL", "website": "https://harbour.example"}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["slug"] == "harbour-imaging" and created["verified"] is False
    assert set(created) >= PRIVATE_FIELDS

    organization = Organization.objects.get(slug="harbour-imaging")
    assert Membership.objects.get(organization=organization).user == founder
    assert Membership.objects.get(organization=organization).role == "admin"

    actions = set(AuditEntry.objects.filter(organization=organization).values_list("action", flat=True))
    assert actions == {"organizations.organization.created", "organizations.member.added"}
    created_entry = AuditEntry.objects.get(action="organizations.organization.created")
    assert created_entry.actor_label == founder.email
    assert created_entry.new_values == {"name": "Harbour Imaging", "kind": "vendor", "sector": "business"}
    assert Event.objects.filter(type="organization.created", subject_id=str(organization.public_id)).exists()


def test_two_organizations_with_the_same_name_get_different_slugs(st_mary: Party) -> None:
    api = st_mary.api("admin")
    first = api.post(DIRECTORY, {"name": "Harbour Imaging", "kind": "vendor"}).json()
    second = api.post(DIRECTORY, {"name": "Harbour Imaging", "kind": "provider"}).json()
    assert (first["slug"], second["slug"]) == ("harbour-imaging", "harbour-imaging-2")


def test_a_person_must_confirm_their_email_first(db: None) -> None:
    from rest_framework.test import APIClient

    unconfirmed = UserFactory(email="new@example.org", email_confirmed_at=None)
    api = APIClient()
    api.force_login(unconfirmed)
    assert_error(api.post(DIRECTORY, {"name": "Harbour", "kind": "vendor"}), 403, code="email_unconfirmed")
    assert not Organization.objects.exists()


def test_api_clients_and_operators_cannot_found_organizations(st_mary: Party, operator_api: Any) -> None:
    before = Organization.objects.count()
    for api in (st_mary.api("client:admin"), operator_api):
        assert_error(api.post(DIRECTORY, {"name": "Shadow Org", "kind": "vendor"}), 403)
    assert Organization.objects.count() == before


# --- editing ------------------------------------------------------------------------------


def test_an_admin_edits_the_profile_and_the_change_is_audited(radiant: Party) -> None:
    response = radiant.api("admin").patch(org_url("radiant-ai"), {"description": "Imaging AI.", "sector": "business"})
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Imaging AI."
    entry = AuditEntry.objects.get(action="organizations.organization.updated")
    assert entry.old_values == {"description": ""} and entry.new_values == {"description": "Imaging AI."}
    assert entry.actor_label == radiant.admin.email


def test_only_its_own_admins_edit_an_organization(radiant: Party, st_mary: Party, operator_api: Any) -> None:
    for api in (radiant.api("member"), radiant.api("client:member"), st_mary.api("admin"), operator_api):
        assert_error(api.patch(org_url("radiant-ai"), {"name": "Hijacked"}), 403)
    assert Organization.objects.get(slug="radiant-ai").name == "Radiant AI"
    assert not AuditEntry.objects.filter(action="organizations.organization.updated").exists()


def test_organizations_are_changed_with_patch_only(radiant: Party) -> None:
    api = radiant.api("admin")
    assert_error(api.put(org_url("radiant-ai"), {"country": "AT"}), 405, code="method_not_allowed")
    assert_error(api.delete(org_url("radiant-ai")), 405, code="method_not_allowed")


# --- verification ---------------------------------------------------------------------------


def test_an_operator_verifies_a_vendor_once_its_details_are_complete(radiant: Party, operator_api: Any) -> None:
    verify = f"{org_url('radiant-ai')}verify/"

    # The partner terms are not accepted yet.
    assert_error(operator_api.post(verify), 400, code="validation_error", field="accept_partner_terms")

    response = radiant.api("admin").patch(org_url("radiant-ai"), {"accept_partner_terms": True})
    assert response.status_code == 200 and response.json()["partner_terms_version"]

    response = operator_api.post(verify)
    assert response.status_code == 200, response.content
    assert response.json()["verified"] is True
    again = operator_api.post(verify)  # idempotent: no second entry or event
    assert again.status_code == 200 and again.json()["verified_at"] == response.json()["verified_at"]

    assert AuditEntry.objects.filter(action="organizations.organization.verified").count() == 1
    entry = AuditEntry.objects.get(action="organizations.organization.verified")
    assert (entry.actor_kind, entry.actor_label) == ("operator", "operator operator@platform.example")
    assert Event.objects.filter(type="organization.verified").count() == 1


def test_accepting_the_partner_terms_again_keeps_the_first_acceptance(radiant: Party) -> None:
    api = radiant.api("admin")
    first = api.patch(org_url("radiant-ai"), {"accept_partner_terms": True}).json()
    again = api.patch(org_url("radiant-ai"), {"accept_partner_terms": True, "description": "Imaging AI."}).json()
    stored = api.get(org_url("radiant-ai")).json()
    assert (
        first["partner_terms_accepted_at"] == again["partner_terms_accepted_at"] == stored["partner_terms_accepted_at"]
    )
    changes = [e.new_values for e in AuditEntry.objects.filter(action="organizations.organization.updated")]
    assert changes == [{"description": "Imaging AI."}, {"partner_terms_version": first["partner_terms_version"]}]


def test_verification_names_every_missing_detail(operator_api: Any, radiant: Party) -> None:
    OrganizationFactory(name="Bare Vendor", slug="bare-vendor", kind="vendor")
    error = assert_error(operator_api.post(f"{org_url('bare-vendor')}verify/"), 400, code="validation_error")
    assert set(error["fields"]) == {"legal_name", "registration_number", "contact_email", "accept_partner_terms"}
    assert Organization.objects.get(slug="bare-vendor").verified_at is None


def test_providers_are_verified_with_the_same_details(operator_api: Any, st_mary: Party) -> None:
    error = assert_error(operator_api.post(f"{org_url('st-marys')}verify/"), 400)
    assert "legal_name" in error["fields"]
    st_mary.api("admin").patch(
        org_url("st-marys"),
        {"legal_name": "St. Mary's gGmbH", "registration_number": "HRB 1", "contact_email": "it@st-marys.example",
         "accept_partner_terms": True},
    )
    assert operator_api.post(f"{org_url('st-marys')}verify/").json()["verified"] is True


def test_only_operators_verify(radiant: Party) -> None:
    radiant.api("admin").patch(org_url("radiant-ai"), {"accept_partner_terms": True})
    for who in ("admin", "client:admin"):
        assert_error(radiant.api(who).post(f"{org_url('radiant-ai')}verify/"), 403)
    assert Organization.objects.get(slug="radiant-ai").verified_at is None


def test_changing_verification_details_sends_a_vendor_back_to_verification(radiant: Party, operator_api: Any) -> None:
    api = radiant.api("admin")
    api.patch(org_url("radiant-ai"), {"accept_partner_terms": True})
    assert operator_api.post(f"{org_url('radiant-ai')}verify/").json()["verified"] is True

    response = api.patch(org_url("radiant-ai"), {"legal_name": "Radiant Holding GmbH"})
    assert response.json()["verified"] is False
    entry = AuditEntry.objects.filter(action="organizations.organization.updated").latest("id")
    assert entry.new_values["verified_at"] is None and entry.old_values["verified_at"]
