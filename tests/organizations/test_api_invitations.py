"""Invitations: St. Mary's admins invite people by e-mail; the mail goes out after commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from apps.organizations.models import Invitation, Membership
from apps.organizations.principals import member_principal
from apps.organizations.services import invitation_accept, invitation_create
from marketplace.models import AuditEntry, OutboxMessage, OutgoingEmail
from tests.api_contract import ADMINS, OPERATOR, ApiContract, BadInput
from tests.conftest import Party, assert_error
from tests.factories import UserFactory
from tests.organizations.factories import InvitationFactory

pytestmark = pytest.mark.django_db


def invitations_url(party: Party) -> str:
    return f"/api/v1/organizations/{party.organization.slug}/invitations/"


def invitation_url(party: Party, invitation: Invitation) -> str:
    return f"{invitations_url(party)}{invitation.public_id}/"


class TestInvitationsContract(ApiContract):
    model = Invitation
    readers = ADMINS | {OPERATOR}
    writers = ADMINS
    can_update = False
    mass_assignment_extra = {"token_hash": "0" * 64, "invited_by": "operator@platform.example"}
    bad_inputs = (
        BadInput("no e-mail", {"role": "member"}, "email"),
        BadInput("not an e-mail", {"email": "not-an-address"}, "email"),
        BadInput("unknown role", {"email": "carol@example.org", "role": "owner"}, "role"),
        # Valid by the e-mail grammar but longer than the column (PostgreSQL would answer 500).
        BadInput("e-mail too long", {"email": "a" * 250 + "@example.org"}, "email"),
    )

    def list_url(self, party: Party) -> str:
        return invitations_url(party)

    def detail_url(self, party: Party, obj: Any) -> str:
        return invitation_url(party, obj)

    def make(self, party: Party) -> Invitation:
        return InvitationFactory(organization=party.organization)

    def create_payload(self, party: Party) -> dict[str, Any]:
        return {"email": "carol.radiologist@example.org", "role": "member"}

    def assert_deleted(self, obj: Any) -> None:
        obj.refresh_from_db()
        assert obj.revoked_at is not None

    def assert_created_plainly(self, created: Any) -> None:
        assert created.token_hash != "0" * 64 and created.status == Invitation.Status.PENDING


def test_an_admin_invites_carol_and_the_mail_goes_out_after_commit(
    st_mary: Party, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = st_mary.api("admin").post(
            invitations_url(st_mary), {"email": "Carol.Radiologist@Example.org", "role": "admin"}
        )
    assert response.status_code == 201, response.content
    invitation = response.json()
    assert invitation["email"] == "carol.radiologist@example.org"
    assert (invitation["role"], invitation["status"]) == ("admin", "pending")
    assert invitation["invited_by"] == st_mary.admin.email
    assert mail.outbox == []  # nothing is sent before the transaction commits

    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["carol.radiologist@example.org"]
    assert "St. Mary's Hospital Group" in message.subject
    assert "/invitations/" in message.body
    assert OutgoingEmail.objects.get().sent_at is not None
    assert OutboxMessage.objects.get().dispatched_at is not None

    entry = AuditEntry.objects.get(action="organizations.invitation.created")
    assert entry.new_values == {"email": "carol.radiologist@example.org", "role": "admin"}


def test_the_mailed_link_lets_carol_join(st_mary: Party, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        st_mary.api("admin").post(invitations_url(st_mary), {"email": "carol@example.org"})
    token = mail.outbox[0].body.split("/invitations/")[1].split("/")[0]
    carol = UserFactory(email="carol@example.org")

    membership = invitation_accept(token=token, user=carol, actor=member_principal_for(carol))
    assert (membership.organization, membership.role) == (st_mary.organization, "member")
    api = st_mary.api("admin")
    assert api.get(invitations_url(st_mary)).json()["results"][0]["status"] == "accepted"
    # An accepted invitation cannot be revoked.
    invitation = Invitation.objects.get(email="carol@example.org")
    assert_error(api.delete(invitation_url(st_mary, invitation)), 409)


def member_principal_for(user: Any) -> Any:
    from marketplace.principal import Principal, PrincipalKind

    return Principal(kind=PrincipalKind.MEMBER, label=user.email, user=user)


def test_inviting_someone_who_is_already_a_member_is_a_conflict(st_mary: Party) -> None:
    response = st_mary.api("admin").post(invitations_url(st_mary), {"email": st_mary.member.email.upper()})
    assert_error(response, 409, code="already_member", field="email")
    assert not Invitation.objects.exists()


def test_inviting_again_replaces_the_pending_invitation(st_mary: Party) -> None:
    api = st_mary.api("admin")
    first = api.post(invitations_url(st_mary), {"email": "carol@example.org"}).json()
    second = api.post(invitations_url(st_mary), {"email": "carol@example.org", "role": "admin"}).json()
    statuses = {i["id"]: i["status"] for i in api.get(invitations_url(st_mary)).json()["results"]}
    assert statuses == {first["id"]: "revoked", second["id"]: "pending"}


def test_an_admin_revokes_an_invitation(st_mary: Party) -> None:
    invitation = InvitationFactory(organization=st_mary.organization, email="dave@example.org")
    api = st_mary.api("admin")
    assert api.delete(invitation_url(st_mary, invitation)).status_code == 204
    assert api.get(invitation_url(st_mary, invitation)).json()["status"] == "revoked"
    assert api.delete(invitation_url(st_mary, invitation)).status_code == 204  # revoking again is a no-op
    assert AuditEntry.objects.filter(action="organizations.invitation.revoked").count() == 1


def test_a_revoked_invitation_cannot_be_accepted(st_mary: Party) -> None:
    admin = member_principal(Membership.objects.get(user=st_mary.admin))
    invitation, token = invitation_create(
        organization=st_mary.organization, email="erin@example.org", role="member", actor=admin
    )
    st_mary.api("admin").delete(invitation_url(st_mary, invitation))
    erin = UserFactory(email="erin@example.org")
    from marketplace.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        invitation_accept(token=token, user=erin, actor=member_principal_for(erin))
    assert "token" in refused.value.fields
    assert not Membership.objects.filter(user=erin).exists()


def test_a_member_cannot_see_invitations(st_mary: Party) -> None:
    assert_error(st_mary.api("member").get(invitations_url(st_mary)), 403)
    assert_error(st_mary.api("member").post(invitations_url(st_mary), {"email": "x@example.org"}), 403)
