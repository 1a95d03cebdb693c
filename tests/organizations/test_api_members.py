"""Members of St. Mary's: admins change roles and remove people; an organization always keeps
an admin; a removed person's open sessions stop working at once."""

from __future__ import annotations

from typing import Any

import pytest

from apps.organizations.models import Membership
from marketplace.models import AuditEntry
from tests.api_contract import OPERATOR, PARTY_CALLERS, ApiContract, BadInput
from tests.conftest import Party, assert_error
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def members_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/members/"


def member_url(party: Party, membership: Membership) -> str:
    return f"{members_url(party)}{membership.public_id}/"


def membership_of(party: Party, user: Any) -> Membership:
    return Membership.objects.get(organization=party.organization, user=user)


class TestMembersContract(ApiContract):
    model = Membership
    readers = PARTY_CALLERS | {OPERATOR}
    writers = frozenset({"admin", "client:admin"})
    can_create = False  # people join through invitations
    bad_updates = (
        BadInput("unknown role", {"role": "owner"}, "role"),
        BadInput("no role", {}, "role"),
        BadInput("role not a string", {"role": ["admin"]}, "role"),
    )

    def list_url(self, party: Party) -> str:
        return members_url(party)

    def detail_url(self, party: Party, obj: Any) -> str:
        return member_url(party, obj)

    def make(self, party: Party) -> Membership:
        return MembershipFactory(organization=party.organization, role="member")

    def update_payload(self, party: Party) -> dict[str, Any]:
        return {"role": "admin"}


def test_members_are_listed_with_their_roles(st_mary: Party) -> None:
    body = st_mary.api("client:read_only").get(members_url(st_mary)).json()
    assert {(m["email"], m["role"]) for m in body["results"]} == {
        (st_mary.admin.email, "admin"),
        (st_mary.member.email, "member"),
    }
    assert set(body["results"][0]) == {"id", "email", "full_name", "role", "created_at"}


def test_an_admin_promotes_a_member_and_the_change_is_audited(st_mary: Party) -> None:
    membership = membership_of(st_mary, st_mary.member)
    response = st_mary.api("admin").patch(member_url(st_mary, membership), {"role": "admin"})
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin"
    membership.refresh_from_db()
    assert membership.role == "admin"

    entry = AuditEntry.objects.get(action="organizations.member.role_changed")
    assert entry.actor_label == st_mary.admin.email
    assert (entry.old_values, entry.new_values) == ({"role": "member"}, {"role": "admin"})

    # The promoted member may now manage members.
    assert (
        st_mary.api("member").get(f"/api/v1/organizations/{st_mary.organization.slug}/invitations/").status_code == 200
    )


def test_setting_the_same_role_again_changes_nothing(st_mary: Party) -> None:
    membership = membership_of(st_mary, st_mary.member)
    response = st_mary.api("admin").patch(member_url(st_mary, membership), {"role": "member"})
    assert response.status_code == 200
    assert not AuditEntry.objects.filter(action="organizations.member.role_changed").exists()


def test_the_last_admin_cannot_be_demoted_or_removed(st_mary: Party) -> None:
    admin = membership_of(st_mary, st_mary.admin)
    api = st_mary.api("admin")

    assert_error(api.patch(member_url(st_mary, admin), {"role": "member"}), 409, code="last_admin")
    assert_error(api.delete(member_url(st_mary, admin)), 409, code="last_admin")
    admin.refresh_from_db()
    assert admin.role == "admin"

    # With a second admin, the first may step down.
    Membership.objects.filter(organization=st_mary.organization, user=st_mary.member).update(role="admin")
    assert api.patch(member_url(st_mary, admin), {"role": "member"}).status_code == 200


def test_an_admin_client_cannot_remove_the_last_admin_either(st_mary: Party) -> None:
    admin = membership_of(st_mary, st_mary.admin)
    assert_error(st_mary.api("client:admin").delete(member_url(st_mary, admin)), 409, code="last_admin")
    assert Membership.objects.filter(pk=admin.pk).exists()


def test_removing_a_member_ends_their_sessions(st_mary: Party) -> None:
    members_api = st_mary.api("member")  # Bob is signed in and reading
    assert members_api.get(members_url(st_mary)).status_code == 200

    membership = membership_of(st_mary, st_mary.member)
    assert st_mary.api("admin").delete(member_url(st_mary, membership)).status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()

    # Bob's open session no longer works, not even for his own profile of the organization.
    assert_error(members_api.get(members_url(st_mary)), 401)
    assert_error(members_api.get(f"/api/v1/organizations/{st_mary.organization.slug}/sites/"), 401)

    entry = AuditEntry.objects.get(action="organizations.member.removed")
    assert entry.old_values == {"user": st_mary.member.email, "role": "member"}


def test_removing_someone_in_two_organizations_keeps_their_other_membership(st_mary: Party) -> None:
    other = OrganizationFactory(name="Lakeside Clinic", slug="lakeside")
    MembershipFactory(organization=other, user=st_mary.member, role="admin")
    membership = membership_of(st_mary, st_mary.member)
    assert st_mary.api("admin").delete(member_url(st_mary, membership)).status_code == 204

    assert Membership.objects.filter(user=st_mary.member, organization=other).exists()
    # A new sign-in acts for the organization they still belong to; St. Mary's is a 404 now.
    st_mary.member.refresh_from_db()  # removal changed the session stamp
    api = st_mary.api("member")
    assert api.get("/api/v1/organizations/lakeside/members/").status_code == 200
    assert_error(api.get(members_url(st_mary)), 404)


def test_a_person_in_two_organizations_chooses_with_x_organization(st_mary: Party, northside: Party) -> None:
    MembershipFactory(organization=northside.organization, user=st_mary.member, role="admin")
    api = st_mary.api("member")
    # A member at St. Mary's, an admin at Northside: the rooms use the right role each.
    assert api.get(f"/api/v1/organizations/{northside.organization.slug}/invitations/").status_code == 200
    assert_error(api.get(f"/api/v1/organizations/{st_mary.organization.slug}/invitations/"), 403)
    assert_error(api.get(members_url(st_mary), HTTP_X_ORGANIZATION="nowhere"), 403, code="not_a_member")
