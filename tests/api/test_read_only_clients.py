"""Read-only API clients read and never change anything, over every write operation of the schema.

The operations come from the served schema, not from a list kept here: every POST, PUT, PATCH and
DELETE under /api/v1/ (except the site agent's, which take an agent credential and no API client
at all) is called by the read-only client of the provider and of the vendor that own or take part
in real objects (a listing with its offering, plan, version, artifact, document and revision;
a trial, a quote, a subscription with its order, deployment and license; sites, members,
invitations, API clients, enrollment tokens, webhook endpoints and deliveries). Each call must be
refused with 403, or 404 where the object is not visible to that organization, and at least one
of the two must be a 403 (the object was found and the role refused): a path that resolves to
nothing would prove nothing. Then every row of the main tables is compared with before.

A new write endpoint fails here until it refuses read-only clients, and a new kind of path
parameter fails until the test knows which object to put there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model
from rest_framework.test import APIClient

from apps.catalog import services as catalog_services
from apps.catalog.models import (
    Artifact,
    Document,
    Listing,
    ListingRevision,
    Offering,
    Plan,
    Review,
    Screenshot,
    Version,
)
from apps.organizations import services as organization_services
from apps.organizations.models import ApiClient, Invitation, Membership, Organization, Site
from apps.procurement.models import Entitlement, License, Order, Quote, QuoteRequest, Subscription, Trial
from apps.provisioning.agents import agent_enroll
from apps.provisioning.models import Deployment, EnrollmentToken, SiteAgent
from apps.provisioning.onprem import enrollment_token_create
from apps.webhooks import services as webhook_services
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from marketplace.models import AuditEntry, Event, IdempotencyRecord
from marketplace.principal import Role
from tests.catalog.factories import PDF_BYTES, VersionFactory, add_document, png_bytes, upload, vendor_principal
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory
from tests.procurement.buying import request_quote
from tests.procurement.factories import principal_of, request_trial, trial_listing
from tests.procurement.subscription_helpers import buy, deployments_of

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
# Every row of these is compared before and after the calls.
WATCHED: tuple[type[Model], ...] = (
    Organization,
    Membership,
    Invitation,
    Site,
    ApiClient,
    EnrollmentToken,
    SiteAgent,
    Listing,
    Offering,
    Plan,
    Version,
    Artifact,
    Document,
    ListingRevision,
    Review,
    Trial,
    QuoteRequest,
    Quote,
    Order,
    Subscription,
    Entitlement,
    License,
    Deployment,
    WebhookEndpoint,
    WebhookDelivery,
    AuditEntry,
    Event,
    IdempotencyRecord,
)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in WATCHED}


def write_operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every write the schema documents that an API client could call."""
    found = []
    for path, item in sorted(schema["paths"].items()):
        for method, operation in item.items():
            if method not in WRITE_METHODS or not path.startswith("/api/v1/"):
                continue
            uses_api_credentials = any("oauth2" in requirement for requirement in operation.get("security", []))
            if path.startswith("/api/v1/agent/") and not uses_api_credentials:
                continue  # the site agent's own credential (enroll, heartbeat, reports)
            assert uses_api_credentials, f"{method} {path}: a write that API clients cannot authenticate to?"
            found.append((method, path))
    return found


