"""Revisions: a published listing changes through a reviewed copy while the live version stays;
reviewers see what changed; approving applies it (and search follows)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.catalog.models import Listing, ListingRevision
from marketplace.models import AuditEntry, Event
from tests.catalog.factories import CategoryFactory, publish_listing, ready_listing, verify
from tests.conftest import Party, assert_error

pytestmark = pytest.mark.django_db

OLD_TAGLINE = "Finds what matters in every study."
NEW_TAGLINE = "Now detects rib fractures too."


@pytest.fixture
def live(radiant: Party) -> Listing:
    return publish_listing(vendor=radiant.organization, name="Chest X-ray Triage")


def revisions_url(listing: Listing, tail: str = "") -> str:
    return f"/api/v1/apps/{listing.slug}/revisions/{tail}"


def revision_url(revision: dict[str, Any] | ListingRevision, listing: Listing, tail: str = "") -> str:
    rid = revision["id"] if isinstance(revision, dict) else revision.public_id
    return revisions_url(listing, f"{rid}/{tail}")


def search(api: Any, **params: Any) -> list[str]:
    response = api.get("/api/v1/apps/", params)
    assert response.status_code == 200, response.content
    return [result["slug"] for result in response.json()["results"]]


def test_a_revision_goes_live_only_when_an_operator_approves_it(
    live: Listing, radiant: Party, operator_api: Any, anonymous_api: Any
) -> None:
    CategoryFactory(name="Cardiology", slug="cardiology")
    vendor = radiant.api("member")

    created = vendor.post(revisions_url(live), {"tagline": NEW_TAGLINE})
    assert created.status_code == 201, created.content
    revision = created.json()
    assert revision["status"] == "draft" and revision["listing"] == live.slug
    assert revision["changes"] == {"tagline": {"old": OLD_TAGLINE, "new": NEW_TAGLINE}}
    assert AuditEntry.objects.filter(action="catalog.revision.created", object_id=revision["id"]).count() == 1

    # One open revision at a time.
    error = assert_error(vendor.post(revisions_url(live), {"name": "Other"}), 409, code="open_revision")
    assert error["revision"] == revision["id"]
    assert ListingRevision.objects.count() == 1

    edited = vendor.patch(
        revision_url(revision, live),
        {
            "name": "Chest X-ray Triage Pro",
            "categories": ["cardiology", "radiology"],
            "clearances": [{"authority": "eu_mdr", "device_class": "IIa", "cleared_on": "2024-01-05"}],
        },
    )
    assert edited.status_code == 200, edited.content
    changes = edited.json()["changes"]
    assert set(changes) == {"tagline", "name", "categories", "clearances"}
    assert changes["name"] == {"old": "Chest X-ray Triage", "new": "Chest X-ray Triage Pro"}
    assert changes["categories"] == {"old": ["radiology"], "new": ["cardiology", "radiology"]}
    assert changes["clearances"]["old"] == [] and changes["clearances"]["new"][0]["cleared_on"] == "2024-01-05"

    submitted = vendor.post(revision_url(revision, live, "submit/"))
    assert submitted.status_code == 200 and submitted.json()["status"] == "in_review"
    assert submitted.json()["submitted_at"]
    assert_error(vendor.patch(revision_url(revision, live), {"tagline": "Too late"}), 409, code="invalid_transition")

    # Meanwhile the store shows the live version.
    public = anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()
    assert public["tagline"] == OLD_TAGLINE and public["name"] == "Chest X-ray Triage"
    assert search(anonymous_api, q="fractures") == []
    assert search(anonymous_api, category="cardiology") == []

    # Reviewers see what changed.
    queue = operator_api.get(revisions_url(live)).json()
    assert [r["id"] for r in queue["results"]] == [revision["id"]]
    assert set(queue["results"][0]["changes"]) == {"tagline", "name", "categories", "clearances"}

    assert_error(radiant.api("admin").post(revision_url(revision, live, "approve/")), 403)
    approved = operator_api.post(revision_url(revision, live, "approve/"))
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved" and approved.json()["reviewed_at"]

    live.refresh_from_db()
    assert live.status == Listing.Status.PUBLISHED
    assert (live.name, live.tagline) == ("Chest X-ray Triage Pro", NEW_TAGLINE)
    assert search(anonymous_api, q="fractures") == [live.slug]
    assert search(anonymous_api, q="Triage Pro") == [live.slug]
    assert search(anonymous_api, category="cardiology") == [live.slug]
    assert search(anonymous_api, regulatory="eu_mdr") == [live.slug]

    for action, event in (
        ("catalog.revision.submitted", "listing.revision_submitted"),
        ("catalog.revision.approved", "listing.revision_approved"),
    ):
        assert AuditEntry.objects.filter(action=action, object_id=revision["id"]).count() == 1
        emitted = Event.objects.get(type=event)
        assert emitted.subject_id == str(live.public_id) and emitted.data["revision"] == revision["id"]
        assert emitted.organization_id == radiant.organization.pk

    # Approving again changes nothing; a new revision may now be opened.
    assert operator_api.post(revision_url(revision, live, "approve/")).status_code == 200
    assert Event.objects.filter(type="listing.revision_approved").count() == 1
    assert vendor.post(revisions_url(live), {"tagline": "Next."}).status_code == 201


def test_a_revision_that_changes_nothing_cannot_be_submitted(live: Listing, radiant: Party) -> None:
    api = radiant.api("member")
    revision = api.post(revisions_url(live), {"tagline": OLD_TAGLINE}).json()
    assert revision["changes"] == {}
    assert_error(api.post(revision_url(revision, live, "submit/")), 400, field="data")
    assert ListingRevision.objects.get().status == ListingRevision.Status.DRAFT
    assert not Event.objects.filter(type="listing.revision_submitted").exists()


def test_requesting_changes_to_a_revision_needs_a_reason(
    live: Listing, radiant: Party, operator_api: Any, anonymous_api: Any
) -> None:
    vendor = radiant.api("member")
    revision = vendor.post(revisions_url(live), {"tagline": NEW_TAGLINE}).json()
    vendor.post(revision_url(revision, live, "submit/"))

    assert_error(operator_api.post(revision_url(revision, live, "request-changes/")), 400, field="reason")
    assert_error(radiant.api("admin").post(revision_url(revision, live, "request-changes/"), {"reason": "x"}), 403)
    sent_back = operator_api.post(revision_url(revision, live, "request-changes/"), {"reason": "Cite the study."})
    assert sent_back.status_code == 200
    assert sent_back.json()["status"] == "changes_requested" and sent_back.json()["review_reason"] == "Cite the study."
    event = Event.objects.get(type="listing.revision_changes_requested")
    assert event.data["reason"] == "Cite the study." and event.data["revision"] == revision["id"]
    assert AuditEntry.objects.filter(action="catalog.revision.changes_requested").count() == 1

    # The vendor edits and resubmits; the live listing never changed.
    edited = vendor.patch(revision_url(revision, live), {"tagline": "Detects rib fractures (see the study)."})
    assert edited.status_code == 200, edited.content
    resubmitted = vendor.post(revision_url(revision, live, "submit/"))
    assert resubmitted.json()["status"] == "in_review" and resubmitted.json()["review_reason"] == ""
    assert anonymous_api.get(f"/api/v1/apps/{live.slug}/").json()["tagline"] == OLD_TAGLINE


def test_the_vendor_withdraws_a_revision(live: Listing, radiant: Party, operator_api: Any) -> None:
    vendor = radiant.api("member")
    revision = vendor.post(revisions_url(live), {"tagline": NEW_TAGLINE}).json()
    vendor.post(revision_url(revision, live, "submit/"))

    withdrawn = vendor.post(revision_url(revision, live, "withdraw/"))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert AuditEntry.objects.filter(action="catalog.revision.withdrawn").count() == 1
    assert_error(operator_api.post(revision_url(revision, live, "approve/")), 409, code="invalid_transition")
    assert_error(vendor.post(revision_url(revision, live, "submit/")), 409, code="invalid_transition")
    live.refresh_from_db()
    assert live.tagline == OLD_TAGLINE

    # Withdrawn is closed: a new revision may be opened.
    assert vendor.post(revisions_url(live), {"name": "Renamed"}).status_code == 201


def test_other_organizations_never_see_or_touch_revisions(
    live: Listing, radiant: Party, orbit: Party, st_mary: Party, anonymous_api: Any
) -> None:
    revision = radiant.api("member").post(revisions_url(live), {"tagline": NEW_TAGLINE}).json()
    for api in (orbit.api("admin"), st_mary.api("admin"), orbit.api("client:admin")):
        assert api.get(revisions_url(live)).json()["results"] == []
        assert_error(api.get(revision_url(revision, live)), 404)
        assert_error(api.patch(revision_url(revision, live), {"tagline": "Mine"}), 404)
        for verb in ("submit", "approve", "withdraw", "request-changes"):
            assert_error(api.post(revision_url(revision, live, f"{verb}/"), {"reason": "x"}), 404)
        assert_error(api.post(revisions_url(live), {"tagline": "Mine"}), 403)
    assert anonymous_api.get(revisions_url(live)).json()["results"] == []
    assert_error(anonymous_api.get(revision_url(revision, live)), 404)
    assert_error(anonymous_api.post(revisions_url(live), {"tagline": "Mine"}), 401)
    assert ListingRevision.objects.get().data["tagline"] == NEW_TAGLINE


def test_a_read_only_client_reads_but_does_not_revise(live: Listing, radiant: Party) -> None:
    revision = radiant.api("member").post(revisions_url(live), {"tagline": NEW_TAGLINE}).json()
    api = radiant.api("client:read_only")
    assert api.get(revision_url(revision, live)).json()["changes"]["tagline"]["new"] == NEW_TAGLINE
    assert_error(api.patch(revision_url(revision, live), {"tagline": "x"}), 403)
    assert_error(api.post(revision_url(revision, live, "submit/")), 403)
    assert_error(api.post(revision_url(revision, live, "withdraw/")), 403)


def test_revisions_are_for_live_listings_only(radiant: Party) -> None:
    verify(radiant.organization)
    draft = ready_listing(vendor=radiant.organization)
    error = assert_error(radiant.api().post(revisions_url(draft), {"tagline": "x"}), 409, code="invalid_transition")
    assert error["current_status"] == "draft"


def test_revision_input_is_validated(live: Listing, radiant: Party) -> None:
    api = radiant.api("member")
    assert_error(api.post(revisions_url(live), {"categories": ["astrology"]}), 400, field="categories")
    assert_error(api.post(revisions_url(live), {"name": ""}), 400, field="name")
    assert not ListingRevision.objects.exists()
    revision = api.post(revisions_url(live), {"tagline": NEW_TAGLINE}).json()
    assert_error(api.patch(revision_url(revision, live), {"support_url": "nope"}), 400, field="support_url")
    assert_error(api.patch(revision_url(revision, live), {"tagline": "x" * 201}), 400, field="tagline")
    assert ListingRevision.objects.get().data["tagline"] == NEW_TAGLINE


def test_a_suspended_listing_is_revised_too(live: Listing, radiant: Party, operator_api: Any) -> None:
    operator_api.post(f"/api/v1/apps/{live.slug}/suspend/", {"reason": "Label fix needed."})
    revision = radiant.api("member").post(revisions_url(live), {"intended_use": "Adults only."})
    assert revision.status_code == 201
    radiant.api("member").post(revision_url(revision.json(), live, "submit/"))
    assert operator_api.post(revision_url(revision.json(), live, "approve/")).status_code == 200
    live.refresh_from_db()
    assert live.intended_use == "Adults only." and live.status == Listing.Status.SUSPENDED


def test_a_retired_listing_takes_no_revision(live: Listing, radiant: Party, operator_api: Any) -> None:
    vendor = radiant.api("admin")
    submitted = vendor.post(revisions_url(live), {"tagline": NEW_TAGLINE}).json()
    vendor.post(revision_url(submitted, live, "submit/"))
    assert vendor.post(f"/api/v1/apps/{live.slug}/retire/").json()["status"] == "retired"

    error = assert_error(operator_api.post(revision_url(submitted, live, "approve/")), 409, code="invalid_transition")
    assert error["listing_status"] == "retired"
    live.refresh_from_db()
    assert live.tagline == OLD_TAGLINE
    assert not Event.objects.filter(type="listing.revision_approved").exists()
    # Its vendor can still close it.
    assert vendor.post(revision_url(submitted, live, "withdraw/")).json()["status"] == "withdrawn"
    assert_error(vendor.post(revisions_url(live), {"tagline": "x"}), 409, code="invalid_transition")
