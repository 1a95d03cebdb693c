"""Listings: a verified vendor writes a draft with offerings, plans and versions, submits it,
an operator reviews it; the store shows only what was published. Every transition is audited
and emits its event, once."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db.models import Model

from apps.catalog.models import Listing, Offering, Plan, Version
from marketplace.models import AuditEntry, Event
from tests.api_contract import ADMINS, ODD_VALUES, OPERATOR, BadInput
from tests.catalog.contract import VENDOR_WRITERS, CatalogContract, ListingChildContract, draft_of
from tests.catalog.factories import (
    CategoryFactory,
    ListingFactory,
    OfferingFactory,
    PlanFactory,
    VersionFactory,
    publish_listing,
    ready_listing,
    verify,
)
from tests.conftest import Party, assert_error

pytestmark = pytest.mark.django_db

APPS = "/api/v1/apps/"


def app_url(listing: Listing | str, tail: str = "") -> str:
    slug = listing if isinstance(listing, str) else listing.slug
    return f"{APPS}{slug}/{tail}"


def audits(listing: Listing, action: str) -> int:
    return AuditEntry.objects.filter(action=action, object_id=str(listing.public_id)).count()


def events(listing: Listing, type: str) -> int:
    return Event.objects.filter(type=type, subject_id=str(listing.public_id)).count()


# --- the contract ----------------------------------------------------------------------------


class TestListingDraftsContract(CatalogContract):
    """A vendor's draft listings: its members and member+ clients write them; read-only clients
    read them; operators read and review them; nobody else sees them."""

    model = Listing
    result_key = "slug"
    actions: ClassVar[dict[str, frozenset[str]]] = {
        "submit": VENDOR_WRITERS,
        "approve": frozenset({OPERATOR}),
        "request-changes": frozenset({OPERATOR}),
        "suspend": frozenset({OPERATOR}),
        "reinstate": frozenset({OPERATOR}),
        "retire": ADMINS | {OPERATOR},
    }
    bad_inputs = (
        BadInput("no name", {"tagline": "Triage in seconds"}, "name"),
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("name too long", {"name": "x" * 121}, "name"),
        BadInput("tagline too long", {"name": "Triage", "tagline": "x" * 201}, "tagline"),
        BadInput("unknown category", {"name": "Triage", "categories": ["astrology"]}, "categories"),
        BadInput("slug not a slug", {"name": "Triage", "slug": "not a slug!"}, "slug"),
        BadInput("bad e-mail", {"name": "Triage", "support_email": "nobody"}, "support_email"),
        BadInput("bad url", {"name": "Triage", "support_url": "javascript:alert(1)"}, "support_url"),
        BadInput(
            "unknown authority", {"name": "Triage", "clearances": [{"authority": "ministry"}]}, "clearances.0.authority"
        ),
    )
    bad_updates = (
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("unknown category", {"categories": ["astrology"]}, "categories"),
        BadInput("tagline too long", {"tagline": "x" * 201}, "tagline"),
        BadInput("bad url", {"support_url": "not a url"}, "support_url"),
    )
    mass_assignment_extra: ClassVar[dict[str, Any]] = {
        "status": "published",
        "vendor": "orbit-health",
        "vendor_id": 1,
        "published_at": "2000-01-01T00:00:00Z",
        "submitted_at": "2000-01-01T00:00:00Z",
        "review_reason": "approved by myself",
        "search_vendor": "Someone Else",
        "deployment_modes": "cloud",
    }

    def list_url(self, party: Party) -> str:
        return f"{APPS}?status=draft"

    def detail_url(self, party: Party, obj: Model) -> str:
        return app_url(obj)  # type: ignore[arg-type]

    def make(self, party: Party) -> Listing:
        verify(party.organization)
        return ready_listing(vendor=party.organization)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"name": "Chest X-ray Triage", "tagline": "Flags urgent findings first."}

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {"tagline": "Flags urgent findings within a minute."}

    def key(self, obj: Model) -> str:
        return obj.slug  # type: ignore[attr-defined]

    def find(self, body: dict[str, Any]) -> Listing:
        return Listing.objects.get(slug=body["slug"])

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.vendor_id == party.organization.pk  # type: ignore[attr-defined]

    def assert_created_plainly(self, created: Model) -> None:
        assert isinstance(created, Listing)
        assert created.status == Listing.Status.DRAFT
        assert created.published_at is None and created.submitted_at is None and created.review_reason == ""
        assert created.search_vendor == "Radiant AI"

    def test_contract_unknown_fields_and_odd_values_never_500(
        self, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        """As the generic check, except that the search refuses an unknown `ordering` (400
        naming it) instead of ignoring it."""
        api = call_as("admin", owner_party)
        assert_error(api.get(APPS, {"ordering": "nonsense"}), 400, field="ordering")
        assert api.get(APPS, {"no_such_filter": "x", "page_size": "x"}).status_code == 200
        valid = self.create_payload(owner_party)
        for body in ({**valid, "no_such_field": "x"}, [valid], "just a string", 42):
            assert api.post(APPS, body, format="json").status_code < 500
        for name in valid:
            for odd in ODD_VALUES:
                response = api.post(APPS, {**valid, name: odd}, format="json")
                assert response.status_code < 500, (name, odd, response.content[:300])
                if response.status_code >= 400:
                    assert_error(response, response.status_code)
        url = self.detail_url(owner_party, obj)
        for body in ({"no_such_field": "x"}, ["not", "an", "object"]):
            assert api.patch(url, body, format="json").status_code < 500
        for name in self.update_payload(owner_party):
            for odd in ODD_VALUES:
                response = api.patch(url, {name: odd}, format="json")
                assert response.status_code < 500, (name, odd, response.content[:300])

    def test_contract_list_is_paginated_and_capped_at_100(self, owner_party: Party, call_as: Any) -> None:
        """As the generic check, with the `status=draft` the vendor's own list needs."""
        self.make_many(owner_party, 101)
        api = call_as("admin", owner_party)
        first = api.get(APPS, {"status": "draft"}).json()
        assert first["count"] == 101 and len(first["results"]) == 25
        assert first["previous"] is None and "page=2" in first["next"] and "status=draft" in first["next"]
        capped = api.get(APPS, {"status": "draft", "page_size": 1000}).json()
        assert len(capped["results"]) == 100 and capped["next"] is not None
        last = api.get(APPS, {"status": "draft", "page_size": 100, "page": 2}).json()
        assert len(last["results"]) == 1 and last["next"] is None
        assert not {r["slug"] for r in capped["results"]} & {r["slug"] for r in last["results"]}
        assert_error(api.get(APPS, {"status": "draft", "page": 999}), 404)


