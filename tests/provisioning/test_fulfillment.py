"""The vendor fulfillment backend against a real HTTP server as the vendor's endpoint: one that
answers at once, one that answers later through the activate call, one that is down for a while
and recovers, one that always fails; suspend, resume and removal sent the same way; the offering
settings that name the endpoint; and docs/vendor-fulfillment.md's example receiver, run as the
endpoint. Signatures are checked with the independent `standardwebhooks` package, licenses with
PyJWT against the public JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from apps.catalog.models import Listing, Offering
from apps.procurement.models import License, Subscription, Trial
from apps.provisioning import fulfillment
from apps.provisioning.backends import TransientProvisioningError
from apps.provisioning.models import Deployment, DeploymentStep
from apps.provisioning.services import ADVANCE_TASK, deployment_advance, deployment_create, deployment_reconcile
from apps.provisioning.tasks import advance_deployment
from marketplace.models import AuditEntry, Event, OutboxMessage
from marketplace.principal import SYSTEM
from tests.catalog.factories import ListingFactory
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory
from tests.procurement.factories import REGION, approve, offering_of, plan_of, request_trial, trial_listing
from tests.procurement.subscription_helpers import buy, deployments_of, jwks, pyjwt_verify
from tests.provisioning.vendor_server import Received, VendorServer

pytestmark = pytest.mark.django_db

D = Deployment.Status
DOC = Path(__file__).resolve().parents[2] / "docs" / "vendor-fulfillment.md"
BODY_KEYS = {
    "type",
    "deployment",
    "idempotency_key",
    "listing",
    "offering",
    "plan",
    "provider",
    "region",
    "license",
}


@pytest.fixture(autouse=True)
def loopback_allowed(settings: Any) -> None:
    """The vendor's endpoint below is on 127.0.0.1 over plain http: tests and demos only."""
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = True


@pytest.fixture
def vendor() -> Iterator[VendorServer]:
    server = VendorServer().start()
    yield server
    server.stop()


# --- helpers ---------------------------------------------------------------------------------------


def settings_url(listing: Listing) -> str:
    return f"/api/v1/apps/{listing.slug}/offerings/{offering_of(listing).public_id}/fulfillment/"


def activate_url(deployment: Deployment) -> str:
    return f"/api/v1/deployments/{deployment.public_id}/activate/"


def vendor_listing(radiant: Party, url: str, *, slug: str = "radiant-vendor-cloud") -> tuple[Listing, str]:
    """A published cloud listing of Radiant whose offering is deployed by Radiant's endpoint at
    `url`, set through the settings API by a vendor admin. Returns it and the signing secret."""
    listing = trial_listing(radiant.organization, slug=slug)
    response = radiant.api("admin").post(
        settings_url(listing), {"provisioner": "vendor", "fulfillment_url": url}, format="json"
    )
    assert response.status_code == 200, response.content
    return listing, response.json()["fulfillment_secret"]


def trial_through(provider: Party, listing: Listing, capture: Any) -> tuple[Trial, Deployment]:
    """A trial approved by the vendor, with the step runner running inline after commit."""
    trial = request_trial(provider.organization, listing)
    with capture(execute=True):
        approve(trial)
    trial.refresh_from_db()
    deployment = Deployment.objects.get(pk=trial.deployment_id)
    return trial, deployment


def verify_signature(secret: str, request: Received) -> dict[str, Any]:
    """Verify like a vendor would, with the Standard Webhooks reference package; return the body."""
    return standardwebhooks.Webhook(secret).verify(request.body, request.headers)


def steps(deployment: Deployment) -> list[tuple[str, str]]:
    return list(
        deployment.steps.filter(phase=DeploymentStep.Phase.PROVISION).order_by("position").values_list("name", "status")
    )


def events(obj: Any, kind: str) -> int:
    return Event.objects.filter(subject_id=str(obj.public_id), type=kind).count()


# --- answers at once ---------------------------------------------------------------------------------


