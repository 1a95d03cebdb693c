"""The shared API contract every resource's tests run (NetBox's `APIViewTestCases`, for pytest).

A resource test subclasses `ApiContract` and only declares its data:

    class TestSitesApi(ApiContract):
        model = Site
        readers = PARTY_CALLERS | {OPERATOR}
        writers = frozenset({"admin", "client:admin"})
        bad_inputs = (BadInput("blank name", {"name": ""}, "name"), ...)

        def list_url(self, party): ...
        def detail_url(self, party, obj): ...
        def make(self, party): ...           # an object owned by `party`
        def create_payload(self, party): ...

and gets the generic checks: anonymous gets 401 (or 200 where public read is declared), a
wrong role gets 403 in the one error shape, another organization's object is a 404 and never
listed, bad input is a 400 naming the field with nothing written, ids/owners/status in a
payload are ignored or refused, lists are paginated with `page_size` capped at 100, and no
input gives a 500.

Callers are named as in `Party.api`: "admin", "member", "client:read_only", "client:member",
"client:admin", plus "anonymous" and "operator" (a platform operator's session).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from django.db.models import Model, QuerySet
from rest_framework.test import APIClient

from tests.conftest import Party, assert_error

ANONYMOUS = "anonymous"
OPERATOR = "operator"
PARTY_CALLERS: frozenset[str] = frozenset({"admin", "member", "client:read_only", "client:member", "client:admin"})
ALL_CALLERS: frozenset[str] = PARTY_CALLERS | {ANONYMOUS, OPERATOR}
ADMINS: frozenset[str] = frozenset({"admin", "client:admin"})
# A stable order for parametrized test ids.
_CALLER_ORDER = ("anonymous", "client:read_only", "client:member", "member", "client:admin", "admin", "operator")

# What a mass-assignment attempt tries to set; a resource adds its own status fields.
INJECTED_ID = "00000000-0000-4000-8000-00000000dead"
INJECTED_TIME = "2000-01-01T00:00:00Z"
# Status timestamps a client must never set by sending them.
STATUS_TIMESTAMPS = ("archived_at", "revoked_at", "verified_at", "accepted_at")
# Values of the wrong type or size, sent in place of each field of a valid payload.
ODD_VALUES: tuple[Any, ...] = (None, [], {"nested": {"deeper": [1, 2]}}, "x" * 10_000, 10**30, True, "\x00")


@dataclass(frozen=True)
class BadInput:
    """A payload that must be refused with 400 naming `field`."""

    label: str
    payload: dict[str, Any]
    field: str


def _ordered(callers: frozenset[str] | set[str]) -> list[str]:
    return sorted(callers, key=lambda c: _CALLER_ORDER.index(c) if c in _CALLER_ORDER else len(_CALLER_ORDER))


def _params(values: list[Any], ids: list[str], reason: str) -> tuple[list[Any], list[str]]:
    """Parameters, or one skipped placeholder saying why there is nothing to check."""
    if values:
        return values, ids
    return [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ["none"]


def denied_status(caller: str) -> int:
    """What a caller without the right gets: 401 when nobody signed in, else 403."""
    return 401 if caller == ANONYMOUS else 403


class ApiContract:
    """Subclass with the declarations below; pytest collects the generic `test_contract_*`."""

    # --- declarations -------------------------------------------------------------------
    model: ClassVar[type[Model]]
    owner: ClassVar[str] = "st_mary"  # fixture of the party owning the objects under test
    stranger: ClassVar[str] = "northside"  # fixture of another organization
    readers: ClassVar[frozenset[str]] = frozenset()  # may list and retrieve
    writers: ClassVar[frozenset[str]] = frozenset()  # may update and delete
    creators: ClassVar[frozenset[str] | None] = None  # may create (default: writers)
    actions: ClassVar[dict[str, frozenset[str]]] = {}  # POST detail verbs -> who may call them
    can_create: ClassVar[bool] = True
    can_update: ClassVar[bool] = True
    can_delete: ClassVar[bool] = True
    tenant_scoped: ClassVar[bool] = True  # False for public directories: nothing to hide
    result_key: ClassVar[str] = "id"  # the field of a result naming the object
    bad_inputs: ClassVar[tuple[BadInput, ...]] = ()
    bad_updates: ClassVar[tuple[BadInput, ...]] = ()
    mass_assignment_extra: ClassVar[dict[str, Any]] = {}

    def list_url(self, party: Party) -> str:
        raise NotImplementedError

    def detail_url(self, party: Party, obj: Model) -> str:
        raise NotImplementedError

    def make(self, party: Party) -> Model:
        """An object owned by `party`."""
        raise NotImplementedError

    def make_many(self, party: Party, count: int) -> None:
        for _ in range(count):
            self.make(party)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {}

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {}

    def key(self, obj: Model) -> str:
        return str(obj.public_id)  # type: ignore[attr-defined]

    def find(self, body: dict[str, Any]) -> Model:
        """The row a create answer describes."""
        return self.model.objects.get(public_id=body[self.result_key])

    def owned_by(self, obj: Model, party: Party) -> bool:
        return obj.organization_id == party.organization.pk  # type: ignore[attr-defined]

    def rows(self) -> QuerySet:
        return self.model.objects.all()

    def assert_deleted(self, obj: Model) -> None:
        """After a successful DELETE (resources that archive or revoke override this)."""
        assert not self.model.objects.filter(pk=obj.pk).exists()

    # --- fixtures and helpers ---------------------------------------------------------------

    @pytest.fixture
    def owner_party(self, request: pytest.FixtureRequest) -> Party:
        return request.getfixturevalue(self.owner)

    @pytest.fixture
    def stranger_party(self, request: pytest.FixtureRequest, owner_party: Party) -> Party:
        return request.getfixturevalue(self.stranger)

    @pytest.fixture
    def obj(self, owner_party: Party) -> Model:
        return self.make(owner_party)

    @pytest.fixture
    def call_as(self, request: pytest.FixtureRequest) -> Any:
        """`call_as(caller, party)` -> an APIClient signed in as that caller of that party."""

        def _api(caller: str, party: Party) -> APIClient:
            if caller == ANONYMOUS:
                return APIClient()
            if caller == OPERATOR:
                api = APIClient()
                api.force_login(request.getfixturevalue("operator"))
                return api
            return party.api(caller)

        return _api

    def _creators(self) -> frozenset[str]:
        return self.writers if self.creators is None else self.creators

    def _snapshot(self, obj: Model) -> dict[str, Any] | None:
        return self.model.objects.filter(pk=obj.pk).values().first()

    def _keys(self, response: Any) -> set[str]:
        assert response.status_code == 200, (response.status_code, response.content[:500])
        return {str(result[self.result_key]) for result in response.json()["results"]}

    def _first_reader(self) -> str:
        for caller in ("admin", "client:admin", "member", "operator", "anonymous"):
            if caller in self.readers:
                return caller
        raise AssertionError("declare at least one reader")

    def _writer(self) -> str:
        return "admin" if "admin" in self.writers else _ordered(self.writers)[-1]

    # --- parametrization ----------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        creators, writers = self._creators(), self.writers
        lists: dict[str, tuple[list[Any], list[str], str]] = {}

        def callers(name: str, chosen: frozenset[str] | set[str], reason: str) -> None:
            ordered = _ordered(chosen)
            lists[name] = (ordered, ordered, reason)

        callers("reader", self.readers, "nobody may read")
        callers("non_reader", ALL_CALLERS - self.readers, "everyone may read")
        callers("creator", creators if self.can_create else set(), "nothing is created here")
        callers("non_creator", ALL_CALLERS - creators if self.can_create else set(), "everyone may create")
        callers("writer", writers if self.can_update else set(), "nothing is updated here")
        callers("non_writer", ALL_CALLERS - writers if self.can_update else set(), "everyone may update")
        callers("deleter", writers if self.can_delete else set(), "nothing is deleted here")
        callers("non_deleter", ALL_CALLERS - writers if self.can_delete else set(), "everyone may delete")
        allowed = [(verb, c) for verb, who in self.actions.items() for c in _ordered(who)]
        denied = [(verb, c) for verb, who in self.actions.items() for c in _ordered(ALL_CALLERS - who)]
        lists["allowed_action"] = (allowed, [f"{v}-{c}" for v, c in allowed], "no actions")
        lists["denied_action"] = (denied, [f"{v}-{c}" for v, c in denied], "no actions, or anyone may act")
        lists["verb"] = (list(self.actions), list(self.actions), "no actions")
        lists["bad_input"] = (list(self.bad_inputs), [b.label for b in self.bad_inputs], "no bad inputs declared")
        lists["bad_update"] = (list(self.bad_updates), [b.label for b in self.bad_updates], "no bad updates declared")
        missing = [
            method
            for method, offered in (("POST", self.can_create), ("PATCH", self.can_update), ("DELETE", self.can_delete))
            if not offered
        ]
        lists["missing_method"] = (missing, missing, "every method is offered")
        for name, (values, ids, reason) in lists.items():
            if name in metafunc.fixturenames:
                values, ids = _params(values, ids, reason)
                metafunc.parametrize(name, values, ids=ids)

    # --- reading ------------------------------------------------------------------------

    def test_contract_readers_list_and_retrieve(
        self, reader: str, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        api = call_as(reader, owner_party)
        assert self.key(obj) in self._keys(api.get(self.list_url(owner_party)))
        response = api.get(self.detail_url(owner_party, obj))
        assert response.status_code == 200, response.content[:500]
        assert str(response.json()[self.result_key]) == self.key(obj)

    def test_contract_others_may_not_read(self, non_reader: str, owner_party: Party, obj: Model, call_as: Any) -> None:
        api = call_as(non_reader, owner_party)
        assert_error(api.get(self.list_url(owner_party)), denied_status(non_reader))
        assert_error(api.get(self.detail_url(owner_party, obj)), denied_status(non_reader))

    # --- writing ------------------------------------------------------------------------

    def test_contract_creators_create(self, creator: str, owner_party: Party, call_as: Any) -> None:
        before = self.rows().count()
        response = call_as(creator, owner_party).post(self.list_url(owner_party), self.create_payload(owner_party))
        assert response.status_code == 201, response.content[:500]
        assert self.rows().count() == before + 1
        created = self.find(response.json())
        assert self.owned_by(created, owner_party)

    def test_contract_others_may_not_create(self, non_creator: str, owner_party: Party, call_as: Any) -> None:
        before = self.rows().count()
        response = call_as(non_creator, owner_party).post(self.list_url(owner_party), self.create_payload(owner_party))
        assert_error(response, denied_status(non_creator))
        assert self.rows().count() == before

    def test_contract_writers_update(self, writer: str, owner_party: Party, obj: Model, call_as: Any) -> None:
        response = call_as(writer, owner_party).patch(
            self.detail_url(owner_party, obj), self.update_payload(owner_party)
        )
        assert response.status_code == 200, response.content[:500]

    def test_contract_others_may_not_update(
        self, non_writer: str, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        before = self._snapshot(obj)
        response = call_as(non_writer, owner_party).patch(
            self.detail_url(owner_party, obj), self.update_payload(owner_party)
        )
        assert_error(response, denied_status(non_writer))
        assert self._snapshot(obj) == before

    def test_contract_deleters_delete(self, deleter: str, owner_party: Party, obj: Model, call_as: Any) -> None:
        response = call_as(deleter, owner_party).delete(self.detail_url(owner_party, obj))
        assert response.status_code in (200, 204), response.content[:500]
        self.assert_deleted(obj)

    def test_contract_others_may_not_delete(
        self, non_deleter: str, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        before = self._snapshot(obj)
        assert_error(
            call_as(non_deleter, owner_party).delete(self.detail_url(owner_party, obj)), denied_status(non_deleter)
        )
        assert self._snapshot(obj) == before

    def test_contract_allowed_callers_pass_the_action_gate(
        self, allowed_action: tuple[str, str], owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        verb, caller = allowed_action
        response = call_as(caller, owner_party).post(f"{self.detail_url(owner_party, obj)}{verb}/")
        # The action may still refuse on the object's state (400, 409); the caller may call it.
        assert response.status_code not in (401, 403, 404, 405) and response.status_code < 500, response.content[:500]

    def test_contract_others_may_not_act(
        self, denied_action: tuple[str, str], owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        verb, caller = denied_action
        before = self._snapshot(obj)
        response = call_as(caller, owner_party).post(f"{self.detail_url(owner_party, obj)}{verb}/")
        assert_error(response, denied_status(caller))
        assert self._snapshot(obj) == before

    def test_contract_methods_not_offered_answer_405(
        self, missing_method: str, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        api = call_as("admin", owner_party)
        if missing_method == "POST":
            response = api.post(self.list_url(owner_party), {})
        else:
            response = api.generic(missing_method, self.detail_url(owner_party, obj), "{}", "application/json")
        assert_error(response, 405, code="method_not_allowed")

    # --- tenancy ------------------------------------------------------------------------

    def test_contract_another_organization_gets_404(
        self, owner_party: Party, stranger_party: Party, obj: Model, call_as: Any
    ) -> None:
        if not self.tenant_scoped:
            pytest.skip("a public directory: other organizations' objects are meant to be seen")
        before = self._snapshot(obj)
        for caller in ("admin", "client:admin"):
            api = call_as(caller, stranger_party)
            # Through the owner's address and through the stranger's own address.
            for url in {self.detail_url(owner_party, obj), self.detail_url(stranger_party, obj)}:
                assert_error(api.get(url), 404)
                if self.can_update:
                    assert_error(api.patch(url, self.update_payload(stranger_party)), 404)
                if self.can_delete:
                    assert_error(api.delete(url), 404)
                for verb in self.actions:
                    assert_error(api.post(f"{url}{verb}/"), 404)
        assert self._snapshot(obj) == before

    def test_contract_another_organization_never_lists_it(
        self, owner_party: Party, stranger_party: Party, obj: Model, call_as: Any
    ) -> None:
        if not self.tenant_scoped:
            pytest.skip("a public directory: other organizations' objects are meant to be seen")
        self.make(stranger_party)  # the stranger's own list is not empty
        for caller in ("admin", "client:admin", "client:read_only"):
            api = call_as(caller, stranger_party)
            own = api.get(self.list_url(stranger_party))
            if own.status_code == 200:
                assert self.key(obj) not in self._keys(own)
            else:  # a role that may not list its own either
                assert_error(own, 403)
            if self.list_url(owner_party) != self.list_url(stranger_party):
                assert_error(api.get(self.list_url(owner_party)), 404)
                if self.can_create:
                    before = self.rows().count()
                    assert_error(api.post(self.list_url(owner_party), self.create_payload(owner_party)), 404)
                    assert self.rows().count() == before

    # --- input --------------------------------------------------------------------------

    def test_contract_bad_input_names_the_field(self, bad_input: BadInput, owner_party: Party, call_as: Any) -> None:
        before = self.rows().count()
        response = call_as(self._writer_for_create(), owner_party).post(self.list_url(owner_party), bad_input.payload)
        assert_error(response, 400, field=bad_input.field)
        assert self.rows().count() == before

    def test_contract_bad_update_names_the_field(
        self, bad_update: BadInput, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        before = self._snapshot(obj)
        response = call_as(self._writer(), owner_party).patch(self.detail_url(owner_party, obj), bad_update.payload)
        assert_error(response, 400, field=bad_update.field)
        assert self._snapshot(obj) == before

    def _writer_for_create(self) -> str:
        creators = self._creators()
        return "admin" if "admin" in creators else _ordered(creators)[-1]

    def _mass_assignment(self, stranger: Party) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": INJECTED_ID,
            "public_id": INJECTED_ID,
            "pk": 987654,
            "organization": stranger.organization.slug,
            "organization_id": stranger.organization.pk,
            "owner": stranger.organization.slug,
            "status": "active",
            "created_at": INJECTED_TIME,
            "updated_at": INJECTED_TIME,
        }
        values.update(dict.fromkeys(STATUS_TIMESTAMPS, INJECTED_TIME))
        values.update(self.mass_assignment_extra)
        return values

    def test_contract_mass_assignment_on_create_is_ignored(
        self, owner_party: Party, stranger_party: Party, call_as: Any
    ) -> None:
        if not self.can_create:
            pytest.skip("nothing is created here")
        before = self.rows().count()
        payload = {**self._mass_assignment(stranger_party), **self.create_payload(owner_party)}
        response = call_as(self._writer_for_create(), owner_party).post(self.list_url(owner_party), payload)
        if response.status_code == 400:  # refusing is fine too, as long as nothing is written
            assert_error(response, 400)
            assert self.rows().count() == before
            return
        assert response.status_code == 201, response.content[:500]
        created = self.find(response.json())
        assert self.owned_by(created, owner_party) and not self.owned_by(created, stranger_party)
        assert str(getattr(created, "public_id", "")) != INJECTED_ID
        assert created.pk != 987654
        assert getattr(created, "created_at", None) is None or created.created_at.year != 2000
        for name in STATUS_TIMESTAMPS:
            assert getattr(created, name, None) is None, name
        self.assert_created_plainly(created)

    def assert_created_plainly(self, created: Model) -> None:
        """Resource-specific checks that a mass-assigned create set nothing it should not."""

    def test_contract_mass_assignment_on_update_is_ignored(
        self, owner_party: Party, stranger_party: Party, obj: Model, call_as: Any
    ) -> None:
        if not self.can_update:
            pytest.skip("nothing is updated here")
        update = self.update_payload(owner_party)
        before = self._snapshot(obj)
        payload = {**self._mass_assignment(stranger_party), **update}
        response = call_as(self._writer(), owner_party).patch(self.detail_url(owner_party, obj), payload)
        assert response.status_code in (200, 400), response.content[:500]
        after = self._snapshot(obj)
        assert before is not None and after is not None
        changed = {name for name in before if before[name] != after[name]}
        assert changed <= {*update, "updated_at"}, changed

    def test_contract_unknown_fields_and_odd_values_never_500(
        self, owner_party: Party, obj: Model, call_as: Any
    ) -> None:
        api = call_as(self._first_reader(), owner_party)
        response = api.get(
            self.list_url(owner_party), {"no_such_filter": "x", "ordering": "nonsense", "page_size": "x"}
        )
        assert response.status_code == 200, response.content[:500]
        if self.can_create:
            api = call_as(self._writer_for_create(), owner_party)
            valid = self.create_payload(owner_party)
            for body in ({**valid, "no_such_field": "x"}, [valid], "just a string", 42):
                assert api.post(self.list_url(owner_party), body, format="json").status_code < 500
            for name in valid:
                for odd in ODD_VALUES:
                    response = api.post(self.list_url(owner_party), {**valid, name: odd}, format="json")
                    assert response.status_code < 500, (name, odd, response.content[:300])
                    if response.status_code >= 400:
                        assert_error(response, response.status_code)
        if self.can_update:
            api = call_as(self._writer(), owner_party)
            url = self.detail_url(owner_party, obj)
            for body in ({"no_such_field": "x"}, ["not", "an", "object"]):
                assert api.patch(url, body, format="json").status_code < 500
            for name in self.update_payload(owner_party):
                for odd in ODD_VALUES:
                    response = api.patch(url, {name: odd}, format="json")
                    assert response.status_code < 500, (name, odd, response.content[:300])

    def test_contract_unknown_or_malformed_ids_are_refused(self, owner_party: Party, obj: Model, call_as: Any) -> None:
        api = call_as(self._first_reader(), owner_party)
        url = self.detail_url(owner_party, obj)
        for odd in (INJECTED_ID, "not-an-id", "x" * 300, "%E2%82%AC", "%00", "..%2F..%2Fetc"):
            response = api.get(url.replace(self.key(obj), odd, 1))
            assert response.status_code in (400, 404), (odd, response.status_code, response.content[:300])
            assert_error(response, response.status_code)
        for method in ("options", "head"):
            assert getattr(api, method)(url).status_code < 400
            assert getattr(api, method)(self.list_url(owner_party)).status_code < 400

    # --- lists --------------------------------------------------------------------------

    def test_contract_list_is_paginated_and_capped_at_100(self, owner_party: Party, call_as: Any) -> None:
        self.make_many(owner_party, 101)
        api = call_as(self._first_reader(), owner_party)
        url = self.list_url(owner_party)

        first = api.get(url)
        assert first.status_code == 200
        body = first.json()
        assert set(body) == {"count", "next", "previous", "results"}, set(body)
        assert body["count"] >= 101 and len(body["results"]) == 25
        assert body["previous"] is None and "page=2" in body["next"]

        capped = api.get(url, {"page_size": 1000}).json()
        assert len(capped["results"]) == 100 and capped["next"] is not None

        last = api.get(url, {"page_size": 100, "page": 2}).json()
        assert len(last["results"]) == body["count"] - 100 and last["next"] is None
        assert not self._keys_of(capped) & self._keys_of(last)  # pages do not overlap

        assert_error(api.get(url, {"page": 999}), 404)

    def _keys_of(self, body: dict[str, Any]) -> set[str]:
        return {str(result[self.result_key]) for result in body["results"]}