class TestOfferingsContract(ListingChildContract):
    """Offerings of a draft: written by the vendor's member+ callers, never deleted (a live
    one is deactivated)."""

    model = Offering
    children = "offerings"
    bad_inputs = (
        BadInput("cloud without regions", {"mode": "cloud", "name": "Cloud"}, "regions"),
        BadInput("cloud with empty regions", {"mode": "cloud", "name": "Cloud", "regions": []}, "regions"),
        BadInput("regions not a list", {"mode": "cloud", "name": "Cloud", "regions": "eu-central"}, "regions"),
        BadInput("unknown mode", {"mode": "castle", "name": "Moat"}, "mode"),
        BadInput("no name", {"mode": "on_premise"}, "name"),
        BadInput(
            "no cores", {"mode": "on_premise", "name": "On site", "requirement_cpu_cores": 0}, "requirement_cpu_cores"
        ),
    )
    bad_updates = (
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("unknown mode", {"mode": "castle"}, "mode"),
        BadInput("cloud without regions", {"mode": "cloud", "regions": []}, "regions"),
    )

    def make(self, party: Party) -> Offering:
        return OfferingFactory(listing=draft_of(party), mode=Offering.Mode.ON_PREMISE)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"mode": "on_premise", "name": "On site", "requirement_os": "RHEL 9", "requirement_memory_gb": 32}

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {"name": "On site, GPU"}


