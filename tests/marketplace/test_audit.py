"""The audit log: who did what, from where, with old and new values; readable by the
organization's admins (their own entries only) and by operators; append-only in the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from apps.organizations.models import Site
from marketplace.audit import audit_record
from marketplace.models import AuditEntry
from marketplace.principal import SYSTEM
from tests.conftest import Party, assert_error
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/api/v1/audit-log/"


def sites_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/sites/"


def test_an_entry_names_the_member_the_request_and_the_address(st_mary: Party) -> None:
    site = SiteFactory(organization=st_mary.organization, name="Central", city="Hamburg")
    response = st_mary.api("admin").patch(
        f"{sites_url(st_mary)}{site.public_id}/",
        {"city": "Lübeck"},
        HTTP_X_REQUEST_ID="change-ticket-1234",
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 200

    entry = AuditEntry.objects.get(action="organizations.site.updated")
    assert entry.actor_kind == "member"
    assert entry.actor_id == str(st_mary.admin.public_id)
    assert entry.actor_label == st_mary.admin.email
    assert entry.request_id == "change-ticket-1234"
    assert entry.client_address == "203.0.113.7"
    assert (entry.object_type, entry.object_id) == ("organizations.site", str(site.public_id))
    assert (entry.old_values, entry.new_values) == ({"city": "Hamburg"}, {"city": "Lübeck"})
    assert entry.organization_id == st_mary.organization.pk


def test_an_entry_names_the_api_client_by_its_client_id(st_mary: Party) -> None:
    client, _secret = st_mary.clients["admin"]
    response = st_mary.api("client:admin").post(sites_url(st_mary), {"name": "Central"})
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="organizations.site.created")
    assert (entry.actor_kind, entry.actor_id) == ("api_client", client.client_id)
    assert client.client_id in entry.actor_label
    assert entry.request_id  # generated when the caller sends none
    assert entry.client_address == "127.0.0.1"


def test_a_forged_x_forwarded_for_is_not_recorded_as_the_address(st_mary: Party) -> None:
    st_mary.api("admin").post(sites_url(st_mary), {"name": "Central"}, HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert AuditEntry.objects.get(action="organizations.site.created").client_address == "127.0.0.1"


def test_behind_a_trusted_proxy_the_address_it_saw_is_recorded(st_mary: Party, settings: Any) -> None:
    settings.MARKETPLACE_TRUSTED_PROXY_COUNT = 1
    st_mary.api("admin").post(
        sites_url(st_mary),
        {"name": "Central"},
        HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.9",  # forged first hop, then what the proxy saw
        REMOTE_ADDR="10.0.0.2",
    )
    assert AuditEntry.objects.get(action="organizations.site.created").client_address == "203.0.113.9"


def test_workers_write_entries_without_request_details(st_mary: Party) -> None:
    site = SiteFactory(organization=st_mary.organization)
    entry = audit_record(
        actor=SYSTEM, action="organizations.site.checked", target=site, organization=st_mary.organization
    )
    assert (entry.actor_kind, entry.actor_id, entry.request_id, entry.client_address) == ("system", "system", "", None)


def test_admins_read_their_own_organizations_entries_only(st_mary: Party, northside: Party) -> None:
    st_mary.api("admin").post(sites_url(st_mary), {"name": "St. Mary's Central"})
    northside.api("admin").post(sites_url(northside), {"name": "Northside Clinic"})

    for who in ("admin", "client:admin"):
        body = st_mary.api(who).get(AUDIT_LOG).json()
        assert set(body) == {"count", "next", "previous", "results"}
        labels = [e["object_label"] for e in body["results"]]
        assert any("St. Mary's Central" in label for label in labels)
        assert not any("Northside" in label for label in labels)
        assert all(e["object_type"].startswith(("organizations.", "marketplace.")) for e in body["results"])


def test_only_admins_read_the_audit_log(st_mary: Party, anonymous_api: Any) -> None:
    assert_error(anonymous_api.get(AUDIT_LOG), 401)
    for who in ("member", "client:member", "client:read_only"):
        assert_error(st_mary.api(who).get(AUDIT_LOG), 403)


def test_operators_read_every_organizations_entries(st_mary: Party, northside: Party, operator_api: Any) -> None:
    st_mary.api("admin").post(sites_url(st_mary), {"name": "St. Mary's Central"})
    northside.api("admin").post(sites_url(northside), {"name": "Northside Clinic"})
    results = operator_api.get(AUDIT_LOG, {"action": "organizations.site", "page_size": 100}).json()["results"]
    assert {e["object_label"].split(" (")[0] for e in results} == {"St. Mary's Central", "Northside Clinic"}


def test_the_audit_log_is_newest_first_and_filterable(st_mary: Party) -> None:
    api = st_mary.api("admin")
    site_id = api.post(sites_url(st_mary), {"name": "Central"}).json()["id"]
    api.patch(f"{sites_url(st_mary)}{site_id}/", {"city": "Kiel"})
    api.delete(f"{sites_url(st_mary)}{site_id}/")

    actions = [e["action"] for e in api.get(AUDIT_LOG, {"object_id": site_id}).json()["results"]]
    assert actions == ["organizations.site.archived", "organizations.site.updated", "organizations.site.created"]
    assert [e["action"] for e in api.get(AUDIT_LOG, {"action": "organizations.site.up"}).json()["results"]] == [
        "organizations.site.updated"
    ]
    by_actor = api.get(AUDIT_LOG, {"actor_id": str(st_mary.admin.public_id)}).json()
    assert by_actor["count"] == 3
    assert_error(api.get(AUDIT_LOG, {"since": "yesterday"}), 400, field="since")


def test_the_audit_log_is_read_only_over_the_api(st_mary: Party) -> None:
    api = st_mary.api("admin")
    entry_id = AuditEntry.objects.filter(organization=st_mary.organization).values_list("id", flat=True).first()
    assert_error(api.post(AUDIT_LOG, {"action": "forged"}), 405)
    for method in ("patch", "delete"):
        response = getattr(api, method)(f"{AUDIT_LOG}{entry_id}/")
        assert response.status_code in (404, 405)
        assert_error(response, response.status_code)


# --- append-only in the database ---------------------------------------------------------------


def _an_entry(party: Party) -> AuditEntry:
    site = Site.objects.create(organization=party.organization, name="Central")
    return audit_record(actor=SYSTEM, action="tests.something", target=site, organization=party.organization)


def test_updating_an_entry_is_refused_by_the_database(st_mary: Party) -> None:
    entry = _an_entry(st_mary)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="tests.forged")
    assert AuditEntry.objects.get(pk=entry.pk).action == "tests.something"


def test_updating_through_save_is_refused_too(st_mary: Party) -> None:
    entry = _an_entry(st_mary)
    entry.new_values = {"forged": True}
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).new_values == {}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the DELETE trigger is PostgreSQL's (SQLite flushes)")
def test_deleting_an_entry_is_refused_on_postgresql(st_mary: Party) -> None:
    entry = _an_entry(st_mary)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM marketplace_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_other_party_sees_what_happened_but_not_who_of_theirs_did_it(st_mary, radiant) -> None:
    from apps.provisioning.models import Deployment
    from marketplace.audit import audit_record
    from marketplace.principal import Principal, PrincipalKind, Role
    from tests.catalog.factories import publish_listing

    listing = publish_listing(vendor=radiant.organization)
    deployment = Deployment.objects.create(
        provider=st_mary.organization, vendor=radiant.organization, listing=listing,
        offering=listing.offerings.get(), region="eu-central", backend="sandbox",
    )
    actor = Principal(
        kind=PrincipalKind.MEMBER, label=st_mary.member.email, organization=st_mary.organization,
        role=Role.MEMBER, user=st_mary.member,
    )
    audit_record(actor=actor, action="provisioning.deployment.test", target=deployment,
                 organization=st_mary.organization, counterparty=radiant.organization)
    mine = st_mary.api("admin").get("/api/v1/audit-log/", {"action": "provisioning.deployment.test"}).json()
    theirs = radiant.api("admin").get("/api/v1/audit-log/", {"action": "provisioning.deployment.test"}).json()
    assert mine["results"][0]["actor_label"] == st_mary.member.email
    assert theirs["results"][0]["actor_label"] == "the other party"
    assert theirs["results"][0]["client_address"] is None


def test_since_and_until_take_any_utc_offset_and_refuse_impossible_moments(st_mary: Party) -> None:
    api = st_mary.api("admin")
    SiteFactory(organization=st_mary.organization)
    site = SiteFactory(organization=st_mary.organization, name="Central")
    api.patch(f"{sites_url(st_mary)}{site.public_id}/", {"city": "Kiel"}, format="json")
    # +22:53 is a valid offset for Python but not for PostgreSQL: turned into UTC first.
    far = api.get(AUDIT_LOG, {"since": "0277-06-16T09:23:27+22:53", "until": "2999-01-01T00:00:00-23:59"})
    assert far.status_code == 200, far.content
    assert far.json()["count"] >= 1
    assert api.get(AUDIT_LOG, {"since": "2999-01-01T05:30:00+05:30"}).json()["count"] == 0
    # Before year 1 once in UTC, or not a moment at all: 400 naming the parameter.
    assert_error(api.get(AUDIT_LOG, {"since": "0001-01-01T00:30:00+05:00"}), 400, field="since")
    assert_error(api.get(AUDIT_LOG, {"until": "yesterday"}), 400, field="until")