class World:
    """Real objects of a provider (St. Mary's) and a vendor (Radiant) that both can see."""

    def __init__(self, st_mary: Party, radiant: Party, capture: Callable[..., Any]) -> None:
        provider, vendor = st_mary.organization, radiant.organization
        self.parties = {"provider": st_mary, "vendor": radiant}
        listing = trial_listing(vendor, slug="read-only-world")
        self.listing = listing
        self.offering = listing.offerings.get()
        self.plan = self.offering.plans.get()
        self.version = VersionFactory(listing=listing)
        self.artifact = catalog_services.artifact_add(
            version=self.version, actor=vendor_principal(vendor), kind="installer", upload=upload("setup.zip", ZIP)
        )
        self.document = add_document(listing, content=PDF_BYTES)
        self.screenshot = Screenshot.objects.create(  # before the revision, which then shows it
            listing=listing,
            caption="Worklist",
            file="listings/screenshots/read-only-world.png",
            filename="read-only-world.png",
            content_type="image/png",
            size=1,
            sha256="0" * 64,
        )
        self.revision = catalog_services.revision_create(
            listing=listing, actor=vendor_principal(vendor), data={"tagline": "Now faster."}
        )
        self.trial = request_trial(provider, listing)
        self.quote = request_quote(provider, listing)
        self.subscription = buy(provider, listing, capture=capture)
        self.order = self.subscription.order
        self.deployment = deployments_of(self.subscription)[0]
        self.license = License.objects.filter(entitlement__subscription=self.subscription).first()
        assert self.license is not None, "the subscription's license"
        # What each organization owns itself.
        self.own: dict[str, dict[str, Any]] = {}
        for side, party in self.parties.items():
            organization = party.organization
            admin = principal_of(organization, Role.ADMIN)
            site = SiteFactory(organization=organization, name=f"{organization.name} campus")
            token, _raw = enrollment_token_create(site=site, created_by="test")
            _used, agent_token = enrollment_token_create(site=site, created_by="test")
            agent, _credential = agent_enroll(token=agent_token, name=f"{organization.slug} agent")
            invitation, _ = organization_services.invitation_create(
                organization=organization, email=f"new@{organization.slug}.example", role="member", actor=admin
            )
            endpoint, _secret = webhook_services.endpoint_create(
                organization=organization, actor=admin, url=f"http://127.0.0.1:9/{organization.slug}"
            )
            with capture(execute=False):
                delivery = webhook_services.endpoint_send_test(endpoint=endpoint, actor=admin)
            self.own[side] = {
                "organizations": organization.slug,
                "members": Membership.objects.filter(organization=organization).first().public_id,
                "invitations": invitation.public_id,
                "sites": site.public_id,
                "enrollment-tokens": token.public_id,
                "agents": agent.public_id,
                "api-clients": party.clients["admin"][0].public_id,
                "endpoints": endpoint.public_id,
                "deliveries": delivery.public_id,
            }
        self.shared = {
            "apps": listing.slug,
            "offerings": self.offering.public_id,
            "plans": self.plan.public_id,
            "versions": self.version.public_id,
            "artifacts": self.artifact.public_id,
            "documents": self.document.public_id,
            "screenshots": self.screenshot.public_id,
            "revisions": self.revision.public_id,
            "trials": self.trial.public_id,
            "quotes": self.quote.public_id,
            "orders": self.order.public_id,
            "subscriptions": self.subscription.public_id,
            "deployments": self.deployment.public_id,
            "licenses": self.license.public_id,
        }

    def resolve(self, path: str, side: str) -> str:
        """The template with real values: each parameter names an object of the collection
        before it (`/apps/{listing_slug}/plans/{id}/` -> the listing, then its plan), the
        caller's own for its organization's rooms."""
        parts, collection = [], ""
        for segment in path.strip("/").split("/"):
            if segment.startswith("{"):
                value = self.own[side].get(collection, self.shared.get(collection))
                assert value is not None, f"{path}: which object goes in {segment} after '{collection}/'?"
                parts.append(str(value))
            else:
                parts.append(segment)
                collection = segment
        return "/" + "/".join(parts) + "/"