class TestPlansContract(ListingChildContract):
    """Plans of a draft's offerings: the pricing model decides which fields are required."""

    model = Plan
    children = "plans"
    bad_inputs = (
        BadInput("subscription without price", {"name": "Std", "pricing_model": "subscription"}, "price"),
        BadInput("unknown pricing", {"name": "Std", "pricing_model": "barter"}, "pricing_model"),
        BadInput("negative price", {"name": "Std", "pricing_model": "usage", "price": "-1"}, "price"),
        BadInput("currency not ISO", {"name": "Std", "pricing_model": "free", "currency": "euro"}, "currency"),
        BadInput("no such currency", {"name": "Std", "pricing_model": "free", "currency": "ABC"}, "currency"),
        BadInput("a fund, not a currency", {"name": "Std", "pricing_model": "free", "currency": "XAU"}, "currency"),
        BadInput("trial too long", {"name": "Std", "pricing_model": "free", "trial_days": 366}, "trial_days"),
    )
    bad_updates = (
        BadInput("blank name", {"name": ""}, "name"),
        BadInput("currency not ISO", {"currency": "euro"}, "currency"),
        BadInput("no such currency", {"currency": "ABC"}, "currency"),
        BadInput("usage without unit", {"pricing_model": "usage"}, "usage_unit"),
    )

    def listing_of(self, obj: Model) -> Listing:
        return obj.offering.listing  # type: ignore[attr-defined]

    def make(self, party: Party) -> Plan:
        return PlanFactory(offering=draft_of(party).offerings.first())

    def create_payload(self, party: Party) -> dict[str, Any]:
        offering = draft_of(party).offerings.first()
        assert offering is not None
        return {"offering": str(offering.public_id), "name": "Per study", "pricing_model": "usage", "price": "3.00",
                "currency": "EUR", "usage_unit": "study"}  # fmt: skip

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {"trial_days": 14}

    def test_contract_bad_input_names_the_field(self, bad_input: BadInput, owner_party: Party, call_as: Any) -> None:
        offering = draft_of(owner_party).offerings.first()
        assert offering is not None
        payload = {"offering": str(offering.public_id), **bad_input.payload}
        before = Plan.objects.count()
        response = call_as("admin", owner_party).post(self.list_url(owner_party), payload)
        assert_error(response, 400, field=bad_input.field)
        assert Plan.objects.count() == before


class TestVersionsContract(ListingChildContract):
    """Releases: created by the vendor's member+ callers; never edited or deleted."""

    model = Version
    children = "versions"
    can_update = False
    bad_inputs = (
        BadInput("not semver", {"version": "v2"}, "version"),
        BadInput("four parts", {"version": "1.2.3.4"}, "version"),
        BadInput("blank", {"version": ""}, "version"),
        BadInput("no version", {"release_notes": "Faster."}, "version"),
        BadInput("bad date", {"version": "2.0.0", "released_on": "yesterday"}, "released_on"),
    )

    def make(self, party: Party) -> Version:
        return VersionFactory(listing=draft_of(party))

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"version": "2.4.1", "release_notes": "Supports DICOM SR output."}


# --- the story: from draft to store ---------------------------------------------------------


