"""Webhook fixtures: a live receiver, endpoints registered through the API, a controllable clock,
and events emitted and sequenced the way the services do it."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone

from apps.organizations.models import Organization
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from marketplace.events import event_emit, events_assign_sequence
from marketplace.models import Event
from tests.conftest import Party
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 200, stopped when the test ends."""
    with Receiver() as running:
        yield running


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    """`receiver_factory(answer=500, delay=2)`: more receivers, all stopped at the end."""
    made: list[Receiver] = []

    def make(**options: Any) -> Receiver:
        running = Receiver(**options).start()
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()


@dataclass
class Registered:
    """An endpoint as its organization's admin registered it, and its secret (shown once)."""

    id: str
    secret: str
    body: dict[str, Any]

    @property
    def endpoint(self) -> WebhookEndpoint:
        return WebhookEndpoint.objects.get(public_id=self.id)

    def deliveries(self) -> list[WebhookDelivery]:
        return list(WebhookDelivery.objects.filter(endpoint__public_id=self.id).order_by("event__sequence", "id"))


def register(party: Party, url: str, **fields: Any) -> Registered:
    """Register an endpoint through the API as `party`'s admin."""
    response = party.api("admin").post("/api/v1/webhooks/endpoints/", {"url": url, **fields}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    return Registered(id=body["id"], secret=body["secret"], body=body)


def emit(
    organization: Organization,
    type: str = "trial.requested",
    *,
    counterparty: Organization | None = None,
    data: dict[str, Any] | None = None,
    sequence: bool = True,
) -> Event:
    """An event the way a service writes it (the organization as its subject); sequenced at once
    unless `sequence=False` (the tests' transactions never commit, so nothing does it for them)."""
    event = event_emit(
        type=type, subject=organization, organization=organization, counterparty=counterparty, data=data or {}
    )
    if sequence:
        events_assign_sequence()
        event.refresh_from_db()
    return event


def visible_events(party: Party) -> list[Event]:
    """The sequenced events `party`'s organization may see, in feed order."""
    org = party.organization
    return list(
        Event.objects.filter(Q(organization=org) | Q(counterparty=org), sequence__isnull=False).order_by("sequence")
    )


def follow_feed(api: Any, url: str = "/api/v1/events/", **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Read the feed from `url`, following `next` until a page comes back empty; return the
    events and the `next` of that empty page (where a poller resumes)."""
    response = api.get(url, params or None)
    seen: list[dict[str, Any]] = []
    for _ in range(200):
        assert response.status_code == 200, response.content
        page = response.json()
        assert set(page) == {"next", "results"} and page["next"], page
        if not page["results"]:
            return seen, page["next"]
        seen.extend(page["results"])
        response = api.get(page["next"])
    raise AssertionError("the feed never ended")


class Clock:
    """`timezone.now()` under the test's control (services, models and the sweep read it); the
    wall clock (`time.time()`, which signs the webhook timestamp) keeps running."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`fake_dns["hooks.integrator.example"] = "127.0.0.1"`: names answered by the test, every
    other name by the real resolver."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in answers:
            return real(answers[name], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers
