"""Accepting an invitation: signed in as the invitee, signing in on the page, or signing up there."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.organizations.models import Membership
from apps.organizations.principals import member_principal
from apps.organizations.services import invitation_create, invitation_revoke
from tests.factories import UserFactory
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _clear_lockouts():
    cache.clear()


def _invite(party, email: str, role: str = "member") -> tuple:
    actor = member_principal(Membership.objects.get(user=party.admin, organization=party.organization))
    return invitation_create(organization=party.organization, email=email, role=role, actor=actor)


def _url(token: str) -> str:
    return reverse("storefront:invitation", kwargs={"token": token})


def test_signed_in_invitee_accepts(st_mary):
    person = UserFactory(email="olga@example.org")
    _invitation, token = _invite(st_mary, "olga@example.org", role="admin")
    client = signed_in(person)
    page = client.get(_url(token))
    html = assert_csp_clean(page)
    assert "St. Mary&#x27;s Hospital Group" in html and "Admin" in html and "Accept and join" in html
    response = client.post(_url(token), {"action": "accept"})
    assert response.status_code == 302 and response["Location"] == reverse("storefront:organization")
    membership = Membership.objects.get(user=person, organization=st_mary.organization)
    assert membership.role == "admin"
    assert client.session["active_organization"] == "st-marys"
    after = client.get(_url(token)).content.decode()
    assert "You already joined" in after


def test_signed_in_with_another_address_is_told_so(st_mary):
    _invitation, token = _invite(st_mary, "olga@example.org")
    client = signed_in(UserFactory(email="someone@example.org"))
    html = client.get(_url(token)).content.decode()
    assert "but you are signed in as" in html and "Accept and join" not in html
    response = client.post(_url(token), {"action": "accept"})
    assert response.status_code == 400
    assert "sign in with that address" in response.content.decode()
    assert not Membership.objects.filter(user__email="someone@example.org").exists()


def test_new_person_creates_the_account_on_the_page(st_mary):
    _invitation, token = _invite(st_mary, "newbie@example.org")
    client = Client()
    html = client.get(_url(token)).content.decode()
    assert "Create your account to accept" in html and "newbie@example.org" in html
    response = client.post(
        _url(token), {"action": "signup", "full_name": "New Bie", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("storefront:organization")
    user = User.objects.get(email="newbie@example.org")
    assert user.email_confirmed  # the invitation proves the address
    assert Membership.objects.filter(user=user, organization=st_mary.organization, role="member").exists()
    assert client.session[SESSION_KEY] == str(user.pk)


def test_sign_up_on_the_page_with_a_weak_password_leaves_nothing_behind(st_mary):
    _invitation, token = _invite(st_mary, "newbie@example.org")
    response = Client().post(
        _url(token), {"action": "signup", "full_name": "New Bie", "password1": "password", "password2": "password"}
    )
    assert response.status_code == 400
    assert "too common" in response.content.decode()
    assert not User.objects.filter(email="newbie@example.org").exists()


def test_existing_person_signs_in_on_the_page(st_mary):
    person = UserFactory(email="olga@example.org", email_confirmed_at=None)
    _invitation, token = _invite(st_mary, "olga@example.org")
    client = Client()
    html = client.get(_url(token)).content.decode()
    assert "Sign in to accept" in html and "Create your account" not in html
    wrong = client.post(_url(token), {"action": "signin", "password": "wrong"})
    assert wrong.status_code == 400
    response = client.post(_url(token), {"action": "signin", "password": PASSWORD})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.email_confirmed
    assert Membership.objects.filter(user=person, organization=st_mary.organization).exists()


def test_sign_in_on_the_page_is_locked_out_too(st_mary):
    UserFactory(email="olga@example.org")
    _invitation, token = _invite(st_mary, "olga@example.org")
    client = Client()
    for _ in range(5):
        response = client.post(_url(token), {"action": "signin", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_revoked_invitation_cannot_be_accepted(st_mary):
    invitation, token = _invite(st_mary, "olga@example.org")
    invitation_revoke(invitation=invitation, actor=member_principal(Membership.objects.get(user=st_mary.admin)))
    html = Client().get(_url(token)).content.decode()
    assert "This invitation is revoked" in html and "Create your account" not in html
    response = Client().post(
        _url(token), {"action": "signup", "full_name": "O", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 400
    assert not User.objects.filter(email="olga@example.org").exists()