@pytest.mark.parametrize("author", ["member", "client:member"])
def test_a_verified_vendor_takes_a_draft_to_the_store(
    author: str, radiant: Party, operator_api: Any, anonymous_api: Any
) -> None:
    verify(radiant.organization)
    CategoryFactory(name="Radiology AI", slug="radiology")
    api = radiant.api(author)

    created = api.post(APPS, {"name": "Chest X-ray Triage", "categories": ["radiology"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "chest-x-ray-triage" and body["status"] == "draft"
    assert body["vendor"] == {"slug": "radiant-ai", "name": "Radiant AI", "verified": True}
    listing = Listing.objects.get(slug="chest-x-ray-triage")
    assert listing.vendor == radiant.organization
    assert audits(listing, "catalog.listing.created") == 1

    edited = api.patch(
        app_url(listing),
        {
            "tagline": "Flags urgent chest X-rays first.",
            "description": "Reads **every** chest X-ray.",
            "intended_use": "Worklist prioritisation for radiologists.",
        },
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["tagline"] == "Flags urgent chest X-rays first."
    entry = AuditEntry.objects.get(action="catalog.listing.updated", object_id=str(listing.public_id))
    assert entry.old_values["tagline"] == "" and entry.new_values["tagline"] == "Flags urgent chest X-rays first."

    # A cloud offering names its regions.
    assert_error(api.post(app_url(listing, "offerings/"), {"mode": "cloud", "name": "Cloud"}), 400, field="regions")
    cloud = api.post(app_url(listing, "offerings/"), {"mode": "cloud", "name": "Cloud", "regions": ["eu-central"]})
    assert cloud.status_code == 201, cloud.content
    offering_id = cloud.json()["id"]

    # A subscription plan has a price, a currency and a billing period.
    plan = {"offering": offering_id, "name": "Department", "pricing_model": "subscription"}
    assert_error(api.post(app_url(listing, "plans/"), plan), 400, field="price")
    plan["price"] = "1500.00"
    assert_error(api.post(app_url(listing, "plans/"), plan), 400, field="billing_period")
    plan["billing_period"] = "month"
    assert_error(api.post(app_url(listing, "plans/"), plan), 400, field="currency")
    plan["currency"] = "EUR"
    made = api.post(app_url(listing, "plans/"), plan)
    assert made.status_code == 201, made.content
    assert made.json()["price"] == "1500.00" and made.json()["offering"] == offering_id

    # Versions are semantic and unique per listing.
    assert_error(api.post(app_url(listing, "versions/"), {"version": "two"}), 400, field="version")
    assert api.post(app_url(listing, "versions/"), {"version": "2.4.1"}).status_code == 201
    assert_error(api.post(app_url(listing, "versions/"), {"version": "2.4.1"}), 400, field="version")
    assert api.post(app_url(listing, "versions/"), {"version": "3.0.0-rc.1"}).status_code == 201

    # Nobody outside sees the draft yet.
    assert_error(anonymous_api.get(app_url(listing)), 404)
    assert anonymous_api.get(APPS).json()["count"] == 0

    submitted = api.post(app_url(listing, "submit/"))
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "in_review" and submitted.json()["submitted_at"]
    queue = operator_api.get(APPS, {"status": "in_review"}).json()
    assert [r["slug"] for r in queue["results"]] == ["chest-x-ray-triage"]

    approved = operator_api.post(app_url(listing, "approve/"))
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "published" and approved.json()["published_at"]

    public = anonymous_api.get(app_url(listing))
    assert public.status_code == 200
    detail = public.json()
    assert detail["deployment_modes"] == ["cloud"] and detail["pricing_models"] == ["subscription"]
    assert [v["version"] for v in detail["versions"]] == ["3.0.0-rc.1", "2.4.1"]  # newest release first
    assert detail["review_reason"] is None  # the vendor's review notes are not public
    found = anonymous_api.get(APPS, {"q": "chest"}).json()
    assert [r["slug"] for r in found["results"]] == ["chest-x-ray-triage"]
    for action, event in (
        ("catalog.listing.submitted", "listing.in_review"),
        ("catalog.listing.published", "listing.published"),
    ):
        assert audits(listing, action) == 1 and events(listing, event) == 1


def test_the_same_idempotency_key_creates_one_draft(radiant: Party) -> None:
    api = radiant.api("client:member")
    payload = {"name": "Stroke Detect"}
    first = api.post(APPS, payload, HTTP_IDEMPOTENCY_KEY="draft-1")
    again = api.post(APPS, payload, HTTP_IDEMPOTENCY_KEY="draft-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["slug"] == again.json()["slug"]
    assert Listing.objects.filter(vendor=radiant.organization).count() == 1


def test_names_make_unique_slugs_and_a_taken_slug_is_refused(radiant: Party, orbit: Party) -> None:
    assert radiant.api().post(APPS, {"name": "Lung Nodules"}).json()["slug"] == "lung-nodules"
    assert orbit.api().post(APPS, {"name": "Lung Nodules"}).json()["slug"] == "lung-nodules-2"
    assert_error(orbit.api().post(APPS, {"name": "Nodules", "slug": "lung-nodules"}), 400, field="slug")


def test_an_unverified_vendor_cannot_submit(radiant: Party) -> None:
    listing = ready_listing(vendor=radiant.organization)
    response = radiant.api("admin").post(app_url(listing, "submit/"))
    assert_error(response, 403, code="vendor_unverified")
    listing.refresh_from_db()
    assert listing.status == Listing.Status.DRAFT
    assert audits(listing, "catalog.listing.submitted") == 0


def test_an_incomplete_listing_cannot_be_submitted(radiant: Party) -> None:
    verify(radiant.organization)
    listing = ListingFactory(vendor=radiant.organization, tagline="", description="", intended_use="")
    error = assert_error(radiant.api("member").post(app_url(listing, "submit/")), 400, code="validation_error")
    assert set(error["fields"]) == {"tagline", "description", "intended_use", "categories", "offerings"}

    # An offering without an active plan is not enough either.
    OfferingFactory(listing=listing)
    error = assert_error(radiant.api("member").post(app_url(listing, "submit/")), 400)
    assert "offerings" in error["fields"]
    listing.refresh_from_db()
    assert listing.status == Listing.Status.DRAFT


def test_only_operators_approve(radiant: Party, operator_api: Any) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization)
    radiant.api("member").post(app_url(listing, "submit/"))
    for who in ("admin", "client:admin"):
        assert_error(radiant.api(who).post(app_url(listing, "approve/")), 403)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.IN_REVIEW
    assert operator_api.post(app_url(listing, "approve/")).json()["status"] == "published"


def test_requesting_changes_needs_a_reason_and_the_vendor_resubmits(radiant: Party, operator_api: Any) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization)
    vendor = radiant.api("member")
    vendor.post(app_url(listing, "submit/"))

    assert_error(operator_api.post(app_url(listing, "request-changes/")), 400, field="reason")
    assert_error(operator_api.post(app_url(listing, "request-changes/"), {"reason": "   "}), 400, field="reason")
    assert_error(radiant.api("admin").post(app_url(listing, "request-changes/"), {"reason": "mine"}), 403)

    sent_back = operator_api.post(app_url(listing, "request-changes/"), {"reason": "Add the FDA clearance."})
    assert sent_back.status_code == 200
    assert sent_back.json()["status"] == "changes_requested"
    assert vendor.get(app_url(listing)).json()["review_reason"] == "Add the FDA clearance."
    entry = AuditEntry.objects.get(action="catalog.listing.changes_requested")
    assert entry.new_values == {"status": "changes_requested", "reason": "Add the FDA clearance."}
    assert Event.objects.get(type="listing.changes_requested").data["reason"] == "Add the FDA clearance."

    # The vendor edits and submits again; the reason is cleared for the new review.
    clearance = {"authority": "fda", "device_class": "II", "identifier": "K221234", "cleared_on": "2023-04-01"}
    edited = vendor.patch(app_url(listing), {"clearances": [clearance]})
    assert edited.status_code == 200, edited.content
    assert edited.json()["regulatory"] == ["fda"]
    resubmitted = vendor.post(app_url(listing, "submit/"))
    assert resubmitted.json()["status"] == "in_review" and resubmitted.json()["review_reason"] == ""
    assert audits(listing, "catalog.listing.submitted") == 2


def test_suspend_and_reinstate(radiant: Party, operator_api: Any, anonymous_api: Any) -> None:
    listing = publish_listing(vendor=radiant.organization)

    assert_error(operator_api.post(app_url(listing, "suspend/")), 400, field="reason")
    assert_error(radiant.api("admin").post(app_url(listing, "suspend/"), {"reason": "x"}), 403)
    suspended = operator_api.post(app_url(listing, "suspend/"), {"reason": "Safety notice pending."})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert_error(anonymous_api.get(app_url(listing)), 404)
    assert radiant.api("member").get(app_url(listing)).status_code == 200  # the vendor still sees it

    assert_error(radiant.api("admin").post(app_url(listing, "reinstate/")), 403)
    # Approving is for listings in review; a suspended listing is reinstated.
    assert_error(operator_api.post(app_url(listing, "approve/")), 409, code="invalid_transition")
    reinstated = operator_api.post(app_url(listing, "reinstate/"))
    assert reinstated.status_code == 200 and reinstated.json()["status"] == "published"
    assert anonymous_api.get(app_url(listing)).status_code == 200

    again = operator_api.post(app_url(listing, "reinstate/"))
    assert again.status_code == 200 and again.json()["status"] == "published"
    assert audits(listing, "catalog.listing.suspended") == 1 and events(listing, "listing.suspended") == 1
    assert audits(listing, "catalog.listing.reinstated") == 1 and events(listing, "listing.reinstated") == 1
    assert events(listing, "listing.published") == 1  # the approval only


def test_only_vendor_admins_and_operators_retire(radiant: Party, operator_api: Any, anonymous_api: Any) -> None:
    listing = publish_listing(vendor=radiant.organization)
    for who in ("member", "client:member", "client:read_only"):
        assert_error(radiant.api(who).post(app_url(listing, "retire/")), 403)
    retired = radiant.api("client:admin").post(app_url(listing, "retire/"), {"reason": "Replaced by v2."})
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert_error(anonymous_api.get(app_url(listing)), 404)
    assert audits(listing, "catalog.listing.retired") == 1 and events(listing, "listing.retired") == 1

    # Retired is final.
    for verb in ("approve", "reinstate"):
        assert_error(operator_api.post(app_url(listing, f"{verb}/")), 409, code="invalid_transition")
    assert_error(operator_api.post(app_url(listing, "suspend/"), {"reason": "x"}), 409, code="invalid_transition")
    assert_error(radiant.api().patch(app_url(listing), {"tagline": "Back"}), 409, code="invalid_transition")
    assert operator_api.post(app_url(listing, "retire/")).status_code == 200  # already retired: no-op
    assert audits(listing, "catalog.listing.retired") == 1


def test_operators_retire_too(radiant: Party, operator_api: Any) -> None:
    listing = publish_listing(vendor=radiant.organization)
    operator_api.post(app_url(listing, "suspend/"), {"reason": "Recall."})
    assert operator_api.post(app_url(listing, "retire/")).json()["status"] == "retired"
    entry = AuditEntry.objects.get(action="catalog.listing.retired")
    assert entry.actor_kind == "operator" and entry.old_values == {"status": "suspended"}


@pytest.mark.parametrize(
    ("status", "verb", "payload"),
    [
        ("draft", "approve", {}),
        ("draft", "reinstate", {}),
        ("draft", "suspend", {"reason": "x"}),
        ("draft", "request-changes", {"reason": "x"}),
        ("draft", "retire", {}),
        ("in_review", "reinstate", {}),
        ("in_review", "suspend", {"reason": "x"}),
        ("published", "request-changes", {"reason": "x"}),
        ("published", "submit", {}),
        ("suspended", "submit", {}),
        ("suspended", "request-changes", {"reason": "x"}),
        ("changes_requested", "approve", {}),
    ],
)
def test_invalid_transitions_are_409(
    status: str, verb: str, payload: dict[str, str], radiant: Party, operator_api: Any
) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization, status=status)
    api = radiant.api("admin") if verb in ("submit", "retire") else operator_api
    before_audits, before_events = AuditEntry.objects.count(), Event.objects.count()
    error = assert_error(api.post(app_url(listing, f"{verb}/"), payload), 409, code="invalid_transition")
    assert error["current_status"] == status
    listing.refresh_from_db()
    assert listing.status == status
    assert (AuditEntry.objects.count(), Event.objects.count()) == (before_audits, before_events)


def test_every_transition_is_audited_once_with_its_event(radiant: Party, operator_api: Any) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization)
    vendor = radiant.api("admin")
    steps = [
        (vendor, "submit", {}, "in_review", "catalog.listing.submitted", "listing.in_review"),
        (operator_api, "request-changes", {"reason": "Fix it."}, "changes_requested",
         "catalog.listing.changes_requested", "listing.changes_requested"),
        (vendor, "submit", {}, "in_review", "catalog.listing.submitted", "listing.in_review"),
        (operator_api, "approve", {}, "published", "catalog.listing.published", "listing.published"),
        (operator_api, "suspend", {"reason": "Check."}, "suspended", "catalog.listing.suspended", "listing.suspended"),
        (operator_api, "reinstate", {}, "published", "catalog.listing.reinstated", "listing.reinstated"),
        (vendor, "retire", {}, "retired", "catalog.listing.retired", "listing.retired"),
    ]  # fmt: skip
    for api, verb, payload, status, action, event in steps:
        before_audits = AuditEntry.objects.filter(action=action).count()
        before_events = Event.objects.filter(type=event).count()
        response = api.post(app_url(listing, f"{verb}/"), payload)
        assert response.status_code == 200, (verb, response.content)
        assert response.json()["status"] == status
        assert AuditEntry.objects.filter(action=action).count() == before_audits + 1, verb
        assert Event.objects.filter(type=event).count() == before_events + 1, verb
        entry = AuditEntry.objects.filter(action=action).first()
        assert entry is not None and entry.new_values["status"] == status
        assert entry.organization_id == radiant.organization.pk
        latest = Event.objects.filter(type=event).order_by("-id").first()
        assert latest is not None and latest.organization_id == radiant.organization.pk
        assert latest.subject_id == str(listing.public_id) and latest.data["slug"] == listing.slug


@pytest.mark.parametrize(
    ("verb", "payload", "status"),
    [("approve", {}, "published"), ("request-changes", {"reason": "Again."}, "changes_requested")],
)
def test_transitions_are_idempotent(
    verb: str, payload: dict[str, str], status: str, radiant: Party, operator_api: Any
) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization, status="in_review")
    first = operator_api.post(app_url(listing, f"{verb}/"), payload)
    assert first.status_code == 200 and first.json()["status"] == status
    audits_after_first, events_after_first = AuditEntry.objects.count(), Event.objects.count()

    again = operator_api.post(app_url(listing, f"{verb}/"), payload)
    assert again.status_code == 200 and again.json()["status"] == status
    assert (AuditEntry.objects.count(), Event.objects.count()) == (audits_after_first, events_after_first)


