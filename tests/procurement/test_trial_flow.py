"""The heart of the product: a trial requested by hospital IT runs without a person in between."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from apps.catalog.models import Plan
from apps.procurement.models import Trial
from apps.provisioning.models import Deployment, SandboxCall
from marketplace.models import Event
from tests.catalog.factories import publish_listing
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def _listing(radiant: Any, *, auto: bool) -> Any:
    listing = publish_listing(vendor=radiant.organization)
    Plan.objects.filter(offering__listing=listing).update(trial_days=14, trial_auto_approve=auto)
    return listing


def _request(st_mary: Any, listing: Any, **extra: Any) -> Any:
    offering = listing.offerings.get()
    plan = offering.plans.get()
    return st_mary.api("member").post(
        "/api/v1/trials/",
        {"listing": listing.slug, "offering": str(offering.public_id), "plan": str(plan.public_id),
         "region": "eu-central", **extra},
        format="json",
    )


def test_an_auto_approved_cloud_trial_becomes_active_through_the_worker(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _listing(radiant, auto=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = _request(st_mary, listing)
    assert response.status_code == 201, response.content
    trial = Trial.objects.get(public_id=response.json()["id"])
    assert trial.status == Trial.Status.ACTIVE
    deployment = trial.deployment
    assert deployment.status == Deployment.Status.ACTIVE
    assert deployment.progress_percent == 100
    assert [step.status for step in deployment.steps.all()] == ["done"] * 4
    calls = SandboxCall.objects.filter(deployment=deployment)
    assert [(c.operation, c.attempts) for c in calls] == [
        ("validate", 1),
        ("allocate_tenant", 1),
        ("configure", 1),
        ("health_check", 1),
    ]
    assert all(abs((timezone.now() - c.created_at).total_seconds()) < 60 for c in calls)  # read back as UTC
    types = list(Event.objects.filter(subject_id=str(trial.public_id)).values_list("type", flat=True))
    assert types == ["trial.requested", "trial.approved", "trial.provisioning", "trial.active"]
    body = st_mary.api("member").get(f"/api/v1/deployments/{deployment.public_id}/").json()
    assert body["status"] == "active" and body["progress"]["percent"] == 100 and len(body["steps"]) == 4
    assert any("is ready" in message.subject for message in mail.outbox)


def test_the_vendor_approves_and_the_provider_cancels(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _listing(radiant, auto=False)
    with django_capture_on_commit_callbacks(execute=True):
        trial_id = _request(st_mary, listing).json()["id"]
    assert Trial.objects.get(public_id=trial_id).status == "requested"
    assert any("Trial request" in message.subject for message in mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = radiant.api("member").post(f"/api/v1/trials/{trial_id}/approve/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"  # the worker runs after commit
    assert Trial.objects.get(public_id=trial_id).status == "active"
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post(f"/api/v1/trials/{trial_id}/cancel/", {}, format="json")
    assert response.json()["status"] == "cancelled"
    deployment = Trial.objects.get(public_id=trial_id).deployment
    assert deployment.status == Deployment.Status.DEPROVISIONED


def test_a_second_open_trial_is_a_conflict_naming_the_first(st_mary: Any, radiant: Any) -> None:
    listing = _listing(radiant, auto=False)
    first = _request(st_mary, listing).json()["id"]
    response = _request(st_mary, listing)
    assert response.status_code == 409
    assert response.json()["error"]["trial"] == first


def test_patient_data_in_notes_is_refused(st_mary: Any, radiant: Any) -> None:
    listing = _listing(radiant, auto=False)
    response = _request(st_mary, listing, notes="for patient MRN 00482913")
    assert response.status_code == 400
    assert "notes" in response.json()["error"]["fields"]
    assert not Trial.objects.exists()


def test_a_permanent_failure_ends_in_failed_with_the_reason(
    st_mary: Any, radiant: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "configure", "transient_failures": 0}
    listing = _listing(radiant, auto=True)
    with django_capture_on_commit_callbacks(execute=True):
        trial_id = _request(st_mary, listing).json()["id"]
    trial = Trial.objects.get(public_id=trial_id)
    assert trial.status == Trial.Status.FAILED
    assert "configure" in trial.deployment.failure_reason
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "", "transient_failures": 0}
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post(f"/api/v1/deployments/{trial.deployment.public_id}/retry/")
    assert response.status_code == 200, response.content
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE


def test_an_on_premise_trial_needs_one_of_the_providers_sites(st_mary: Any, northside: Any, radiant: Any) -> None:
    listing = publish_listing(vendor=radiant.organization, offerings=[("on_premise", "subscription")])
    offering = listing.offerings.get()
    plan = offering.plans.get()
    payload = {"listing": listing.slug, "offering": str(offering.public_id), "plan": str(plan.public_id)}
    response = st_mary.api("member").post("/api/v1/trials/", payload, format="json")
    assert response.status_code == 400 and "site" in response.json()["error"]["fields"]
    other_site = SiteFactory(organization=northside.organization)
    response = st_mary.api("member").post("/api/v1/trials/", {**payload, "site": str(other_site.public_id)},
                                          format="json")
    assert response.status_code == 400 and "site" in response.json()["error"]["fields"]
    own = SiteFactory(organization=st_mary.organization)
    response = st_mary.api("member").post("/api/v1/trials/", {**payload, "site": str(own.public_id)}, format="json")
    assert response.status_code == 201, response.content
    assert northside.api("admin").get(f"/api/v1/trials/{response.json()['id']}/").status_code == 404
