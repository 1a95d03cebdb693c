"""Buying helpers for the subscription, license, review and concurrency tests: a direct purchase
through the real service, deployments run step by step, licenses verified with PyJWT (an
independent JOSE library, public keys only), and who received which mail."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

import jwt
from django.core import mail
from rest_framework.test import APIClient

from apps.catalog.models import Listing, Offering
from apps.organizations.models import Organization, Site
from apps.procurement import services
from apps.procurement.models import Subscription, Trial
from apps.provisioning.models import Deployment
from apps.provisioning.services import deployment_advance
from marketplace.principal import Role
from tests.conftest import Party
from tests.factories import SiteFactory
from tests.procurement.factories import REGION, offering_of, plan_of, principal_of, request_trial, trial_listing

CaptureOnCommit = Callable[..., AbstractContextManager[Any]]
SETTLED = (
    Deployment.Status.ACTIVE,
    Deployment.Status.FAILED,
    Deployment.Status.DEPROVISIONED,
    Deployment.Status.AWAITING_AGENT,
    Deployment.Status.SUSPENDED,
)


def accepted_terms(listing: Listing) -> list[dict[str, str]]:
    """What a buyer sends as `accepted_terms`: every required agreement in its current version."""
    return [{"kind": term["kind"], "version": term["version"]} for term in services.terms_required(listing)]


def sites_of(provider: Organization, count: int) -> list[Site]:
    return [SiteFactory(organization=provider, name=f"{provider.name} campus {n + 1}") for n in range(count)]


def buy(
    provider: Organization,
    listing: Listing,
    *,
    sites: Iterable[Site] = (),
    seats: int | None = None,
    capture: CaptureOnCommit | None = None,
) -> Subscription:
    """A provider admin buys the listing's plan directly (the real service). Without `capture`
    nothing queued after commit runs: the subscription stays `pending_fulfillment` with pending
    deployments. With pytest-django's `django_capture_on_commit_callbacks` the sandbox
    provisions inline and the subscription becomes active."""
    site_list = list(sites)

    def _place() -> Subscription:
        order = services.order_place(
            provider=provider,
            actor=principal_of(provider, Role.ADMIN),
            listing=listing,
            offering=offering_of(listing),
            plan=plan_of(listing),
            accepted_terms=accepted_terms(listing),
            region="" if site_list else REGION,
            sites=site_list,
            seats=seats,
            purchase_order_number="PO-TEST-1",
        )
        return Subscription.objects.get(order=order)

    if capture is None:
        return _place()
    with capture(execute=True):
        subscription = _place()
    subscription.refresh_from_db()
    return subscription


def on_premise_listing(vendor: Organization) -> Listing:
    return trial_listing(vendor, mode=Offering.Mode.ON_PREMISE)


def deployments_of(subscription: Subscription) -> list[Deployment]:
    return [
        Deployment.objects.get(pk=pk)
        for pk in subscription.entitlements.order_by("id").values_list("deployment_id", flat=True)
    ]


def run(deployment: Deployment, capture: CaptureOnCommit | None = None) -> Deployment:
    """Run a deployment's steps until it settles. With `capture` the first step's follow-ups
    (the next steps, mails, listeners' work) run inline after commit, as a worker would."""
    if capture is not None:
        with capture(execute=True):
            deployment_advance(deployment_id=deployment.pk)
    for _ in range(20):
        deployment.refresh_from_db()
        if deployment.status in SETTLED:
            return deployment
        deployment_advance(deployment_id=deployment.pk)
    raise AssertionError(f"deployment stuck in {deployment.status}")


def started_trial(provider: Organization, listing: Listing, capture: CaptureOnCommit) -> Trial:
    """A trial of `listing` that ran (approved, provisioned, active: `started_at` set)."""
    trial = request_trial(provider, listing)
    with capture(execute=True):
        services.trial_approve(trial=trial, actor=principal_of(listing.vendor))
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE and trial.started_at is not None, trial.status
    return trial


def emails_of(*parties: Party) -> set[str]:
    """Every person's address in these organizations (API clients get no mail)."""
    return {person.email for party in parties for person in (party.admin, party.member)}


def recipients(subject_contains: str) -> set[str]:
    """Who received a sent mail whose subject contains the text."""
    return {to for message in mail.outbox if subject_contains in message.subject for to in message.to}


# --- licenses, verified independently -----------------------------------------------------------


def jwks(api: APIClient | None = None) -> dict[str, Any]:
    response = (api or APIClient()).get("/api/v1/licensing/public-key/")
    assert response.status_code == 200, response.content
    return response.json()


def pyjwt_verify(token: str, keys: dict[str, Any]) -> dict[str, Any]:
    """Verify a compact JWS with PyJWT and the JWKS's public key named by the header's kid."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA", header
    matching = [key for key in keys["keys"] if key["kid"] == header["kid"]]
    if len(matching) != 1:
        raise LookupError(f"the JWKS has no key {header['kid']!r}")
    [jwk] = matching
    assert "d" not in jwk
    key = jwt.PyJWK({"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "kid": jwk["kid"]})
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        leeway=5,
        options={"require": [], "verify_aud": False, "verify_iss": False},
    )


def tamper(token: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The token with its payload changed (and re-encoded), the signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    assert encoded != payload
    return f"{header}.{encoded}.{signature}"
