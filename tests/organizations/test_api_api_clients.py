"""API clients: St. Mary's admins create OAuth2 client-credentials clients for their systems.
The secret is shown once; the token acts for St. Mary's with the client's role; revoking a
client stops its tokens at once."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from apps.organizations.models import ApiClient, Site
from apps.organizations.services import api_client_create
from marketplace.models import AuditEntry
from marketplace.principal import SYSTEM
from tests.api_contract import ADMINS, OPERATOR, ApiContract, BadInput
from tests.conftest import Party, assert_error

pytestmark = pytest.mark.django_db


def clients_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/api-clients/"


def client_url(party: Party, client: ApiClient) -> str:
    return f"{clients_url(party)}{client.public_id}/"


def request_token(client_id: str, client_secret: str) -> Any:
    """POST /o/token/ the way integrators do: form-encoded client credentials."""
    body = urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret})
    return APIClient().post("/o/token/", body, content_type="application/x-www-form-urlencoded")


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


class TestApiClientsContract(ApiContract):
    model = ApiClient
    readers = ADMINS | {OPERATOR}
    writers = ADMINS
    can_update = False
    actions = {"revoke": ADMINS}
    mass_assignment_extra = {
        "client_id": "chosen-by-the-caller",
        "client_secret": "chosen-by-the-caller",
        "client_type": "public",
        "authorization_grant_type": "password",
        "skip_authorization": True,
        "redirect_uris": "https://attacker.example/",
        "revoked": True,
    }
    bad_inputs = (
        BadInput("no name", {"role": "member"}, "name"),
        BadInput("blank name", {"name": "   "}, "name"),
        BadInput("unknown role", {"name": "PACS bridge", "role": "superuser"}, "role"),
        BadInput("name too long", {"name": "x" * 256}, "name"),
    )

    def list_url(self, party: Party) -> str:
        return clients_url(party)

    def detail_url(self, party: Party, obj: Any) -> str:
        return client_url(party, obj)

    def make(self, party: Party) -> ApiClient:
        client, _secret = api_client_create(
            organization=party.organization, name="PACS bridge", role="member", actor=SYSTEM
        )
        return client

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"name": "ITSM integration", "role": "read_only"}

    def assert_deleted(self, obj: Any) -> None:
        obj.refresh_from_db()
        assert obj.revoked_at is not None

    def assert_created_plainly(self, created: Any) -> None:
        assert created.client_id != "chosen-by-the-caller"
        assert (created.client_type, created.authorization_grant_type) == ("confidential", "client-credentials")
        assert not created.skip_authorization and created.redirect_uris == ""


def test_the_secret_is_shown_once_and_stored_hashed(st_mary: Party) -> None:
    api = st_mary.api("admin")
    response = api.post(clients_url(st_mary), {"name": "ITSM integration", "role": "member"})
    assert response.status_code == 201, response.content
    created = response.json()
    secret = created["client_secret"]
    assert secret and created["role"] == "member" and created["revoked"] is False
    assert created["created_by"] == st_mary.admin.email

    client = ApiClient.objects.get(public_id=created["id"])
    assert client.client_secret != secret  # hashed by django-oauth-toolkit

    listed = api.get(clients_url(st_mary)).json()["results"]
    retrieved = api.get(client_url(st_mary, client)).json()
    assert all("client_secret" not in c for c in listed) and "client_secret" not in retrieved
    assert secret not in api.get(clients_url(st_mary)).content.decode()

    entry = AuditEntry.objects.get(action="organizations.api_client.created", object_id=created["id"])
    assert secret not in str(entry.new_values)  # the audit log never holds the secret


def test_a_token_from_client_credentials_acts_for_st_marys(st_mary: Party, northside: Party) -> None:
    client, secret = api_client_create(organization=st_mary.organization, name="ITSM", role="admin", actor=SYSTEM)
    response = request_token(client.client_id, secret)
    assert response.status_code == 200, response.content
    grant = response.json()
    assert grant["token_type"] == "Bearer" and grant["expires_in"] > 0

    api = bearer(grant["access_token"])
    created = api.post(f"/api/v1/organizations/{st_mary.organization.slug}/sites/", {"name": "Central"})
    assert created.status_code == 201, created.content
    assert Site.objects.get(public_id=created.json()["id"]).organization == st_mary.organization

    entry = AuditEntry.objects.get(action="organizations.site.created")
    assert (entry.actor_kind, entry.actor_id) == ("api_client", client.client_id)
    assert entry.organization_id == st_mary.organization.pk

    # It acts for St. Mary's only: Northside's rooms do not exist for it.
    assert_error(api.get(f"/api/v1/organizations/{northside.organization.slug}/sites/"), 404)
    # And an API client is no person: it cannot found organizations.
    assert_error(api.post("/api/v1/organizations/", {"name": "Shadow", "kind": "provider"}), 403)


def test_a_wrong_secret_gets_no_token(st_mary: Party) -> None:
    client, _secret = api_client_create(organization=st_mary.organization, name="ITSM", role="admin", actor=SYSTEM)
    response = request_token(client.client_id, "not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"  # RFC 6749 error format at the token endpoint


def test_a_revoked_clients_token_stops_working_and_it_gets_no_new_one(st_mary: Party) -> None:
    client, secret = api_client_create(organization=st_mary.organization, name="ITSM", role="member", actor=SYSTEM)
    token = request_token(client.client_id, secret).json()["access_token"]
    api = bearer(token)
    sites = f"/api/v1/organizations/{st_mary.organization.slug}/sites/"
    assert api.get(sites).status_code == 200

    response = st_mary.api("admin").post(f"{client_url(st_mary, client)}revoke/")
    assert response.status_code == 200 and response.json()["revoked"] is True

    assert_error(api.get(sites), 401)
    assert request_token(client.client_id, secret).status_code == 401
    entry = AuditEntry.objects.get(action="organizations.api_client.revoked")
    assert entry.actor_label == st_mary.admin.email


def test_a_token_of_a_client_revoked_behind_the_apis_back_is_refused(st_mary: Party) -> None:
    client, secret = api_client_create(organization=st_mary.organization, name="ITSM", role="member", actor=SYSTEM)
    api = bearer(request_token(client.client_id, secret).json()["access_token"])
    # Revoked without deleting its tokens (say, by a data fix): the token still must not work.
    ApiClient.objects.filter(pk=client.pk).update(revoked_at="2026-01-01T00:00:00Z")
    assert_error(api.get(f"/api/v1/organizations/{st_mary.organization.slug}/sites/"), 401)


def test_a_read_only_client_cannot_write(st_mary: Party) -> None:
    api = st_mary.api("client:read_only")
    sites = f"/api/v1/organizations/{st_mary.organization.slug}/sites/"
    assert api.get(sites).status_code == 200
    assert_error(api.post(sites, {"name": "Central"}), 403)
    assert_error(api.patch(f"/api/v1/organizations/{st_mary.organization.slug}/", {"description": "x"}), 403)
    assert not Site.objects.exists()


def test_a_member_role_client_cannot_manage_api_clients(st_mary: Party) -> None:
    api = st_mary.api("client:member")
    before = ApiClient.objects.count()
    assert_error(api.get(clients_url(st_mary)), 403)
    assert_error(api.post(clients_url(st_mary), {"name": "Escalated", "role": "admin"}), 403)
    admin_client, _secret = st_mary.clients["admin"]
    assert_error(api.post(f"{client_url(st_mary, admin_client)}revoke/"), 403)
    assert ApiClient.objects.count() == before
    admin_client.refresh_from_db()
    assert admin_client.revoked_at is None


def test_an_admin_client_may_create_clients_but_the_secret_is_still_shown_once(st_mary: Party) -> None:
    response = st_mary.api("client:admin").post(clients_url(st_mary), {"name": "Reporting", "role": "read_only"})
    assert response.status_code == 201
    body = response.json()
    assert body["created_by"] is None and body["client_secret"]
    assert request_token(body["client_id"], body["client_secret"]).status_code == 200


def test_a_single_token_is_revoked_at_o_revoke_token_and_tokens_expire(st_mary: Party) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    client, secret = api_client_create(organization=st_mary.organization, name="ITSM", role="member", actor=SYSTEM)
    first = request_token(client.client_id, secret).json()["access_token"]
    second = request_token(client.client_id, secret).json()["access_token"]
    body = urlencode({"token": first, "client_id": client.client_id, "client_secret": secret})
    revoked = APIClient().post("/o/revoke_token/", body, content_type="application/x-www-form-urlencoded")
    assert revoked.status_code == 200
    assert bearer(first).get("/api/v1/trials/").status_code == 401
    assert bearer(second).get("/api/v1/trials/").status_code == 200  # only that one token
    # Every token expires (an hour); an expired one is refused.
    token = AccessToken.objects.get(token=second)
    assert timedelta(minutes=55) < token.expires - timezone.now() <= timedelta(hours=1)
    AccessToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert bearer(second).get("/api/v1/trials/").status_code == 401
