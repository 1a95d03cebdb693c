"""Who may do what to quotes, orders, trial conversions and subscriptions (DOMAIN.md, "Who may do
what"): one table, every action against every role, the exact status of each cell, and nothing
changed by a refusal. Then: every buying list shows another organization nothing, and every
detail is a 404 for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Model
from rest_framework.test import APIClient

from apps.procurement.models import (
    Entitlement,
    License,
    Order,
    Quote,
    QuoteRequest,
    Subscription,
    Trial,
)
from apps.provisioning.models import Deployment
from marketplace.models import AuditEntry, Event, OutgoingEmail
from tests.conftest import Party, assert_error
from tests.procurement.buying import (
    ENTITLEMENTS,
    LICENSES,
    ORDERS,
    QUOTES,
    SUBSCRIPTIONS,
    TRIALS,
    buy_listing,
    issue_payload,
    order_payload,
    place_order,
    quote_in_state,
    quote_payload,
    subscription_in_state,
    terms_for,
    url,
)
from tests.procurement.factories import trial_in_state

pytestmark = pytest.mark.django_db

# Every role, named "<side> <caller>" where the caller is as in `Party.api`.
PROVIDER_ADMINS = frozenset({"provider admin", "provider client:admin"})
PROVIDER_MEMBERS = PROVIDER_ADMINS | {"provider member", "provider client:member"}
VENDOR_ADMINS = frozenset({"vendor admin", "vendor client:admin"})
VENDOR_MEMBERS = VENDOR_ADMINS | {"vendor member", "vendor client:member"}
OTHER_ADMINS = frozenset({"other admin", "other client:admin"})  # northside, a provider
OPERATOR = "operator"
ANONYMOUS = "anonymous"
ROLES = (
    "provider admin",
    "provider client:admin",
    "provider member",
    "provider client:member",
    "provider client:read_only",
    "vendor admin",
    "vendor client:admin",
    "vendor member",
    "vendor client:member",
    "vendor client:read_only",
    "other admin",
    "other client:admin",
    OPERATOR,
    ANONYMOUS,
)
SIDES = {"provider": "st_mary", "vendor": "radiant", "other": "northside"}


@dataclass
class World:
    st_mary: Party
    radiant: Party
    northside: Party
    capture: Any
    settings: Any


@dataclass(frozen=True)
class Action:
    """One row of the table: how to set the object up, how to call the action, who may."""

    name: str
    setup: Callable[[World], Any]
    path: Callable[[Any], str]
    body: Callable[[Any], dict[str, Any]]
    allowed: frozenset[str]
    done: Callable[[Any, dict[str, Any], World], None]
    creates: bool = False

    def expected(self, role: str) -> int:
        if role == ANONYMOUS:
            return 401
        if role in self.allowed:
            return 201 if self.creates else 200
        if role.startswith("other ") and not self.creates:
            return 404  # another organization's object does not exist for it
        return 403


def _quote(state: str) -> Callable[[World], QuoteRequest]:
    return lambda w: quote_in_state(state, provider=w.st_mary.organization, vendor=w.radiant.organization)


def _subscription(state: str) -> Callable[[World], Subscription]:
    return lambda w: subscription_in_state(
        state, provider=w.st_mary.organization, vendor=w.radiant.organization, capture=w.capture
    )


def _active_trial(w: World) -> Trial:
    return trial_in_state(
        "active",
        provider=w.st_mary.organization,
        vendor=w.radiant.organization,
        capture=w.capture,
        settings=w.settings,
    )


def _status_is(status: str) -> Callable[[Any, dict[str, Any], World], None]:
    def check(obj: Any, body: dict[str, Any], world: World) -> None:
        obj.refresh_from_db()
        assert obj.status == status and body["status"] == status, (obj.status, body["status"])

    return check


def _accepted(obj: QuoteRequest, body: dict[str, Any], world: World) -> None:
    _status_is("accepted")(obj, body, world)
    assert Order.objects.filter(quote_request=obj).exists()


def _converted(obj: Trial, body: dict[str, Any], world: World) -> None:
    _status_is("converted")(obj, body, world)
    assert Order.objects.filter(trial=obj, source="trial").exists()


def _created_quote_request(obj: Any, body: dict[str, Any], world: World) -> None:
    created = QuoteRequest.objects.get(public_id=body["id"])
    assert created.status == "requested" and created.vendor_id == world.radiant.organization.pk


def _created_order(obj: Any, body: dict[str, Any], world: World) -> None:
    created = Order.objects.get(public_id=body["id"])
    assert created.source == "direct" and created.vendor_id == world.radiant.organization.pk


REASON = {"reason": "As agreed on the phone."}
ACTIONS = [
    Action(
        "quote request",
        setup=lambda w: buy_listing(w.radiant.organization),
        path=lambda listing: QUOTES,
        body=lambda listing: quote_payload(listing),
        allowed=PROVIDER_MEMBERS | OTHER_ADMINS,  # another provider asks for its own quote
        done=_created_quote_request,
        creates=True,
    ),
    Action(
        "quote cancel",
        setup=_quote("requested"),
        path=lambda q: url(QUOTES, q, "cancel"),
        body=lambda q: REASON,
        allowed=PROVIDER_MEMBERS,
        done=_status_is("cancelled"),
    ),
    Action(
        "quote decline",
        setup=_quote("quoted"),
        path=lambda q: url(QUOTES, q, "decline"),
        body=lambda q: REASON,
        allowed=PROVIDER_MEMBERS,
        done=_status_is("declined"),
    ),
    Action(
        "quote accept",
        setup=_quote("quoted"),
        path=lambda q: url(QUOTES, q, "accept"),
        body=lambda q: {"accepted_terms": terms_for(q.listing)},
        allowed=PROVIDER_ADMINS,
        done=_accepted,
    ),
    Action(
        "quote issue",
        setup=_quote("requested"),
        path=lambda q: url(QUOTES, q, "issue"),
        body=lambda q: issue_payload(),
        allowed=VENDOR_MEMBERS,
        done=_status_is("quoted"),
    ),
    Action(
        "quote withdraw",
        setup=_quote("requested"),
        path=lambda q: url(QUOTES, q, "withdraw"),
        body=lambda q: REASON,
        allowed=VENDOR_MEMBERS,
        done=_status_is("withdrawn"),
    ),
    Action(
        "order place",
        setup=lambda w: buy_listing(w.radiant.organization),
        path=lambda listing: ORDERS,
        body=lambda listing: order_payload(listing),
        allowed=PROVIDER_ADMINS | OTHER_ADMINS,  # another provider buys for itself
        done=_created_order,
        creates=True,
    ),
    Action(
        "trial convert",
        setup=_active_trial,
        path=lambda t: url(TRIALS, t, "convert"),
        body=lambda t: {"accepted_terms": terms_for(t.listing)},
        allowed=PROVIDER_ADMINS,
        done=_converted,
    ),
    Action(
        "subscription suspend",
        setup=_subscription("active"),
        path=lambda s: url(SUBSCRIPTIONS, s, "suspend"),
        body=lambda s: REASON,
        allowed=VENDOR_ADMINS | {OPERATOR},
        done=_status_is("suspended"),
    ),
    Action(
        "subscription resume",
        setup=_subscription("suspended"),
        path=lambda s: url(SUBSCRIPTIONS, s, "resume"),
        body=lambda s: REASON,
        allowed=VENDOR_ADMINS | {OPERATOR},
        done=_status_is("active"),
    ),
    Action(
        "subscription cancel",
        setup=_subscription("active"),
        path=lambda s: url(SUBSCRIPTIONS, s, "cancel"),
        body=lambda s: REASON,
        allowed=PROVIDER_ADMINS | {OPERATOR},
        done=_status_is("cancelled"),
    ),
]
CELLS = [(action, role) for action in ACTIONS for role in ROLES]


def _api(role: str, world: World, request: pytest.FixtureRequest) -> APIClient:
    if role == ANONYMOUS:
        return APIClient()
    if role == OPERATOR:
        api = APIClient()
        api.force_login(request.getfixturevalue("operator"))
        return api
    side, caller = role.split(" ", 1)
    return getattr(world, SIDES[side]).api(caller)


def _everything() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            QuoteRequest,
            Quote,
            Order,
            Subscription,
            Entitlement,
            License,
            Trial,
            Deployment,
            AuditEntry,
            Event,
            OutgoingEmail,
        )
    }


def _row(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, Model):
        return None
    return type(obj).objects.filter(pk=obj.pk).values().first()


@pytest.fixture
def world(
    st_mary: Party, radiant: Party, northside: Party, django_capture_on_commit_callbacks: Any, settings: Any
) -> World:
    return World(st_mary, radiant, northside, django_capture_on_commit_callbacks, settings)


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a.name}-{r}" for a, r in CELLS])
def test_permission_matrix(action: Action, role: str, world: World, request: pytest.FixtureRequest) -> None:
    obj = action.setup(world)
    before, row = _everything(), _row(obj)
    response = _api(role, world, request).post(action.path(obj), action.body(obj), format="json")
    expected = action.expected(role)
    if expected >= 400:
        assert_error(response, expected)
        assert _everything() == before
        assert _row(obj) == row
        return
    assert response.status_code == expected, (response.status_code, response.content[:500])
    action.done(obj, response.json(), world)
    if action.creates:  # created for the caller's own organization, whoever that is
        created = {"quote request": QuoteRequest, "order place": Order}[action.name]
        provider = getattr(world, SIDES[role.split(" ", 1)[0]]).organization
        assert created.objects.get(public_id=response.json()["id"]).provider_id == provider.pk


def test_the_table_covers_the_domain() -> None:
    """The table above is DOMAIN.md's, cell by cell, for the points most likely to regress."""
    by_name = {action.name: action for action in ACTIONS}
    assert by_name["quote accept"].expected(OPERATOR) == 403  # operators never accept for a provider
    assert by_name["quote issue"].expected(OPERATOR) == 403
    assert by_name["order place"].expected(OPERATOR) == 403
    assert by_name["trial convert"].expected(OPERATOR) == 403
    assert by_name["subscription suspend"].expected(OPERATOR) == 200
    assert by_name["subscription cancel"].expected("vendor admin") == 403
    assert by_name["subscription suspend"].expected("vendor member") == 403
    assert by_name["quote accept"].expected("provider member") == 403
    assert by_name["quote cancel"].expected("other admin") == 404
    assert all(action.expected("provider client:read_only") == 403 for action in ACTIONS)
    assert all(action.expected("vendor client:read_only") == 403 for action in ACTIONS)


