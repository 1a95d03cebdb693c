"""At-least-once webhook delivery to a real local HTTP receiver: a whole trial journey arrives
signed (verified by the independent `standardwebhooks` package) and thin; a receiver that is down
is retried on the Standard Webhooks schedule kept in the database and swept; 500 until the last
retry fails the delivery, replay sends it again; 410 disables the endpoint; a slow endpoint is
cut off and does not hold up another; a duplicate task sends once; filters and organizations are
respected.

Celery runs eagerly here: `django_capture_on_commit_callbacks(execute=True)` runs the on-commit
work (sequence, fan-out, delivery) inline, and the retry timing is moved on with a frozen
`timezone.now` (the `clock` fixture) before calling `webhooks_sweep()` as beat would."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections

from apps.procurement.models import Trial
from apps.procurement.services import trial_cancel
from apps.webhooks import services
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookFanoutCursor
from apps.webhooks.services import RETRY_SCHEDULE_SECONDS, webhook_deliver, webhooks_fan_out, webhooks_sweep
from apps.webhooks.tasks import deliver
from marketplace.models import AuditEntry
from tests.conftest import Party, assert_error
from tests.procurement.factories import approve, principal_of, request_trial, trial_listing
from tests.webhooks.conftest import Clock, emit, follow_feed, register, visible_events
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db

NOTES = "Please set it up for the radiology night shift"
REASON = "Budget frozen by the finance committee"
JOURNEY = [
    "trial.requested",
    "deployment.pending",
    "trial.approved",
    "license.issued",
    "deployment.provisioning",
    "trial.provisioning",
    "deployment.active",
    "trial.active",
]
ENDING = ["trial.cancelled", "license.revoked", "deployment.deprovisioning", "deployment.deprovisioned"]
ID_KEYS = {"trial", "deployment", "license", "listing", "offering"}


def _journey(st_mary: Party, radiant: Party, capture: Callable[..., Any]) -> Trial:
    """A cloud trial requested, approved, provisioned by the (eager) worker and active; then
    cancelled with a reason, which deprovisions it and revokes its license."""
    with capture(execute=True):
        trial = request_trial(st_mary.organization, trial_listing(radiant.organization), notes=NOTES)
    with capture(execute=True):
        approve(trial)
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE
    with capture(execute=True):
        trial_cancel(trial=trial, actor=principal_of(st_mary.organization), reason=REASON)
    return trial


def _walk(value: Any) -> list[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _walk(item))]
    if isinstance(value, list):
        return [key for item in value for key in _walk(item)]
    return []


# --- a whole journey ---------------------------------------------------------------------------


def test_a_whole_trial_journey_arrives_at_both_parties_signed_and_thin(
    st_mary: Party, radiant: Party, receiver_factory: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    at_provider, at_vendor = receiver_factory(), receiver_factory()
    provider_hook = register(st_mary, at_provider.url)
    vendor_hook = register(radiant, at_vendor.url)
    trial = _journey(st_mary, radiant, django_capture_on_commit_callbacks)

    for party, receiver, hook in ((st_mary, at_provider, provider_hook), (radiant, at_vendor, vendor_hook)):
        requests = receiver.requests()
        payloads = [request.verify(hook.secret) for request in requests]  # every signature, independently
        events = visible_events(party)
        # Every event the organization may see arrived, once (nothing failed, so nothing twice).
        assert sorted(p["id"] for p in payloads) == sorted(str(e.public_id) for e in events)
        types = [p["type"] for p in payloads]
        for expected in JOURNEY + ENDING:
            assert types.count(expected) == 1, (expected, types)
        # One message id per delivery, kept by its retries; every delivery succeeded at once.
        deliveries = hook.deliveries()
        assert {r.message_id for r in requests} == {f"msg_{d.public_id.hex}" for d in deliveries}
        assert len(deliveries) == len(requests)
        assert {(d.status, d.attempts) for d in deliveries} == {(WebhookDelivery.Status.SUCCEEDED, 1)}

        for request, payload in zip(requests, payloads, strict=True):
            assert set(payload) == {"id", "type", "timestamp", "sequence", "data"}
            assert request.headers["content-type"] == "application/json"
            assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 120
            # Thin: no free text at any depth, nor the words people typed.
            assert not {"reason", "notes", "message", "decision_reason"} & set(_walk(payload)), payload
            assert REASON.encode() not in request.body and NOTES.encode() not in request.body
            assert st_mary.organization.name.encode() not in request.body
            data = payload["data"]
            if payload["type"].startswith(("trial.", "deployment.")) and payload["type"] != "trial.expiring":
                assert data["status"] == payload["type"].split(".", 1)[1]
            if payload["type"].startswith(("trial.", "deployment.", "license.")):
                kind = payload["type"].split(".")[0]
                assert set(data) & ID_KEYS
                link = data["links"]["self"]
                assert link.startswith(settings.MARKETPLACE_BASE_URL + f"/api/v1/{kind}s/"), link
                assert data.get(kind, link.rstrip("/").rsplit("/", 1)[1]) in link
        trial_events = [p for p in payloads if p["type"].startswith("trial.")]
        assert {p["data"]["trial"] for p in trial_events} == {str(trial.public_id)}
        # In the order of the feed.
        assert [p["sequence"] for p in payloads] == sorted(p["sequence"] for p in payloads)

    # The feed shows every event once, the same ones the webhooks carried.
    feed, _ = follow_feed(st_mary.api("client:read_only"), page_size=3)
    assert [e["id"] for e in feed] == [str(e.public_id) for e in visible_events(st_mary)]
    assert len({e["id"] for e in feed}) == len(feed)
    assert {e["id"] for e in feed} == {r.json["id"] for r in at_provider.requests()}


def test_a_receiver_down_for_a_while_gets_everything_once_it_is_back(
    st_mary: Party, radiant: Party, receiver: Receiver, clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    hook = register(st_mary, receiver.url)
    receiver.stop()  # down
    started = clock.now
    _journey(st_mary, radiant, django_capture_on_commit_callbacks)
    deliveries = hook.deliveries()
    assert len(deliveries) == len(visible_events(st_mary)) >= len(JOURNEY + ENDING)
    for delivery in deliveries:
        (attempt,) = delivery.attempt_log.all()
        assert attempt.attempted_at == started and attempt.status_code is None
        assert "connection" in attempt.error and attempt.response_excerpt == ""
        assert 0 <= attempt.duration_ms < 5000
        assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 1
        wait = (delivery.next_attempt_at - started).total_seconds()
        assert 4.5 <= wait <= 5.5, wait  # 5 s with jitter within 10 %

    # Beat sweeps early: nothing is due yet, nothing is attempted.
    clock.advance(4.4)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == 0
    assert WebhookAttempt.objects.count() == len(deliveries)

    # Still down at the second attempt: the third is planned 5 minutes later.
    clock.advance(1.2)
    second = clock.now
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == len(deliveries)
    for delivery in hook.deliveries():
        assert delivery.attempts == 2 and delivery.status == WebhookDelivery.Status.PENDING
        wait = (delivery.next_attempt_at - second).total_seconds()
        assert 270 <= wait <= 330, wait

    receiver.start()  # back, on the same port
    clock.advance(331)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == len(deliveries)
    delivered = hook.deliveries()
    assert {d.status for d in delivered} == {WebhookDelivery.Status.SUCCEEDED}
    assert all(d.attempts == 3 and d.delivered_at == clock.now and d.next_attempt_at is None for d in delivered)
    payloads = [request.verify(hook.secret) for request in receiver.requests()]
    assert sorted(p["id"] for p in payloads) == sorted(str(e.public_id) for e in visible_events(st_mary))
    log = delivered[0].attempt_log.all()
    assert [a.status_code for a in log] == [None, None, 200]
    assert '"status": 200' in log[2].response_excerpt
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == 0  # nothing left
    assert len(receiver.requests()) == len(deliveries)
    # The delivery log through the API shows every attempt.
    shown = st_mary.api("admin").get(f"/api/v1/webhooks/deliveries/{delivered[0].public_id}/").json()
    assert [a["status_code"] for a in shown["attempt_log"]] == [None, None, 200]
    assert shown["attempt_log"][0]["error"] and shown["attempt_log"][0]["attempted_at"]


# --- the retry schedule, failure and replay ------------------------------------------------------


def test_the_schedule_is_the_standard_webhooks_one() -> None:
    assert RETRY_SCHEDULE_SECONDS == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_500_until_the_last_retry_fails_the_delivery_and_replay_sends_it_again(
    st_mary: Party, receiver: Receiver, clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.answer = 500
    hook = register(st_mary, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(st_mary.organization, "trial.active", data={"status": "active"})
    (delivery,) = hook.deliveries()
    waits: list[float] = []
    for planned in RETRY_SCHEDULE_SECONDS[1:]:
        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.PENDING
        wait = (delivery.next_attempt_at - clock.now).total_seconds()
        assert planned * 0.9 <= wait <= planned * 1.1, (planned, wait)
        waits.append(wait)
        clock.set(delivery.next_attempt_at - timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=True):
            assert webhooks_sweep() == 0  # not yet
        clock.set(delivery.next_attempt_at)
        with django_capture_on_commit_callbacks(execute=True):
            assert webhooks_sweep() == 1
    assert waits != list(RETRY_SCHEDULE_SECONDS[1:])  # jittered, not the bare schedule

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.next_attempt_at is None
    assert delivery.attempts == len(RETRY_SCHEDULE_SECONDS) == 8
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    log = list(delivery.attempt_log.all())
    assert [a.status_code for a in log] == [500] * 8
    assert all("receiver says 500" in a.response_excerpt and not a.error for a in log)
    requests = receiver.requests()
    assert len(requests) == 8 and len({r.message_id for r in requests}) == 1  # retries keep the id
    for request in requests:
        assert request.verify(hook.secret)["id"] == str(event.public_id)
    clock.advance(7 * 24 * 3600)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == 0  # a failed delivery is not retried by itself
    assert len(receiver.requests()) == 8

    # Replay (an admin): pending again, from the start of the schedule, same message id.
    assert_error(st_mary.api("member").post(f"/api/v1/webhooks/deliveries/{delivery.public_id}/replay/"), 403)
    receiver.answer = 200
    with django_capture_on_commit_callbacks(execute=True):
        response = st_mary.api("admin").post(f"/api/v1/webhooks/deliveries/{delivery.public_id}/replay/")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "pending"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED and delivery.attempts == 9
    last = receiver.requests()[-1]
    assert last.answered == 200 and last.message_id == requests[0].message_id
    last.verify(hook.secret)
    assert AuditEntry.objects.filter(action="webhooks.delivery.replayed").count() == 1
    shown = st_mary.api("admin").get(f"/api/v1/webhooks/deliveries/{delivery.public_id}/").json()
    assert shown["status"] == "succeeded" and len(shown["attempt_log"]) == 9


def test_a_replay_that_fails_again_starts_the_schedule_again(
    st_mary: Party, receiver: Receiver, clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.answer = 503
    hook = register(st_mary, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    (delivery,) = hook.deliveries()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None, schedule_index=8)
    with django_capture_on_commit_callbacks(execute=True):
        st_mary.api("admin").post(f"/api/v1/webhooks/deliveries/{delivery.public_id}/replay/")
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.schedule_index == 1
    assert 4.5 <= (delivery.next_attempt_at - clock.now).total_seconds() <= 5.5


# --- 410 ------------------------------------------------------------------------------------------


def test_410_disables_the_endpoint_with_a_reason_and_nothing_more_is_sent(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.answer = 410
    hook = register(st_mary, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization, "trial.requested", sequence=False)
        emit(st_mary.organization, "trial.approved")  # two deliveries, dispatched one after the other
    assert len(receiver.requests()) == 1
    endpoint = hook.endpoint
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    first, second = hook.deliveries()
    assert first.status == second.status == WebhookDelivery.Status.FAILED
    assert first.last_status_code == 410 and second.attempts == 0 and "disabled" in second.last_error
    shown = st_mary.api("admin").get(f"/api/v1/webhooks/endpoints/{hook.id}/").json()
    assert shown["is_active"] is False and "410" in shown["disabled_reason"]

    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization, "trial.active")
        webhooks_sweep()
    assert len(receiver.requests()) == 1 and len(hook.deliveries()) == 2  # no delivery for it at all

    # Switched on again by an admin: the reason goes, new events flow.
    receiver.answer = 200
    patched = st_mary.api("admin").patch(f"/api/v1/webhooks/endpoints/{hook.id}/", {"is_active": True}).json()
    assert patched["is_active"] is True and patched["disabled_reason"] == ""
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization, "trial.cancelled")
    assert [r.type for r in receiver.requests()] == ["trial.requested", "trial.cancelled"]


# --- slow endpoints and timeouts -------------------------------------------------------------------


def test_a_slow_endpoint_is_cut_off_at_the_timeout(
    st_mary: Party, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(services, "TIMEOUT_SECONDS", 0.5)
    receiver.delay = 3
    hook = register(st_mary, receiver.url)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    assert time.monotonic() - started < 2.5
    (delivery,) = hook.deliveries()
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code is None and "timed out" in attempt.error
    assert 400 <= attempt.duration_ms < 2000
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.next_attempt_at is not None


def test_a_2xx_with_a_big_body_is_a_success(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    """Standard Webhooks: any 2xx is a success, whatever the body (receivers often answer with a
    whole HTML page); only the excerpt is kept."""
    receiver.padding = 200_000
    hook = register(st_mary, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    (delivery,) = hook.deliveries()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED, delivery.last_error
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code == 200 and len(attempt.response_excerpt) <= 500
    assert len(receiver.requests()) == 1


def test_the_default_timeout_is_bounded() -> None:
    assert 0 < services.TIMEOUT_SECONDS <= 15
    assert services.LEASE_SECONDS > services.TIMEOUT_SECONDS  # a lease outlives the call it covers


def _no_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries are created but not sent: the test calls the task itself."""
    monkeypatch.setattr(services, "_dispatch", lambda delivery_id: None)


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = work()
        except Exception as exc:  # reported to the test
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_slow_endpoint_does_not_delay_another_endpoints_delivery(
    st_mary: Party, northside: Party, receiver_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What one process can show: a delivery in progress to a slow endpoint holds no lock (no
    database row, no lease) that another endpoint's delivery waits for, so two task calls run
    side by side. Production's isolation is that webhooks run on their own queue and worker
    (prefetch 1, time limits, TIMEOUT_SECONDS), proven with real workers in test_real_worker."""
    _no_dispatch(monkeypatch)
    slow, fast = receiver_factory(delay=2), receiver_factory()
    slow_hook, fast_hook = register(st_mary, slow.url), register(northside, fast.url)
    emit(st_mary.organization)
    emit(northside.organization)
    (slow_delivery,) = slow_hook.deliveries()
    (fast_delivery,) = fast_hook.deliveries()

    thread, result = _in_thread(lambda: webhook_deliver(delivery_id=slow_delivery.pk))
    _wait_for(lambda: len(slow.requests()) == 1)  # the slow one is being sent now
    started = time.monotonic()
    assert webhook_deliver(delivery_id=fast_delivery.pk) == WebhookDelivery.Status.SUCCEEDED
    assert time.monotonic() - started < 1.0
    assert len(fast.requests()) == 1 and thread.is_alive()  # done while the slow one still waits
    thread.join(10)
    assert result == {"value": WebhookDelivery.Status.SUCCEEDED}
    slow_delivery.refresh_from_db()
    assert slow_delivery.attempt_log.get().duration_ms >= 1900
    assert fast.requests()[0].at < slow.requests()[0].at + 2


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_while_its_delivery_is_in_flight_ends_the_task_quietly(
    st_mary: Party, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_dispatch(monkeypatch)
    receiver.delay = 1
    hook = register(st_mary, receiver.url)
    emit(st_mary.organization)
    (delivery,) = hook.deliveries()
    thread, result = _in_thread(lambda: webhook_deliver(delivery_id=delivery.pk))
    _wait_for(lambda: len(receiver.requests()) == 1)
    assert st_mary.api("admin").delete(f"/api/v1/webhooks/endpoints/{hook.id}/").status_code == 204
    thread.join(10)
    assert result == {"value": "deleted"}
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()


# --- duplicates -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_run_twice_at_once_is_sent_once(
    st_mary: Party, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_dispatch(monkeypatch)
    receiver.delay = 1
    hook = register(st_mary, receiver.url)
    emit(st_mary.organization)
    (delivery,) = hook.deliveries()

    thread, result = _in_thread(lambda: webhook_deliver(delivery_id=delivery.pk))
    _wait_for(lambda: len(receiver.requests()) == 1)
    assert webhook_deliver(delivery_id=delivery.pk) == "skipped"  # leased by the first
    thread.join(10)
    assert result == {"value": WebhookDelivery.Status.SUCCEEDED}
    assert webhook_deliver(delivery_id=delivery.pk) == "skipped"  # and once it succeeded
    assert deliver.apply(kwargs={"delivery_id": delivery.pk}).result == "skipped"  # the task, again
    assert len(receiver.requests()) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.attempt_log.count() == 1


def test_a_duplicate_while_leased_is_skipped_and_an_expired_lease_is_swept(
    st_mary: Party, receiver: Receiver, clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    hook = register(st_mary, receiver.url)
    emit(st_mary.organization)  # its delivery's dispatch never runs: the worker "died"
    (delivery,) = hook.deliveries()
    assert services._claim(delivery.pk) is not None  # a worker took it and died before sending
    assert webhook_deliver(delivery_id=delivery.pk) == "skipped"
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == 0  # the lease holds
    assert receiver.requests() == []
    clock.advance(services.LEASE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == 1
    assert len(receiver.requests()) == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED


def test_fan_out_run_again_makes_no_second_delivery(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    hook = register(st_mary, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization)
    WebhookFanoutCursor.objects.update(last_sequence=0)  # as if fan-out ran twice over the events
    with django_capture_on_commit_callbacks(execute=True):
        webhooks_fan_out()
        webhooks_fan_out()
    assert len(hook.deliveries()) == 1 and len(receiver.requests()) == 1


def test_a_due_delivery_is_not_queued_again_by_the_next_sweep_before_a_worker_takes_it(
    st_mary: Party, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(services, "_dispatch", queued.append)
    register(st_mary, receiver.url)
    emit(st_mary.organization)
    webhooks_sweep()
    webhooks_sweep()  # 10 s later; the worker has not reached the first message yet
    assert len(queued) == len(set(queued)), queued


# --- filters and organizations -------------------------------------------------------------------


def test_event_type_filters_are_respected(
    st_mary: Party, radiant: Party, receiver_factory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    trials, chosen, everything, inactive = (receiver_factory() for _ in range(4))
    trials_hook = register(st_mary, trials.url, event_types=["trial.*"])
    chosen_hook = register(st_mary, chosen.url, event_types=["license.issued", "deployment.active"])
    every_hook = register(st_mary, everything.url)
    register(st_mary, inactive.url, is_active=False)
    _journey(st_mary, radiant, django_capture_on_commit_callbacks)

    assert trials.types() and all(t.startswith("trial.") for t in trials.types())
    assert set(trials.types()) == {t for t in JOURNEY + ENDING if t.startswith("trial.")}
    assert sorted(chosen.types()) == ["deployment.active", "license.issued"]
    assert set(everything.types()) >= set(JOURNEY + ENDING)
    assert inactive.requests() == []
    for receiver, hook in ((trials, trials_hook), (chosen, chosen_hook), (everything, every_hook)):
        for request in receiver.requests():
            request.verify(hook.secret)
    # Changing the filter applies to the next events.
    st_mary.api("admin").patch(f"/api/v1/webhooks/endpoints/{chosen_hook.id}/", {"event_types": ["quote.*"]})
    with django_capture_on_commit_callbacks(execute=True):
        emit(st_mary.organization, "license.issued")
        emit(st_mary.organization, "quote.issued")
    assert sorted(chosen.types()) == ["deployment.active", "license.issued", "quote.issued"]


def test_an_organization_never_receives_another_organizations_events(
    st_mary: Party,
    northside: Party,
    radiant: Party,
    receiver_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    provider, stranger, vendor = receiver_factory(), receiver_factory(), receiver_factory()
    register(st_mary, provider.url)
    register(northside, stranger.url)
    register(radiant, vendor.url)
    _journey(st_mary, radiant, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        own = emit(northside.organization, "trial.requested")
    assert [r.json["id"] for r in stranger.requests()] == [str(own.public_id)]
    assert str(own.public_id) not in {r.json["id"] for r in provider.requests() + vendor.requests()}
    assert {r.json["id"] for r in provider.requests()} == {str(e.public_id) for e in visible_events(st_mary)}
    assert {r.json["id"] for r in vendor.requests()} == {str(e.public_id) for e in visible_events(radiant)}
    assert not WebhookDelivery.objects.filter(
        endpoint__organization=northside.organization, event__organization=st_mary.organization
    ).exists()
    # Nor through the delivery log.
    listed = northside.api("admin").get("/api/v1/webhooks/deliveries/").json()["results"]
    assert [d["event"] for d in listed] == [str(own.public_id)]


def test_an_endpoint_deleted_with_pending_deliveries_sends_nothing(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_dispatch(monkeypatch)
    hook = register(st_mary, receiver.url)
    emit(st_mary.organization)
    (delivery,) = hook.deliveries()
    assert st_mary.api("admin").delete(f"/api/v1/webhooks/endpoints/{hook.id}/").status_code == 204
    assert webhook_deliver(delivery_id=delivery.pk) == "skipped"
    assert receiver.requests() == [] and not WebhookEndpoint.objects.exists()