def test_a_vendor_that_answers_at_once_makes_the_trial_active_with_its_tenant(
    st_mary: Party,
    radiant: Party,
    vendor: VendorServer,
    anonymous_api: APIClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    listing, secret = vendor_listing(radiant, vendor.url)
    assert secret.startswith("whsec_")
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)

    assert trial.status == Trial.Status.ACTIVE and deployment.status == D.ACTIVE
    assert deployment.backend == "vendor"
    [request] = vendor.received
    key = f"{deployment.public_id}:provision"
    assert deployment.tenant_url == vendor.tenants[key] == "https://t1.tenants.vendor.example/"
    assert deployment.external_id == "tenant-1"
    assert steps(deployment) == [("request_tenant", "done"), ("vendor_confirmation", "done")]
    assert events(deployment, "deployment.active") == 1 and events(trial, "trial.active") == 1

    # The request: POST, JSON, the body of API.md, the idempotency key in the body and headers.
    assert request.method == "POST" and request.path == "/fulfillment"
    assert request.headers["content-type"] == "application/json"
    body = request.json
    assert set(body) >= BODY_KEYS and "site" not in body, sorted(body)
    assert body["type"] == "provision"
    assert body["deployment"] == str(deployment.public_id)
    assert body["idempotency_key"] == key == request.headers["idempotency-key"] == request.headers["webhook-id"]
    assert body["listing"] == listing.slug
    assert body["offering"] == str(offering_of(listing).public_id)
    assert body["plan"] == str(plan_of(listing).public_id)
    assert body["provider"] == {"slug": st_mary.organization.slug, "name": st_mary.organization.name}
    assert body["region"] == REGION
    assert body["activate_url"].endswith(activate_url(deployment))

    # Signed with the offering's secret: the reference package accepts it, and refuses a changed
    # body or another secret.
    assert verify_signature(secret, request) == body
    forged = Received(request.method, request.path, request.headers, request.body.replace(b"eu-", b"us-"), 200)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verify_signature(secret, forged)
    other = "whsec_" + base64.b64encode(b"another vendor's secret, 32 b!!").decode()
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verify_signature(other, request)

    # The license is the trial's, and verifies offline against the public JWKS.
    claims = pyjwt_verify(body["license"], jwks(anonymous_api))
    assert claims["jti"] == str(License.objects.get(trial=trial).public_id)
    assert claims["sub"] == st_mary.organization.slug and claims["listing"] == listing.slug


# --- answers later through activate ------------------------------------------------------------------


