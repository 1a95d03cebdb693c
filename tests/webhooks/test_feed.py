"""GET /api/v1/events/: cursor pagination that never misses or repeats an event, type filters,
bounds and errors, who sees what; and transactions that commit out of order (the event created
first commits last), on PostgreSQL with two real transactions in two threads, and everywhere
with sequences assigned at chosen points."""

from __future__ import annotations

import base64
import os
import threading
from typing import Any

import pytest
from django.db import connections, transaction

from apps.webhooks.feed import decode_cursor, encode_cursor
from marketplace.events import event_emit, events_assign_sequence
from marketplace.models import Event
from tests.conftest import Party, assert_error
from tests.webhooks.conftest import emit, follow_feed, register, visible_events
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db

FEED = "/api/v1/events/"
TYPES = ["trial.requested", "trial.approved", "license.issued", "deployment.active", "quote.issued", "trial.active"]


def _ids(events: list[Any]) -> list[str]:
    return [e["id"] if isinstance(e, dict) else str(e.public_id) for e in events]


def _some_events(st_mary: Party, radiant: Party, northside: Party) -> None:
    for index, kind in enumerate(TYPES * 2):
        emit(st_mary.organization, kind, counterparty=radiant.organization if index % 2 else None, sequence=False)
    emit(northside.organization, "trial.requested", sequence=False)
    emit(radiant.organization, "listing.published", sequence=False)
    events_assign_sequence()


def test_pages_follow_next_without_missing_or_repeating(st_mary: Party, radiant: Party, northside: Party) -> None:
    _some_events(st_mary, radiant, northside)
    api = st_mary.api("client:read_only")
    expected = _ids(visible_events(st_mary))
    assert len(expected) >= len(TYPES) * 2

    first = api.get(FEED, {"page_size": 5}).json()
    assert set(first) == {"next", "results"} and len(first["results"]) == 5
    assert "page_size=5" in first["next"]
    seen, resume = follow_feed(api, page_size=5)
    assert _ids(seen) == expected  # all of them, in order, once
    assert [e["sequence"] for e in seen] == sorted({e["sequence"] for e in seen})
    for page_size in (1, 2, 3, 7, 100):
        assert _ids(follow_feed(api, page_size=page_size)[0]) == expected

    # The empty last page's `next` is where the poller resumes: later events, and only those.
    assert api.get(resume).json()["results"] == []
    later = emit(st_mary.organization, "trial.cancelled")
    assert _ids(api.get(resume).json()["results"]) == [str(later.public_id)]
    assert _ids(follow_feed(api, resume)[0]) == [str(later.public_id)]


def test_the_default_page_is_25(st_mary: Party) -> None:
    for _ in range(30):
        emit(st_mary.organization, sequence=False)
    events_assign_sequence()
    page = st_mary.api("admin").get(FEED).json()
    assert len(page["results"]) == 25 and "page_size=25" in page["next"]


@pytest.mark.parametrize("page_size", ["0", "101", "-1", "ten"])
def test_page_size_out_of_bounds_is_refused(st_mary: Party, page_size: str) -> None:
    assert_error(st_mary.api("admin").get(FEED, {"page_size": page_size}), 400, field="page_size")


def test_type_filters(st_mary: Party, radiant: Party, northside: Party) -> None:
    _some_events(st_mary, radiant, northside)
    api = st_mary.api("client:read_only")
    mine = visible_events(st_mary)
    only = follow_feed(api, type="license.issued", page_size=1)[0]
    assert _ids(only) == _ids([e for e in mine if e.type == "license.issued"]) and len(only) == 2
    several, _ = follow_feed(api, type=["trial.*", "quote.issued"], page_size=2)
    assert _ids(several) == _ids([e for e in mine if e.type.startswith("trial.") or e.type == "quote.issued"])
    first = api.get(FEED, {"type": ["trial.*", "quote.issued"], "page_size": 2}).json()
    assert "type=trial.%2A" in first["next"] and "type=quote.issued" in first["next"]  # filters carried on
    assert follow_feed(api, type="subscription.*")[0] == []
    for bad in ("nonsense", "trial.", "TRIAL.active", "trial.active;drop"):
        error = assert_error(api.get(FEED, {"type": bad}), 400)
        assert [name.split(".")[0] for name in error["fields"]] == ["type"], error  # "type.0": the first


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "not-base64-at-all",
        base64.urlsafe_b64encode(b"seq:abc").decode(),
        base64.urlsafe_b64encode(b"seq:-1").decode(),
        base64.urlsafe_b64encode(b"id:5").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 101,
    ],
)
def test_a_bad_cursor_is_refused_naming_cursor(st_mary: Party, cursor: str) -> None:
    assert_error(st_mary.api("admin").get(FEED, {"cursor": cursor}), 400, field="cursor")


def test_cursors_round_trip() -> None:
    for sequence in (0, 1, 42, 10**15):
        assert decode_cursor(encode_cursor(sequence)) == sequence


