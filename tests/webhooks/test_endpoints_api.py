"""Webhook endpoints through the API: the secret shown once, the URL rules at registration and
at sending time, who may do what, secret rotation verified by the independent `standardwebhooks`
implementation, the test event, and an Idempotency-Key replay that does not show the secret."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from marketplace.models import AuditEntry
from tests.conftest import Party, assert_error
from tests.webhooks.conftest import Clock, emit, register
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhooks/endpoints/"
PUBLIC = "https://93.184.215.14/hooks"  # an IP literal: needs no DNS, and is a public address


def _url(registered_id: str, action: str = "") -> str:
    return f"{ENDPOINTS}{registered_id}/{action + '/' if action else ''}"


def _assert_whsec(secret: str) -> None:
    assert secret.startswith("whsec_"), secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


# --- create, read, change, delete --------------------------------------------------------------


def test_create_shows_a_whsec_secret_once_and_never_again(st_mary: Party, receiver: Receiver) -> None:
    api = st_mary.api("admin")
    response = api.post(
        ENDPOINTS,
        {"url": receiver.url, "event_types": ["trial.*", "license.issued"], "description": "ServiceNow"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    _assert_whsec(body["secret"])
    assert body["url"] == receiver.url and body["is_active"] is True
    assert sorted(body["event_types"]) == ["license.issued", "trial.*"]
    assert body["description"] == "ServiceNow"
    assert WebhookEndpoint.objects.get(public_id=body["id"]).secret == body["secret"]

    listed = api.get(ENDPOINTS)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [body["id"]]
    detail = api.get(_url(body["id"]))
    assert detail.status_code == 200
    for shown in (listed.json()["results"][0], detail.json()):
        assert "secret" not in shown
        assert body["secret"] not in str(shown)
    # Another endpoint, another secret.
    other = register(st_mary, receiver.url)
    assert other.secret != body["secret"]
    assert AuditEntry.objects.filter(action="webhooks.endpoint.created").count() == 2
    assert not any(body["secret"] in str((entry.old_values, entry.new_values)) for entry in AuditEntry.objects.all())


def test_patch_changes_fields_and_delete_removes_it(st_mary: Party, receiver: Receiver) -> None:
    api = st_mary.api("admin")
    registered = register(st_mary, receiver.url)
    response = api.patch(
        _url(registered.id), {"event_types": ["deployment.*"], "description": "Jira", "is_active": False}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["event_types"] == ["deployment.*"] and body["description"] == "Jira" and body["is_active"] is False
    assert "secret" not in body
    endpoint = registered.endpoint
    assert endpoint.event_types == ["deployment.*"] and not endpoint.is_active
    assert endpoint.secret == registered.secret  # a patch never changes the secret

    assert api.patch(_url(registered.id), {"is_active": True}).json()["is_active"] is True
    assert_error(api.patch(_url(registered.id), {"event_types": ["nonsense"]}), 400, field="event_types")

    assert api.delete(_url(registered.id)).status_code == 204
    assert_error(api.get(_url(registered.id)), 404)
    assert not WebhookEndpoint.objects.exists()
    assert AuditEntry.objects.filter(action="webhooks.endpoint.deleted").count() == 1


@pytest.mark.parametrize("event_types", [["foo.bar"], ["trial"], ["*"], ["Trial.Active"], ["trial.active", "x.*"]])
def test_unknown_event_types_are_refused_naming_event_types(
    st_mary: Party, receiver: Receiver, event_types: list[str]
) -> None:
    response = st_mary.api("admin").post(ENDPOINTS, {"url": receiver.url, "event_types": event_types})
    assert_error(response, 400, field="event_types")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("typo", ["trial.activ", "deployment.activated", "license.issue"])
def test_a_misspelt_event_type_is_refused(st_mary: Party, receiver: Receiver, typo: str) -> None:
    assert_error(st_mary.api("admin").post(ENDPOINTS, {"url": receiver.url, "event_types": [typo]}), 400)


def test_patterns_and_known_types_are_accepted(st_mary: Party, receiver: Receiver) -> None:
    types = ["trial.*", "deployment.active", "license.issued", "webhook.test", "quote.issued"]
    assert sorted(register(st_mary, receiver.url, event_types=types).body["event_types"]) == sorted(types)
    assert register(st_mary, receiver.url).body["event_types"] == []  # absent: every event


# --- URL rules at registration -------------------------------------------------------------------

REFUSED_WITHOUT_PRIVATE = [
    ("http://93.184.215.14/hooks", "http"),
    ("https://127.0.0.1/hooks", "loopback"),
    ("https://localhost/hooks", "loopback"),
    ("https://2130706433/hooks", "loopback"),  # decimal IPv4 for 127.0.0.1
    ("http://2130706433/", ""),
    ("https://[::1]/hooks", "loopback"),
    ("https://[::ffff:127.0.0.1]/hooks", "loopback"),  # IPv4-mapped IPv6
    ("https://169.254.169.254/latest/meta-data/", "link-local"),  # the cloud metadata service
    ("https://10.0.0.1/hooks", "private"),
    ("https://0x7f000001/hooks", "loopback"),  # hexadecimal IPv4
    ("https://user@93.184.215.14/hooks", "userinfo"),
    ("ftp://93.184.215.14/hooks", "https"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED_WITHOUT_PRIVATE)
def test_private_and_plain_http_urls_are_refused_at_registration(
    st_mary: Party, settings: Any, url: str, why: str
) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False  # production
    error = assert_error(st_mary.api("admin").post(ENDPOINTS, {"url": url}), 400, field="url")
    assert why in " ".join(error["fields"]["url"]), error
    assert not WebhookEndpoint.objects.exists()


def test_a_name_that_resolves_to_loopback_is_refused(st_mary: Party, settings: Any, fake_dns: dict[str, str]) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False
    fake_dns["hooks.integrator.example"] = "127.0.0.1"
    error = assert_error(
        st_mary.api("admin").post(ENDPOINTS, {"url": "https://hooks.integrator.example/in"}), 400, field="url"
    )
    assert "loopback" in error["fields"]["url"][0] and "hooks.integrator.example" in error["fields"]["url"][0]
    fake_dns["hooks.integrator.example"] = "93.184.215.14"
    assert register(st_mary, "https://hooks.integrator.example/in").body["url"] == "https://hooks.integrator.example/in"


def test_a_public_https_url_is_accepted_in_production_mode(st_mary: Party, settings: Any) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False
    assert register(st_mary, PUBLIC).body["url"] == PUBLIC


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://[::ffff:169.254.169.254]/", "http://224.0.0.1/", "http://0.0.0.0/"]
)
def test_link_local_multicast_and_unspecified_stay_refused_with_private_outbound_on(
    st_mary: Party, settings: Any, url: str
) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = True
    assert_error(st_mary.api("admin").post(ENDPOINTS, {"url": url}), 400, field="url")


def test_patching_to_a_private_url_is_refused(st_mary: Party, settings: Any) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False
    registered = register(st_mary, PUBLIC)
    assert_error(st_mary.api("admin").patch(_url(registered.id), {"url": "https://10.0.0.1/"}), 400, field="url")
    assert registered.endpoint.url == PUBLIC


# --- the same rules at sending time ------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "https://127.0.0.1:{port}/hooks",
        "https://localhost:{port}/hooks",
        "https://2130706433:{port}/hooks",
        "https://[::ffff:127.0.0.1]:{port}/hooks",
        "http://127.0.0.1:{port}/hooks",
    ],
)
def test_a_url_changed_to_a_private_address_is_refused_when_sending(
    st_mary: Party,
    receiver: Receiver,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    template: str,
) -> None:
    registered = register(st_mary, receiver.url)  # private outbound is on in the test settings
    port = receiver.url.split(":")[2].split("/")[0]
    WebhookEndpoint.objects.filter(public_id=registered.id).update(url=template.format(port=port))
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False  # production
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    (delivery,) = registered.deliveries()
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code is None and attempt.error, attempt
    assert "loopback" in attempt.error or "http" in attempt.error
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.last_error == attempt.error
    assert receiver.connections == 0 and receiver.requests() == []  # nothing left the platform


def test_a_name_rebound_to_loopback_after_registration_is_refused_when_sending(
    st_mary: Party,
    receiver: Receiver,
    settings: Any,
    fake_dns: dict[str, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MARKETPLACE_ALLOW_PRIVATE_OUTBOUND = False
    port = receiver.url.split(":")[2].split("/")[0]
    fake_dns["hooks.integrator.example"] = "93.184.215.14"
    registered = register(st_mary, f"https://hooks.integrator.example:{port}/hooks")
    fake_dns["hooks.integrator.example"] = "127.0.0.1"  # DNS rebinding
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    (attempt,) = WebhookAttempt.objects.filter(delivery__endpoint__public_id=registered.id)
    assert attempt.status_code is None and "loopback" in attempt.error, attempt.error
    assert receiver.connections == 0


def test_the_metadata_address_is_refused_when_sending_even_with_private_outbound_on(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    registered = register(st_mary, receiver.url)
    WebhookEndpoint.objects.filter(public_id=registered.id).update(url="http://169.254.169.254/latest/meta-data/")
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    (attempt,) = WebhookAttempt.objects.filter(delivery__endpoint__public_id=registered.id)
    assert attempt.status_code is None and "link-local" in attempt.error


# --- who may do what ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member", "client:member", "client:read_only"])
def test_only_admins_manage_endpoints(st_mary: Party, receiver: Receiver, who: str) -> None:
    registered = register(st_mary, receiver.url)
    api = st_mary.api(who)
    assert_error(api.get(ENDPOINTS), 403)
    assert_error(api.get(_url(registered.id)), 403)
    assert_error(api.post(ENDPOINTS, {"url": receiver.url}), 403)
    assert_error(api.patch(_url(registered.id), {"is_active": False}), 403)
    assert_error(api.post(_url(registered.id, "rotate-secret"), {}), 403)
    assert_error(api.post(_url(registered.id, "test")), 403)
    assert_error(api.delete(_url(registered.id)), 403)
    assert_error(api.get("/api/v1/webhooks/deliveries/"), 403)
    endpoint = registered.endpoint
    assert endpoint.is_active and endpoint.secret == registered.secret
    assert WebhookEndpoint.objects.count() == 1 and not WebhookDelivery.objects.exists()


def test_an_admin_api_client_manages_endpoints(st_mary: Party, receiver: Receiver) -> None:
    api = st_mary.api("client:admin")
    response = api.post(ENDPOINTS, {"url": receiver.url})
    assert response.status_code == 201, response.content
    _assert_whsec(response.json()["secret"])
    assert api.patch(_url(response.json()["id"]), {"description": "x"}).status_code == 200


def test_another_organization_gets_404(st_mary: Party, northside: Party, receiver: Receiver) -> None:
    registered = register(st_mary, receiver.url)
    with_delivery = st_mary.api("admin").post(_url(registered.id, "test"))
    delivery_id = with_delivery.json()["id"]
    api = northside.api("admin")
    assert api.get(ENDPOINTS).json()["results"] == []
    assert_error(api.get(_url(registered.id)), 404)
    assert_error(api.patch(_url(registered.id), {"is_active": False}), 404)
    assert_error(api.post(_url(registered.id, "rotate-secret"), {}), 404)
    assert_error(api.post(_url(registered.id, "test")), 404)
    assert_error(api.delete(_url(registered.id)), 404)
    assert api.get("/api/v1/webhooks/deliveries/").json()["results"] == []
    assert_error(api.get(f"/api/v1/webhooks/deliveries/{delivery_id}/"), 404)
    assert_error(api.post(f"/api/v1/webhooks/deliveries/{delivery_id}/replay/"), 404)
    assert registered.endpoint.is_active and registered.endpoint.secret == registered.secret


def test_anonymous_gets_401(anonymous_api: Any, st_mary: Party, receiver: Receiver) -> None:
    registered = register(st_mary, receiver.url)
    assert_error(anonymous_api.get(ENDPOINTS), 401)
    assert_error(anonymous_api.post(ENDPOINTS, {"url": receiver.url}), 401)
    assert_error(anonymous_api.get(_url(registered.id)), 401)
    assert_error(anonymous_api.post(_url(registered.id, "rotate-secret"), {}), 401)
    assert_error(anonymous_api.delete(_url(registered.id)), 401)
    assert_error(anonymous_api.get("/api/v1/webhooks/deliveries/"), 401)
    assert_error(anonymous_api.get("/api/v1/events/"), 401)


def test_operators_read_and_change_nothing(operator_api: Any, st_mary: Party, receiver: Receiver) -> None:
    registered = register(st_mary, receiver.url)
    delivery_id = st_mary.api("admin").post(_url(registered.id, "test")).json()["id"]
    listed = operator_api.get(ENDPOINTS)
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["results"]] == [registered.id]
    detail = operator_api.get(_url(registered.id))
    assert detail.status_code == 200 and "secret" not in detail.json()
    assert operator_api.get(f"/api/v1/webhooks/deliveries/{delivery_id}/").status_code == 200
    assert_error(operator_api.post(ENDPOINTS, {"url": receiver.url}), 403)
    assert_error(operator_api.patch(_url(registered.id), {"is_active": False}), 403)
    assert_error(operator_api.post(_url(registered.id, "rotate-secret"), {}), 403)
    assert_error(operator_api.delete(_url(registered.id)), 403)
    assert registered.endpoint.is_active and registered.endpoint.secret == registered.secret


# --- secret rotation -----------------------------------------------------------------------------


def _send_test(party: Party, endpoint_id: str, capture: Any) -> None:
    with capture(execute=True):
        response = party.api("admin").post(_url(endpoint_id, "test"))
    assert response.status_code == 202, response.content


def test_rotation_signs_with_both_secrets_during_the_overlap_and_then_with_the_new_only(
    st_mary: Party, receiver: Receiver, clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    registered = register(st_mary, receiver.url)
    old = registered.secret
    api = st_mary.api("admin")

    rotated = api.post(_url(registered.id, "rotate-secret"), {"overlap_hours": 24})
    assert rotated.status_code == 200, rotated.content
    new = rotated.json()["secret"]
    _assert_whsec(new)
    assert new != old
    ends = rotated.json()["secret_rotation_ends_at"]
    assert ends is not None
    assert abs(registered.endpoint.previous_secret_expires_at - (clock.now + timedelta(hours=24))) < timedelta(
        seconds=1
    )
    assert "secret" not in api.get(_url(registered.id)).json()

    _send_test(st_mary, registered.id, django_capture_on_commit_callbacks)
    (during,) = receiver.requests()
    assert len(during.signatures) == 2 and all(sig.startswith("v1,") for sig in during.signatures)
    assert Webhook(old).verify(during.body, during.headers)["type"] == "webhook.test"
    assert Webhook(new).verify(during.body, during.headers)["type"] == "webhook.test"

    clock.advance(24 * 3600 + 1)  # the overlap is over
    _send_test(st_mary, registered.id, django_capture_on_commit_callbacks)
    after = receiver.requests()[1]
    assert len(after.signatures) == 1
    assert Webhook(new).verify(after.body, after.headers)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_rotation_without_overlap_and_its_bounds(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    registered = register(st_mary, receiver.url)
    api = st_mary.api("admin")
    assert_error(api.post(_url(registered.id, "rotate-secret"), {"overlap_hours": 169}), 400, field="overlap_hours")
    assert_error(api.post(_url(registered.id, "rotate-secret"), {"overlap_hours": -1}), 400, field="overlap_hours")
    assert registered.endpoint.secret == registered.secret

    rotated = api.post(_url(registered.id, "rotate-secret"), {"overlap_hours": 0})
    assert rotated.status_code == 200 and rotated.json()["secret_rotation_ends_at"] is None
    new = rotated.json()["secret"]
    _send_test(st_mary, registered.id, django_capture_on_commit_callbacks)
    (request,) = receiver.requests()
    assert len(request.signatures) == 1
    request.verify(new)
    with pytest.raises(WebhookVerificationError):
        request.verify(registered.secret)


def test_rotating_twice_keeps_only_the_latest_previous_secret(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    registered = register(st_mary, receiver.url)
    api = st_mary.api("admin")
    second = api.post(_url(registered.id, "rotate-secret"), {}).json()["secret"]
    third = api.post(_url(registered.id, "rotate-secret"), {}).json()["secret"]
    _send_test(st_mary, registered.id, django_capture_on_commit_callbacks)
    (request,) = receiver.requests()
    request.verify(third)
    request.verify(second)
    with pytest.raises(WebhookVerificationError):
        request.verify(registered.secret)


# --- the test event --------------------------------------------------------------------------------


def test_the_test_event_goes_to_that_endpoint_only_and_verifies(
    st_mary: Party, radiant: Party, receiver_factory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    target, sibling, elsewhere = receiver_factory(), receiver_factory(), receiver_factory()
    registered = register(st_mary, target.url, event_types=["trial.*"])  # need not subscribe to it
    register(st_mary, sibling.url)  # every event, yet not this one
    register(radiant, elsewhere.url)
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(_url(registered.id, "test"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["event_type"] == "webhook.test" and body["endpoint"] == registered.id
    assert body["message_id"].startswith("msg_")

    (request,) = target.requests()
    payload = request.verify(registered.secret)
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint"] == registered.id
    assert request.message_id == body["message_id"]
    assert sibling.requests() == [] and elsewhere.requests() == []
    delivery = WebhookDelivery.objects.get(public_id=body["id"])
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED and delivery.attempts == 1
    assert WebhookDelivery.objects.count() == 1
    shown = st_mary.api("admin").get(f"/api/v1/webhooks/deliveries/{body['id']}/").json()
    assert shown["status"] == "succeeded" and shown["attempt_log"][0]["status_code"] == 200


# --- idempotency -------------------------------------------------------------------------------------


def test_an_idempotent_replay_of_create_does_not_show_the_secret_again(st_mary: Party, receiver: Receiver) -> None:
    api = st_mary.api("admin")
    payload = {"url": receiver.url, "event_types": ["trial.*"]}
    first = api.post(ENDPOINTS, payload, format="json", HTTP_IDEMPOTENCY_KEY="create-hook-1")
    assert first.status_code == 201, first.content
    _assert_whsec(first.json()["secret"])
    again = api.post(ENDPOINTS, payload, format="json", HTTP_IDEMPOTENCY_KEY="create-hook-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["secret"] is None
    assert first.json()["secret"] not in again.content.decode()
    assert WebhookEndpoint.objects.count() == 1
    other = api.post(ENDPOINTS, {"url": receiver.url}, format="json", HTTP_IDEMPOTENCY_KEY="create-hook-1")
    assert_error(other, 422)
    assert WebhookEndpoint.objects.count() == 1
