"""Idempotency-Key on creating POSTs, with St. Mary's sites as the subject: a retried request
creates nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.organizations.models import Site
from marketplace.idempotency import idempotency_purge
from marketplace.models import IdempotencyRecord
from tests.conftest import Party, assert_error

pytestmark = pytest.mark.django_db


def sites_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/sites/"


CENTRAL = {"name": "Central", "city": "Hamburg"}


def test_the_same_key_and_body_returns_the_stored_answer_and_creates_one_site(st_mary: Party) -> None:
    api = st_mary.api("admin")
    first = api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="create-central-1")
    again = api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="create-central-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Site.objects.filter(organization=st_mary.organization).count() == 1


def test_the_same_key_with_another_body_is_refused_with_422(st_mary: Party) -> None:
    api = st_mary.api("admin")
    api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-1")
    response = api.post(sites_url(st_mary), {"name": "East"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(response, 422, code="idempotency_key_reused", field="Idempotency-Key")
    assert list(Site.objects.values_list("name", flat=True)) == ["Central"]


def test_the_same_key_still_in_flight_is_a_409(st_mary: Party) -> None:
    api = st_mary.api("admin")
    api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-2")
    # As if the first request were still running in another worker.
    IdempotencyRecord.objects.filter(key="k-2").update(
        state=IdempotencyRecord.State.IN_FLIGHT, response_status=None, response_body=None
    )
    response = api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-2")
    assert_error(response, 409, code="idempotency_in_flight")
    assert Site.objects.count() == 1


def test_without_a_key_two_posts_make_two_rows(st_mary: Party) -> None:
    api = st_mary.api("admin")
    assert api.post(sites_url(st_mary), {"name": "Central"}).status_code == 201
    assert api.post(sites_url(st_mary), {"name": "East"}).status_code == 201
    assert Site.objects.count() == 2
    assert not IdempotencyRecord.objects.exists()


def test_a_failed_request_leaves_the_key_reusable(st_mary: Party) -> None:
    api = st_mary.api("admin")
    refused = api.post(sites_url(st_mary), {"name": ""}, HTTP_IDEMPOTENCY_KEY="k-3")
    assert_error(refused, 400, field="name")
    assert not IdempotencyRecord.objects.exists()

    # The client fixes its body and retries with the same key: not a 422.
    assert api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201
    assert Site.objects.count() == 1


def test_a_request_failing_in_the_service_leaves_the_key_reusable(st_mary: Party) -> None:
    api = st_mary.api("admin")
    api.post(sites_url(st_mary), {"name": "Central"})
    duplicate = api.post(sites_url(st_mary), {"name": "Central"}, HTTP_IDEMPOTENCY_KEY="k-4")
    assert_error(duplicate, 400, field="name")
    assert api.post(sites_url(st_mary), {"name": "East"}, HTTP_IDEMPOTENCY_KEY="k-4").status_code == 201


def test_keys_belong_to_one_principal(st_mary: Party, northside: Party) -> None:
    first = st_mary.api("admin").post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="shared-key")
    other = northside.api("admin").post(sites_url(northside), CENTRAL, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert first.status_code == other.status_code == 201
    assert first.json()["id"] != other.json()["id"]
    # Another principal of the same organization does not see St. Mary's admin's answer either.
    client = st_mary.api("client:admin").post(sites_url(st_mary), {"name": "East"}, HTTP_IDEMPOTENCY_KEY="shared-key")
    assert client.status_code == 201


def test_an_overlong_or_blank_key_is_refused(st_mary: Party) -> None:
    api = st_mary.api("admin")
    assert_error(api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="x" * 256), 400, field="Idempotency-Key")
    assert_error(api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="   "), 400, field="Idempotency-Key")
    assert not Site.objects.exists()


def test_keys_expire_after_a_day(st_mary: Party) -> None:
    api = st_mary.api("admin")
    api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-5")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # An expired key is free again: the request runs (and the duplicate name is refused).
    assert_error(api.post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-5"), 400, field="name")

    api.post(sites_url(st_mary), {"name": "East"}, HTTP_IDEMPOTENCY_KEY="k-6")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_purge() == 1
    assert not IdempotencyRecord.objects.exists()


def test_a_replayed_api_client_create_does_not_show_the_secret_again(st_mary: Party) -> None:
    api = st_mary.api("admin")
    url = f"/api/v1/organizations/{st_mary.organization.slug}/api-clients/"
    first = api.post(url, {"name": "ITSM"}, HTTP_IDEMPOTENCY_KEY="client-1")
    secret = first.json()["client_secret"]
    assert secret

    # The stored answer never holds the secret in clear: it is kept hashed only.
    assert secret not in str(IdempotencyRecord.objects.get(key="client-1").response_body)

    again = api.post(url, {"name": "ITSM"}, HTTP_IDEMPOTENCY_KEY="client-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "client_secret": None}
    assert st_mary.organization.api_clients.filter(name="ITSM").count() == 1


def test_a_key_freed_by_a_failing_request_at_the_same_moment_answers_409_not_404(
    st_mary: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import IntegrityError

    def taken_then_freed(**kwargs: object) -> None:
        # Another request held the key when we tried to take it, then failed and deleted it.
        raise IntegrityError("UNIQUE constraint failed: idempotency_unique_key")

    monkeypatch.setattr(IdempotencyRecord.objects, "create", taken_then_freed)
    response = st_mary.api("admin").post(sites_url(st_mary), CENTRAL, HTTP_IDEMPOTENCY_KEY="k-race")
    assert_error(response, 409, code="idempotency_in_flight")
    assert not Site.objects.exists()