def test_submitting_twice_is_a_no_op(radiant: Party) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization)
    api = radiant.api("member")
    assert api.post(app_url(listing, "submit/")).status_code == 200
    assert api.post(app_url(listing, "submit/")).status_code == 200
    assert audits(listing, "catalog.listing.submitted") == 1 and events(listing, "listing.in_review") == 1


# --- who sees and who edits ------------------------------------------------------------------


def test_drafts_are_seen_by_their_vendor_and_operators_only(
    radiant: Party, orbit: Party, st_mary: Party, operator_api: Any, anonymous_api: Any
) -> None:
    listing = ready_listing(vendor=radiant.organization)
    for api in (anonymous_api, orbit.api("admin"), st_mary.api("admin"), orbit.api("client:admin")):
        assert_error(api.get(app_url(listing)), 404)
        assert_error(api.get(app_url(listing, "offerings/")), 404)
        assert listing.slug not in {r["slug"] for r in api.get(APPS, {"status": "draft"}).json()["results"]}
    for api in (radiant.api("client:read_only"), radiant.api("member"), operator_api):
        assert api.get(app_url(listing)).status_code == 200
        assert api.get(app_url(listing, "offerings/")).json()["count"] == 1
        assert listing.slug in {r["slug"] for r in api.get(APPS, {"status": "draft"}).json()["results"]}