ZIP = b"PK\x05\x06" + b"\x00" * 18
# Valid bodies for the operations that validate their input before they check the caller's role:
# with an empty body they would answer 400, which proves nothing (would a valid body have been
# refused?). A new write operation that answers 400 to `{}` belongs here.
BODIES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("post", "/api/v1/apps/"): lambda w: {"name": "Another app", "tagline": "New."},
    ("post", "/api/v1/apps/{listing_slug}/offerings/"): lambda w: {"mode": "cloud", "name": "EU", "regions": ["eu"]},
    ("post", "/api/v1/apps/{listing_slug}/plans/"): lambda w: {
        "offering": str(w.offering.public_id),
        "name": "Free",
        "pricing_model": "free",
        "price": "0",
    },
    ("post", "/api/v1/apps/{listing_slug}/versions/"): lambda w: {"version": "9.9.9"},
    ("post", "/api/v1/apps/{listing_slug}/reviews/"): lambda w: {"rating": 5, "title": "Great"},
    ("post", "/api/v1/apps/{listing_slug}/documents/"): lambda w: {
        "kind": "ifu",
        "title": "Manual",
        "file": upload("manual.pdf", PDF_BYTES),
    },
    ("post", "/api/v1/apps/{listing_slug}/versions/{id}/artifacts/"): lambda w: {
        "kind": "installer",
        "file": upload("setup.zip", ZIP),
    },
    ("post", "/api/v1/apps/{slug}/logo/"): lambda w: {"file": upload("logo.png", png_bytes())},
    ("post", "/api/v1/apps/{listing_slug}/screenshots/"): lambda w: {"file": upload("shot.png", png_bytes())},
    ("post", "/api/v1/apps/{listing_slug}/revisions/{id}/screenshots/"): lambda w: {
        "file": upload("shot.png", png_bytes()),
        "caption": "Worklist",
    },
    ("post", "/api/v1/apps/{listing_slug}/revisions/{id}/logo/"): lambda w: {"file": upload("logo.png", png_bytes())},
    ("post", "/api/v1/agent/receipts/"): lambda w: {"receipt": "eyJhbGciOiJFZERTQSJ9.e30.c2ln"},
}


def body_of(schema: dict[str, Any], method: str, path: str, world: World) -> tuple[dict[str, Any], str]:
    """The body to send and its format: multipart where the operation takes only that."""
    make = BODIES.get((method, path))
    body = make(world) if make else {}
    content = schema["paths"][path][method].get("requestBody", {}).get("content", {})
    return body, "multipart" if content and "application/json" not in content else "json"


@pytest.fixture
def schema(anonymous_api: APIClient) -> dict[str, Any]:
    return anonymous_api.get("/api/schema/", {"format": "json"}).json()


def test_the_schema_has_the_write_operations_this_test_is_about(schema: dict[str, Any]) -> None:
    operations = write_operations(schema)
    assert len(operations) > 60
    assert ("post", "/api/v1/trials/{id}/approve/") in operations
    assert ("post", "/api/v1/agent/receipts/") in operations  # a provider member's upload
    assert ("post", "/api/v1/agent/heartbeat/") not in operations  # the agent's own credential


def test_read_only_clients_are_refused_every_write_and_nothing_changes(
    schema: dict[str, Any], st_mary: Party, radiant: Party, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    world = World(st_mary, radiant, django_capture_on_commit_callbacks)
    readers = {side: party.api("client:read_only") for side, party in world.parties.items()}
    before = snapshot()
    refused_for_role: dict[tuple[str, str], list[str]] = {}
    not_refused = []
    for method, path in write_operations(schema):
        for side, reader in readers.items():
            url = world.resolve(path, side)
            body, body_format = body_of(schema, method, path, world)
            with django_capture_on_commit_callbacks(execute=True):
                response = getattr(reader, method)(url, body, format=body_format)
            if response.status_code not in (403, 404):
                not_refused.append((side, method.upper(), url, response.status_code, response.content[:200]))
                continue
            assert_error(response, response.status_code)
            if response.status_code == 403:
                refused_for_role.setdefault((method, path), []).append(side)
    after = snapshot()
    assert not not_refused, "read-only clients were not refused:\n" + "\n".join(map(str, not_refused))
    changed = {name: (len(before[name]), len(after[name])) for name in before if before[name] != after[name]}
    assert not changed, f"read-only clients changed these tables (rows before, after): {changed}"
    only_404 = sorted(
        f"{method} {path}" for method, path in write_operations(schema) if (method, path) not in refused_for_role
    )
    assert not only_404, f"no read-only client saw the object, so the role was never tested: {only_404}"