def test_another_organization_sees_nothing_of_it(st_mary: Party, radiant: Party, northside: Party) -> None:
    _some_events(st_mary, radiant, northside)
    st_marys = set(_ids(visible_events(st_mary)))
    theirs, _ = follow_feed(northside.api("admin"))
    assert theirs and not st_marys & set(_ids(theirs))
    assert {e["type"] for e in theirs} <= {"trial.requested", "organization.created", "organization.verified"}
    # The vendor sees the events it is the counterparty of, and its own; not the others.
    vendor = set(_ids(follow_feed(radiant.api("client:read_only"))[0]))
    shared = {str(e.public_id) for e in Event.objects.filter(counterparty=radiant.organization)}
    assert shared and shared <= vendor
    provider_only = {str(e.public_id) for e in Event.objects.filter(organization=st_mary.organization)} - shared
    assert provider_only and not provider_only & vendor


def test_who_may_read_the_feed(
    st_mary: Party, anonymous_api: Any, operator_api: Any, radiant: Party, northside: Party
) -> None:
    _some_events(st_mary, radiant, northside)
    assert_error(anonymous_api.get(FEED), 401)
    expected = _ids(visible_events(st_mary))
    for who in ("admin", "member", "client:read_only", "client:member", "client:admin"):
        assert _ids(follow_feed(st_mary.api(who))[0]) == expected, who
    assert len(follow_feed(operator_api)[0]) == Event.objects.filter(sequence__isnull=False).count()
    assert_error(st_mary.api("client:read_only").post(FEED, {}), 405)


def test_unsequenced_events_are_not_in_the_feed_yet(st_mary: Party) -> None:
    api = st_mary.api("admin")
    _, resume = follow_feed(api)
    pending = emit(st_mary.organization, sequence=False)
    assert api.get(resume).json()["results"] == []
    events_assign_sequence()
    assert _ids(api.get(resume).json()["results"]) == [str(pending.public_id)]


# --- transactions that commit out of order ----------------------------------------------------


def test_an_event_that_commits_late_with_a_lower_id_is_seen_once(st_mary: Party) -> None:
    """SQLite serializes writers, so two transactions cannot commit out of order there; the
    situation is built by hand: the event created first is held back (as if its transaction had
    not committed) while a later one is sequenced and read, then it "commits"."""
    api = st_mary.api("client:read_only")
    _, resume = follow_feed(api)
    early = emit(st_mary.organization, "trial.requested", sequence=False)
    late = emit(st_mary.organization, "trial.approved", sequence=False)
    assert early.pk < late.pk
    held = Event.objects.filter(pk=early.pk).values().get()
    Event.objects.filter(pk=early.pk).delete()  # not visible: its transaction is still open

    assert events_assign_sequence() == 1  # the later event's commit
    first = api.get(resume).json()
    assert _ids(first["results"]) == [str(late.public_id)]  # the poller reads between the commits

    Event.objects.create(**held)  # the early transaction commits now, with its lower id
    assert events_assign_sequence() == 1
    early.refresh_from_db()
    late.refresh_from_db()
    assert early.pk < late.pk and early.sequence > late.sequence  # id order is not commit order
    rest, _ = follow_feed(api, first["next"])
    assert _ids(rest) == [str(early.public_id)]
    assert sorted(_ids(first["results"] + rest)) == sorted([str(early.public_id), str(late.public_id)])


@pytest.mark.services
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (DATABASE_URL)"
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_two_transactions_that_commit_out_of_order_are_each_seen_once(
    st_mary: Party, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    """Two real transactions in two threads on PostgreSQL: the one that created its event first
    commits last. A poller that reads between the commits and then follows `next` sees both,
    once; the webhook receiver gets both, once."""
    hook = register(st_mary, receiver.url)
    api = st_mary.api("client:read_only")
    _, resume = follow_feed(api)
    first_created, second_committed, release_first = threading.Event(), threading.Event(), threading.Event()
    ids: dict[str, int] = {}
    errors: list[BaseException] = []
    org = st_mary.organization

    def first() -> None:
        try:
            with transaction.atomic():
                ids["first"] = event_emit(type="trial.requested", subject=org, organization=org).pk
                first_created.set()
                assert release_first.wait(20)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            assert first_created.wait(20)
            with transaction.atomic():
                ids["second"] = event_emit(type="trial.approved", subject=org, organization=org).pk
        except BaseException as exc:
            errors.append(exc)
        finally:
            second_committed.set()
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    try:
        assert second_committed.wait(20)
        assert not errors, errors
        between = api.get(resume).json()  # the first transaction is still open
        assert [e["type"] for e in between["results"]] == ["trial.approved"]
    finally:
        release_first.set()
        for thread in threads:
            thread.join(20)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    early, late = Event.objects.get(pk=ids["first"]), Event.objects.get(pk=ids["second"])
    assert early.pk < late.pk and early.sequence > late.sequence
    rest, _ = follow_feed(api, between["next"])
    seen = _ids(between["results"] + rest)
    assert seen == [str(late.public_id), str(early.public_id)]
    # The webhooks fan-out (it follows the same sequence) delivered each once too.
    assert sorted(r.json["id"] for r in receiver.requests()) == sorted(seen)
    assert len(hook.deliveries()) == 2