def test_a_vendor_that_answers_202_activates_later_with_its_api_client(
    st_mary: Party,
    radiant: Party,
    orbit: Party,
    vendor: VendorServer,
    anonymous_api: APIClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    vendor.answer = 202
    listing, _secret = vendor_listing(radiant, vendor.url)
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)

    # The deployment waits at vendor_confirmation; nothing more is sent or dispatched.
    assert deployment.status == D.PROVISIONING and trial.status == Trial.Status.PROVISIONING
    assert deployment.current_step == "vendor_confirmation" and deployment.tenant_url == ""
    assert deployment.external_id == "tenant-1"
    assert steps(deployment) == [("request_tenant", "done"), ("vendor_confirmation", "running")]
    waiting = deployment.steps.get(name="vendor_confirmation")
    assert "activate" in waiting.message
    assert OutboxMessage.objects.filter(task_name=ADVANCE_TASK, kwargs={"deployment_id": deployment.pk}).count() == 2
    assert [r.type for r in vendor.received] == ["provision"]
    # A reconciler's redispatch finds it still waiting, without asking the vendor again.
    assert deployment_advance(deployment_id=deployment.pk) == D.PROVISIONING
    assert len(vendor.received) == 1

    url = activate_url(deployment)
    tenant = {"tenant_url": "https://st-marys.tenants.vendor.example/"}
    assert_error(anonymous_api.post(url, tenant, format="json"), 401)
    for caller in ("admin", "client:member"):  # the provider sees it, but may not activate it
        assert_error(st_mary.api(caller).post(url, tenant, format="json"), 403)
    assert_error(radiant.api("client:read_only").post(url, tenant, format="json"), 403)
    assert_error(orbit.api("client:admin").post(url, tenant, format="json"), 404)
    assert_error(
        radiant.api("client:member").post(url, {"tenant_url": "not an address"}, format="json"), 400, field="tenant_url"
    )
    assert Deployment.objects.get(pk=deployment.pk).status == D.PROVISIONING

    response = radiant.api("client:member").post(url, tenant, format="json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["status"] == "active" and answer["tenant_url"] == tenant["tenant_url"]
    assert answer["progress"]["percent"] == 100 and answer["progress"]["current_step"] is None
    assert [step["status"] for step in answer["steps"]] == ["done", "done"]
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE

    again = radiant.api("client:member").post(url, tenant, format="json")
    assert again.status_code == 200 and again.json()["status"] == "active"
    assert events(deployment, "deployment.active") == 1 and events(trial, "trial.active") == 1
    activated = Event.objects.get(subject_id=str(deployment.public_id), type="deployment.active")
    assert activated.data["deployment"] == str(deployment.public_id)
    assert len(vendor.received) == 1  # the vendor was asked once


def test_a_trial_cancelled_while_the_vendor_works_is_removed_there_and_a_late_activate_is_refused(
    st_mary: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    vendor.answer = 202
    listing, secret = vendor_listing(radiant, vendor.url)
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)
    assert deployment.status == D.PROVISIONING

    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post(f"/api/v1/trials/{trial.public_id}/cancel/", {}, format="json")
    assert response.status_code == 200, response.content
    deployment.refresh_from_db()
    assert deployment.status == D.DEPROVISIONED
    [removal] = vendor.of_type("deprovision")
    assert verify_signature(secret, removal)["deployment"] == str(deployment.public_id)
    assert removal.key == f"{deployment.public_id}:deprovision"

    late = radiant.api("client:member").post(activate_url(deployment), {"tenant_url": "https://late.example/"})
    assert_error(late, 409)


def test_a_vendor_that_never_confirms_fails_at_the_deadline_and_a_retry_waits_again(
    st_mary: Party, radiant: Party, vendor: VendorServer, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    vendor.answer = 202
    listing, _secret = vendor_listing(radiant, vendor.url)
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)
    assert deployment.status == D.PROVISIONING

    # Stuck past the reconciler's patience: sent again, still waiting, the vendor not asked again.
    stuck = timezone.now() - timedelta(seconds=settings.MARKETPLACE_PROVISIONING_STUCK_SECONDS + 1)
    Deployment.objects.filter(pk=deployment.pk).update(last_progress_at=stuck)
    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_reconcile() == {"redispatched": 1, "failed": 0}
    assert Deployment.objects.get(pk=deployment.pk).status == D.PROVISIONING
    # Past the deadline: failed with a reason, and a late activate is refused.
    Deployment.objects.filter(pk=deployment.pk).update(
        last_progress_at=stuck, deadline_at=timezone.now() - timedelta(seconds=1)
    )
    assert deployment_reconcile() == {"redispatched": 0, "failed": 1}
    deployment.refresh_from_db()
    assert deployment.status == D.FAILED and "deadline" in deployment.failure_reason
    late = radiant.api("client:member").post(activate_url(deployment), {"tenant_url": "https://late.example/"})
    assert_error(late, 409)

    # The vendor retries: the deployment waits for its confirmation again, with no new request.
    with django_capture_on_commit_callbacks(execute=True):
        retried = radiant.api("client:member").post(f"/api/v1/deployments/{deployment.public_id}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "provisioning", retried.content
    assert steps(deployment) == [("request_tenant", "done"), ("vendor_confirmation", "running")]
    response = radiant.api("client:member").post(activate_url(deployment), {"tenant_url": "https://late.example/"})
    assert response.status_code == 200 and response.json()["status"] == "active", response.content
    assert Trial.objects.get(pk=trial.pk).status == Trial.Status.ACTIVE
    assert [r.type for r in vendor.received] == ["provision"]


def test_the_vendor_cannot_activate_what_does_not_wait_for_it(st_mary: Party, radiant: Party) -> None:
    """A sandbox deployment being set up, or an on-premise one waiting for the site agent: the
    vendor's activate call must not skip the work (409), and changes nothing."""
    sandbox_trial = approve(request_trial(st_mary.organization, trial_listing(radiant.organization)))
    sandbox_deployment = Deployment.objects.get(pk=sandbox_trial.deployment_id)
    deployment_advance(deployment_id=sandbox_deployment.pk)
    assert Deployment.objects.get(pk=sandbox_deployment.pk).status == D.PROVISIONING

    on_premise = trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    site = SiteFactory(organization=st_mary.organization)
    on_site = deployment_create(
        provider=st_mary.organization,
        listing=on_premise,
        offering=offering_of(on_premise),
        plan=plan_of(on_premise),
        site=site,
        region="",
        actor=SYSTEM,
    )
    # As after its bundle was built: waiting for the agent's report.
    Deployment.objects.filter(pk=on_site.pk).update(backend="site_agent", status=D.AWAITING_AGENT)

    for deployment, status in ((sandbox_deployment, D.PROVISIONING), (on_site, D.AWAITING_AGENT)):
        response = radiant.api("client:member").post(activate_url(deployment), {"tenant_url": "https://x.example/"})
        assert assert_error(response, 409)["code"] == "not_waiting_for_vendor"
        assert Deployment.objects.get(pk=deployment.pk).status == status


# --- down for a while, then back -----------------------------------------------------------------------


@pytest.mark.usefixtures("eager_retries")
@pytest.mark.parametrize("failure", [503, "drop"], ids=["answers-503", "closes-the-connection"])
def test_a_vendor_down_for_a_while_is_retried_with_the_same_key_and_acts_once(
    st_mary: Party,
    radiant: Party,
    vendor: VendorServer,
    failure: int | str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    vendor.fail_first, vendor.failure = 3, failure
    listing, secret = vendor_listing(radiant, vendor.url)
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)

    assert deployment.status == D.ACTIVE and trial.status == Trial.Status.ACTIVE
    provisions = vendor.of_type("provision")
    assert [r.answered for r in provisions] == [failure] * 3 + [200]
    key = f"{deployment.public_id}:provision"
    assert {r.key for r in provisions} == {key} and {r.headers["webhook-id"] for r in provisions} == {key}
    for request in provisions:
        verify_signature(secret, request)  # every attempt is signed afresh
    assert len(vendor.acted("provision")) == 1 and list(vendor.tenants) == [key]
    assert deployment.tenant_url == vendor.tenants[key]
    assert deployment.steps.get(name="request_tenant").attempts == 4
    assert deployment.failure_reason == "" and not Event.objects.filter(type="deployment.failed").exists()


def test_a_vendor_refusing_connections_then_back_on_the_same_port(
    st_mary: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    """Driven step by step: each refused attempt raises the transient error the task retries on."""
    listing, _secret = vendor_listing(radiant, vendor.url)
    port = int(vendor.url.split(":")[2].split("/")[0])
    vendor.stop()  # nothing listens: connection refused
    trial = approve(request_trial(st_mary.organization, listing))
    deployment = Deployment.objects.get(pk=trial.deployment_id)

    for _ in range(2):
        with pytest.raises(TransientProvisioningError, match="did not answer"):
            deployment_advance(deployment_id=deployment.pk)
        assert Deployment.objects.get(pk=deployment.pk).status == D.PROVISIONING

    vendor.start(port=port)
    with django_capture_on_commit_callbacks(execute=True):
        assert deployment_advance(deployment_id=deployment.pk) == D.PROVISIONING  # request_tenant done
    deployment.refresh_from_db()
    trial.refresh_from_db()
    assert deployment.status == D.ACTIVE and trial.status == Trial.Status.ACTIVE
    assert deployment.steps.get(name="request_tenant").attempts == 3
    assert len(vendor.received) == 1 and len(vendor.acted("provision")) == 1  # refused ones never arrived


def test_a_vendor_too_slow_to_answer_times_out_and_the_repeat_has_one_effect(
    st_mary: Party,
    radiant: Party,
    vendor: VendorServer,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(fulfillment, "_TIMEOUT_SECONDS", 0.2)
    listing, _secret = vendor_listing(radiant, vendor.url)
    trial = approve(request_trial(st_mary.organization, listing))
    deployment = Deployment.objects.get(pk=trial.deployment_id)

    vendor.delay = 0.5  # the vendor works, but answers after the platform's deadline
    with pytest.raises(TransientProvisioningError, match="timed out"):
        deployment_advance(deployment_id=deployment.pk)
    vendor.delay = 0
    with django_capture_on_commit_callbacks(execute=True):
        deployment_advance(deployment_id=deployment.pk)
    deployment.refresh_from_db()
    assert deployment.status == D.ACTIVE
    provisions = vendor.of_type("provision")
    assert len(provisions) == 2 and provisions[0].key == provisions[1].key
    assert len(vendor.tenants) == 1 and deployment.tenant_url == vendor.tenants[provisions[0].key]


# --- always fails --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("eager_retries")
def test_a_vendor_that_keeps_failing_fails_the_deployment_after_the_retries_and_a_retry_later_works(
    st_mary: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    vendor.answer = 500
    listing, _secret = vendor_listing(radiant, vendor.url)
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)

    assert deployment.status == D.FAILED and trial.status == Trial.Status.FAILED
    retries = advance_deployment.max_retries
    assert deployment.failure_reason == f"Gave up after {retries} retries: The vendor's endpoint answered 500."
    assert len(vendor.of_type("provision")) == retries + 1
    assert {r.key for r in vendor.received} == {f"{deployment.public_id}:provision"}
    assert vendor.acted("provision") == []
    assert steps(deployment) == [("request_tenant", "failed"), ("vendor_confirmation", "pending")]
    assert events(deployment, "deployment.failed") == 1

    # The vendor fixes its side; the provider retries, and the same key now gets the tenant.
    vendor.answer = 200
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("member").post(f"/api/v1/deployments/{deployment.public_id}/retry/")
    assert response.status_code == 200, response.content
    deployment.refresh_from_db()
    assert deployment.status == D.ACTIVE and deployment.failure_reason == ""
    assert Trial.objects.get(pk=trial.pk).status == Trial.Status.ACTIVE
    assert len(vendor.acted("provision")) == 1


def test_a_vendor_that_refuses_fails_the_deployment_at_once_with_its_reason(
    st_mary: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    vendor.answer = 400
    listing, _secret = vendor_listing(radiant, vendor.url)
    trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)

    assert deployment.status == D.FAILED and trial.status == Trial.Status.FAILED
    assert len(vendor.received) == 1  # refused: not retried
    assert deployment.failure_reason == (
        "Ask the vendor to set up the tenant: The vendor's endpoint refused the request (400): "
        "The vendor refuses this request (400)."
    )
    step = deployment.steps.get(name="request_tenant")
    assert (step.status, step.attempts) == ("failed", 1)
    assert events(deployment, "deployment.failed") == 1
    seen = st_mary.api("member").get(f"/api/v1/deployments/{deployment.public_id}/").json()
    assert seen["status"] == "failed" and seen["failure_reason"] == deployment.failure_reason

    refused = radiant.api("client:member").post(activate_url(deployment), {"tenant_url": "https://x.example/"})
    assert_error(refused, 409)
    assert Deployment.objects.get(pk=deployment.pk).status == D.FAILED


# --- suspend, resume, deprovision ----------------------------------------------------------------------


def test_suspend_resume_and_removal_of_a_subscription_are_sent_signed_to_the_vendor(
    st_mary: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    listing, secret = vendor_listing(radiant, vendor.url)
    subscription = buy(st_mary.organization, listing, capture=django_capture_on_commit_callbacks)
    assert subscription.status == Subscription.Status.ACTIVE
    [deployment] = deployments_of(subscription)
    assert deployment.status == D.ACTIVE and deployment.tenant_url
    base = f"/api/v1/subscriptions/{subscription.public_id}/"
    vendor_admin = radiant.api("admin")

    for verb, kind, status in (("suspend", "suspend", D.SUSPENDED), ("resume", "resume", D.ACTIVE)):
        with django_capture_on_commit_callbacks(execute=True):
            response = vendor_admin.post(f"{base}{verb}/", {"reason": f"Test {verb}."}, format="json")
        assert response.status_code == 200, response.content
        deployment.refresh_from_db()
        assert deployment.status == status
        [request] = vendor.of_type(kind)
        body = verify_signature(secret, request)
        assert body["type"] == kind and body["deployment"] == str(deployment.public_id)
        assert body["idempotency_key"].startswith(f"{deployment.public_id}:{kind}:")
        assert request.headers["webhook-id"] == body["idempotency_key"]
        assert body["listing"] == listing.slug and body["region"] == REGION

    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(f"{base}cancel/", {"reason": "Switching vendor."}, format="json")
    assert response.status_code == 200, response.content
    deployment.refresh_from_db()
    assert deployment.status == D.DEPROVISIONED
    [removal] = vendor.of_type("deprovision")
    body = verify_signature(secret, removal)
    assert body["deployment"] == str(deployment.public_id)
    assert body["idempotency_key"] == f"{deployment.public_id}:deprovision"
    assert [r.type for r in vendor.received] == ["provision", "suspend", "resume", "deprovision"]
    assert len({r.key for r in vendor.received}) == 4  # every operation has its own key


@pytest.mark.usefixtures("eager_retries")
def test_a_suspension_sent_while_the_vendor_is_down_is_retried_with_the_same_key(
    st_mary: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    listing, _secret = vendor_listing(radiant, vendor.url)
    subscription = buy(st_mary.organization, listing, capture=django_capture_on_commit_callbacks)
    vendor.fail_first = len(vendor.received) + 2  # the next two requests get 503
    with django_capture_on_commit_callbacks(execute=True):
        response = radiant.api("admin").post(
            f"/api/v1/subscriptions/{subscription.public_id}/suspend/", {"reason": "Unpaid."}, format="json"
        )
    assert response.status_code == 200, response.content
    suspends = vendor.of_type("suspend")
    assert [r.answered for r in suspends] == [503, 503, 200]
    assert len({r.key for r in suspends}) == 1


# --- the settings ---------------------------------------------------------------------------------------


def test_fulfillment_settings_by_the_vendor_admin_with_the_secret_shown_once(
    st_mary: Party, radiant: Party, orbit: Party, vendor: VendorServer, anonymous_api: APIClient, settings: Any
) -> None:
    listing = trial_listing(radiant.organization, slug="radiant-settings")
    url = settings_url(listing)
    admin = radiant.api("admin")

    fresh = admin.get(url)
    assert fresh.status_code == 200, fresh.content
    assert fresh.json() == {
        "provisioner": "sandbox",
        "fulfillment_url": "",
        "secret_set": False,
        "previous_secret_expires_at": None,
    }

    made = admin.post(url, {"provisioner": "vendor", "fulfillment_url": vendor.url}, format="json")
    assert made.status_code == 200, made.content
    secret = made.json()["fulfillment_secret"]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret) and len(base64.b64decode(secret[6:])) == 32
    assert made.json() == {
        "provisioner": "vendor",
        "fulfillment_url": vendor.url,
        "secret_set": True,
        "previous_secret_expires_at": None,  # the first secret replaces none
        "fulfillment_secret": secret,
    }
    for reader in (admin, radiant.api("member"), radiant.api("client:read_only")):
        shown = reader.get(url)
        assert shown.status_code == 200 and "fulfillment_secret" not in shown.json()
        assert secret not in shown.content.decode()
        assert shown.json()["secret_set"] is True
    assert (
        secret
        not in admin.get(f"/api/v1/apps/{listing.slug}/offerings/{offering_of(listing).public_id}/").content.decode()
    )

    # Changing the URL keeps the secret; rotating makes a new one, shown once.
    moved = admin.post(url, {"fulfillment_url": vendor.url + "/v2"}, format="json")
    assert moved.status_code == 200 and "fulfillment_secret" not in moved.json()
    rotated = admin.post(url, {"rotate_secret": True}, format="json")
    assert rotated.status_code == 200, rotated.content
    new_secret = rotated.json()["fulfillment_secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret
    offering = Offering.objects.get(pk=offering_of(listing).pk)
    assert offering.fulfillment_secret == new_secret and offering.fulfillment_url == vendor.url + "/v2"
    by_client = radiant.api("client:admin").post(url, {"rotate_secret": True}, format="json")
    assert by_client.status_code == 200 and by_client.json()["fulfillment_secret"] not in (secret, new_secret)
    audits = AuditEntry.objects.filter(action="catalog.offering.fulfillment_changed", object_id=str(offering.public_id))
    assert audits.count() == 4
    for entry in audits:  # who changed what is recorded; the secrets are not
        assert "whsec_" not in json.dumps([entry.old_values, entry.new_values])

    # Who may: vendor admins only; others on the vendor side 403, outsiders of a draft 404.
    change = {"fulfillment_url": vendor.url}
    assert_error(radiant.api("member").post(url, change, format="json"), 403)
    assert_error(radiant.api("client:member").post(url, change, format="json"), 403)
    for outsider in (st_mary, orbit):  # the listing is public, its settings are not
        assert_error(outsider.api("admin").get(url), 403)
        assert_error(outsider.api("admin").post(url, change, format="json"), 403)
    assert_error(anonymous_api.post(url, change, format="json"), 401)
    draft = ListingFactory(vendor=radiant.organization, slug="radiant-draft", offerings=[("cloud", "subscription")])
    assert_error(orbit.api("admin").get(settings_url(draft)), 404)
    assert_error(orbit.api("admin").post(settings_url(draft), change, format="json"), 404)
    assert admin.get(settings_url(draft)).status_code == 200

    # Bad input: a provisioner that does not fit the mode, an unknown one, no URL for "vendor".
    on_premise = trial_listing(radiant.organization, mode=Offering.Mode.ON_PREMISE)
    assert_error(
        admin.post(settings_url(on_premise), {"provisioner": "vendor", "fulfillment_url": vendor.url}, format="json"),
        400,
        field="provisioner",
    )
    assert_error(admin.post(url, {"provisioner": "site_agent"}, format="json"), 400, field="provisioner")
    assert_error(admin.post(url, {"provisioner": "kubernetes"}, format="json"), 400, field="provisioner")
    assert_error(admin.post(url, {"fulfillment_url": ""}, format="json"), 400, field="fulfillment_url")
    assert Offering.objects.get(pk=offering.pk).fulfillment_url == vendor.url + "/v2"

    # Production rules: https only, and no name that resolves to a private or loopback address.
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False
    for bad in (
        vendor.url,
        "http://fulfillment.vendor.example/hook",
        "https://localhost/hook",
        "https://127.0.0.1:8443/hook",
        "https://169.254.169.254/latest",
        "ftp://vendor.example/",
    ):
        error = assert_error(admin.post(url, {"fulfillment_url": bad}, format="json"), 400, field="fulfillment_url")
        assert error["fields"]["fulfillment_url"][0], error
    localhost = assert_error(admin.post(url, {"fulfillment_url": "https://localhost/hook"}, format="json"), 400)
    assert "loopback" in localhost["fields"]["fulfillment_url"][0]
    assert (
        "https only"
        in assert_error(
            admin.post(url, {"fulfillment_url": "http://fulfillment.vendor.example/hook"}, format="json"), 400
        )["fields"]["fulfillment_url"][0]
    )
    assert Offering.objects.get(pk=offering.pk).fulfillment_url == vendor.url + "/v2"


def test_after_a_rotation_the_previous_secret_signs_too_until_the_overlap_ends(
    st_mary: Party, northside: Party, radiant: Party, vendor: VendorServer, django_capture_on_commit_callbacks: Any
) -> None:
    listing, old_secret = vendor_listing(radiant, vendor.url)
    url = settings_url(listing)
    rotated = radiant.api("admin").post(url, {"rotate_secret": True, "overlap_hours": 2}, format="json")
    assert rotated.status_code == 200, rotated.content
    new_secret = rotated.json()["fulfillment_secret"]
    until = parse_datetime(rotated.json()["previous_secret_expires_at"])
    assert timedelta(hours=1, minutes=59) < until - timezone.now() <= timedelta(hours=2)
    shown = radiant.api("member").get(url).json()
    assert shown["previous_secret_expires_at"] == rotated.json()["previous_secret_expires_at"]

    # The next request is signed with both: a vendor still on the old secret accepts it, and so
    # does one already on the new.
    trial_through(st_mary, listing, django_capture_on_commit_callbacks)
    request = vendor.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify_signature(old_secret, request) == verify_signature(new_secret, request) == request.json

    # Once the overlap ends, only the new secret signs.
    Offering.objects.filter(pk=offering_of(listing).pk).update(
        fulfillment_previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    trial_through(northside, listing, django_capture_on_commit_callbacks)
    request = vendor.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verify_signature(new_secret, request) == request.json
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verify_signature(old_secret, request)


def test_a_rotation_without_overlap_signs_with_the_new_secret_only(radiant: Party, vendor: VendorServer) -> None:
    listing, _old_secret = vendor_listing(radiant, vendor.url)
    url = settings_url(listing)
    answer = radiant.api("admin").post(url, {"rotate_secret": True, "overlap_hours": 0}, format="json").json()
    assert answer["previous_secret_expires_at"] is None
    offering = Offering.objects.get(pk=offering_of(listing).pk)
    assert offering.fulfillment_previous_secret == "" and offering.fulfillment_secret == answer["fulfillment_secret"]


@pytest.mark.parametrize("overlap", [-1, 169, "soon"])
def test_the_overlap_is_0_to_168_hours(radiant: Party, vendor: VendorServer, overlap: Any) -> None:
    listing, secret = vendor_listing(radiant, vendor.url)
    response = radiant.api("admin").post(
        settings_url(listing), {"rotate_secret": True, "overlap_hours": overlap}, format="json"
    )
    assert_error(response, 400, field="overlap_hours")
    assert Offering.objects.get(pk=offering_of(listing).pk).fulfillment_secret == secret  # nothing changed


def test_anonymous_callers_are_asked_to_authenticate_for_the_settings(radiant: Party, anonymous_api: APIClient) -> None:
    url = settings_url(trial_listing(radiant.organization, slug="radiant-settings"))
    assert_error(anonymous_api.post(url, {"rotate_secret": True}, format="json"), 401)
    assert_error(anonymous_api.get(url), 401)


def test_a_deployment_whose_offering_has_no_endpoint_fails_with_a_clear_reason(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    listing = trial_listing(radiant.organization, slug="radiant-unconfigured")
    Offering.objects.filter(listing=listing).update(provisioner="vendor")  # as before the settings check
    _trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)
    assert deployment.status == D.FAILED
    assert "has not configured a fulfillment endpoint" in deployment.failure_reason


# --- the documented example receiver ---------------------------------------------------------------------


def _example() -> dict[str, Any]:
    text = DOC.read_text()
    match = re.search(r"<!-- example: fulfillment-receiver -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/vendor-fulfillment.md lost its example receiver"
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # our own docs
    return namespace


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_documented_receiver_serves_a_trial_and_refuses_unsigned_requests(
    st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Any
) -> None:
    example = _example()
    # The vendor names its endpoint first (the secret comes with it), then runs the receiver
    # with the secret, and points the offering at where it listens (the secret stays).
    listing, secret = vendor_listing(radiant, "http://127.0.0.1:9/not-yet")
    server: ThreadingHTTPServer = example["make_server"](secret, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/fulfillment"
        moved = radiant.api("admin").post(settings_url(listing), {"fulfillment_url": url}, format="json")
        assert moved.status_code == 200 and "fulfillment_secret" not in moved.json()

        trial, deployment = trial_through(st_mary, listing, django_capture_on_commit_callbacks)
        assert deployment.status == D.ACTIVE and trial.status == Trial.Status.ACTIVE
        assert deployment.tenant_url.startswith("https://") and st_mary.organization.slug in deployment.tenant_url

        # Unsigned, wrongly signed and stale requests are refused with 401.
        body = json.dumps({"type": "suspend", "idempotency_key": "hand-made", "deployment": "d"}).encode()
        assert _post(url, body, {"Content-Type": "application/json"}) == 401
        key = base64.b64decode(secret.removeprefix("whsec_"))

        def signed(timestamp: int, signing_key: bytes) -> dict[str, str]:
            mac = hmac.new(signing_key, f"hand-made.{timestamp}.".encode() + body, hashlib.sha256).digest()
            return {
                "webhook-id": "hand-made",
                "webhook-timestamp": str(timestamp),
                "webhook-signature": "v1," + base64.b64encode(mac).decode(),
            }

        now = int(time.time())
        assert _post(url, body, signed(now, b"not the secret")) == 401
        assert _post(url, body, signed(now - 3600, key)) == 401
        assert _post(url, body, signed(now, key)) == 200  # the hand-made signature is right
    finally:
        server.shutdown()
        server.server_close()