# --- lists and details: another organization sees nothing ---------------------------------------------


def _one_of_everything(world: World) -> dict[str, list[str]]:
    """St. Mary's buys from Radiant: a quote request, a converted trial's order, a direct order,
    with their subscriptions, entitlements and licenses (trial and subscription licenses)."""
    st_mary, radiant = world.st_mary.organization, world.radiant.organization
    quote_request = quote_in_state("quoted", provider=st_mary, vendor=radiant)
    _active_trial(world)
    order = place_order(st_mary, buy_listing(radiant, slug="bought-app"), capture=world.capture)
    return {
        QUOTES: [str(quote_request.public_id)],
        ORDERS: [str(order.public_id)],
        SUBSCRIPTIONS: [str(s.public_id) for s in Subscription.objects.all()],
        ENTITLEMENTS: [str(e.public_id) for e in Entitlement.objects.all()],
        LICENSES: [str(lic.public_id) for lic in License.objects.all()],
    }


def test_every_buying_list_shows_another_organization_nothing(
    world: World, orbit: Party, request: pytest.FixtureRequest
) -> None:
    objects = _one_of_everything(world)
    assert all(objects.values())
    assert any(
        License.objects.filter(public_id=lic, trial__isnull=False).exists() for lic in objects[LICENSES]
    )  # a trial's license too
    outsiders = [
        world.northside.api("admin"),
        world.northside.api("client:admin"),
        world.northside.api("client:read_only"),
        orbit.api("admin"),
        orbit.api("client:member"),
    ]
    for base, ids in objects.items():
        # The two parties and the operator see them ...
        for api in (world.st_mary.api("client:read_only"), world.radiant.api("member"), _api(OPERATOR, world, request)):
            listed = {result["id"] for result in api.get(base).json()["results"]}
            assert set(ids) <= listed, (base, api)
        # ... nobody else, neither in the list nor by address.
        for api in outsiders:
            response = api.get(base)
            assert response.status_code == 200, (base, response.content[:300])
            assert response.json()["count"] == 0 and response.json()["results"] == [], base
            for object_id in ids:
                assert_error(api.get(f"{base}{object_id}/"), 404)


def test_every_buying_list_is_closed_to_anonymous_callers(world: World) -> None:
    objects = _one_of_everything(world)
    anonymous = APIClient()
    for base, ids in objects.items():
        assert_error(anonymous.get(base), 401)
        assert_error(anonymous.get(f"{base}{ids[0]}/"), 401)