def test_other_organizations_cannot_edit(radiant: Party, orbit: Party, st_mary: Party) -> None:
    draft = ready_listing(vendor=radiant.organization)
    live = publish_listing(vendor=radiant.organization, name="Live App")
    for party in (orbit, st_mary):
        api = party.api("admin")
        assert_error(api.patch(app_url(draft), {"tagline": "Mine now"}), 404)
        assert_error(api.post(app_url(draft, "submit/")), 404)
        assert_error(api.patch(app_url(live), {"tagline": "Mine now"}), 403)
        assert_error(api.post(app_url(live, "retire/")), 403)
        assert_error(api.post(app_url(live, "offerings/"), {"mode": "on_premise", "name": "x"}), 403)
        assert_error(api.post(app_url(live, "versions/"), {"version": "9.9.9"}), 403)
        assert_error(api.post(app_url(live, "revisions/"), {"tagline": "Mine now"}), 403)
    draft.refresh_from_db()
    live.refresh_from_db()
    assert draft.tagline == live.tagline == "Finds what matters in every study."
    assert live.status == Listing.Status.PUBLISHED


def test_a_read_only_client_cannot_write(radiant: Party) -> None:
    verify(radiant.organization)
    listing = ready_listing(vendor=radiant.organization)
    api = radiant.api("client:read_only")
    assert_error(api.post(APPS, {"name": "Sneaky"}), 403)
    assert_error(api.patch(app_url(listing), {"tagline": "Sneaky"}), 403)
    assert_error(api.post(app_url(listing, "submit/")), 403)
    assert_error(api.post(app_url(listing, "offerings/"), {"mode": "on_premise", "name": "x"}), 403)
    assert_error(api.post(app_url(listing, "versions/"), {"version": "1.0.0"}), 403)
    assert api.get(app_url(listing)).status_code == 200
    assert Listing.objects.count() == 1


def test_a_provider_cannot_create_listings(st_mary: Party) -> None:
    assert_error(st_mary.api("admin").post(APPS, {"name": "Home-made"}), 403, code="not_a_vendor")
    assert not Listing.objects.exists()


def test_status_vendor_and_slug_cannot_be_set_by_patch(radiant: Party, orbit: Party) -> None:
    listing = ready_listing(vendor=radiant.organization)
    response = radiant.api("admin").patch(
        app_url(listing),
        {
            "status": "published",
            "vendor": orbit.organization.slug,
            "slug": "hijacked",
            "published_at": "2000-01-01T00:00:00Z",
            "tagline": "Still a draft.",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["slug"] == listing.slug and response.json()["status"] == "draft"
    listing.refresh_from_db()
    assert listing.status == Listing.Status.DRAFT and listing.vendor == radiant.organization
    assert listing.slug != "hijacked" and listing.published_at is None
    assert listing.tagline == "Still a draft."


def test_a_published_listing_is_changed_through_a_revision(radiant: Party) -> None:
    listing = publish_listing(vendor=radiant.organization)
    error = assert_error(
        radiant.api("admin").patch(app_url(listing), {"tagline": "New"}), 409, code="invalid_transition"
    )
    assert "revision" in error["message"]
    listing.refresh_from_db()
    assert listing.tagline == "Finds what matters in every study."


def test_a_live_offering_is_only_deactivated(radiant: Party, anonymous_api: Any) -> None:
    listing = publish_listing(vendor=radiant.organization)
    offering = listing.offerings.get()
    url = app_url(listing, f"offerings/{offering.public_id}/")
    api = radiant.api("member")
    assert_error(api.patch(url, {"name": "Renamed"}), 409, code="invalid_transition")
    added = api.post(app_url(listing, "offerings/"), {"mode": "on_premise", "name": "On site"})
    assert added.status_code == 201  # additions are fine on a live listing
    # ...but the live listing must keep something to buy: the only offering with a plan stays.
    assert_error(api.patch(url, {"is_active": False}), 409, code="last_plan")
    plan = {"offering": added.json()["id"], "name": "Site licence", "pricing_model": "quote_only"}
    assert api.post(app_url(listing, "plans/"), plan).status_code == 201

    assert api.patch(url, {"is_active": False}).json()["is_active"] is False
    public = anonymous_api.get(app_url(listing)).json()
    assert [o["name"] for o in public["offerings"]] == ["On site"]
    assert public["deployment_modes"] == ["on_premise"]
    assert [o["id"] for o in api.get(app_url(listing, "offerings/")).json()["results"]] == [
        str(offering.public_id),
        added.json()["id"],
    ]
