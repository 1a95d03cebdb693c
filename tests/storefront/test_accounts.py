"""Sign-up, confirmation, sign-in with lock-out, sign-out and password change in the browser UI."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from tests.factories import MembershipFactory, UserFactory
from tests.storefront.conftest import signed_in

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _clear_lockouts():
    cache.clear()
    yield
    cache.clear()


def _confirmation_path(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/confirm/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def _sign_up(client: Client, django_capture_on_commit_callbacks, email: str = "dana@clinic.example"):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            reverse("storefront:signup"),
            {"email": email, "full_name": "Dana Doctor", "password1": PASSWORD, "password2": PASSWORD},
        )


class TestSignUp:
    def test_sends_a_confirmation_email_and_shows_check_your_email(self, django_capture_on_commit_callbacks):
        client = Client()
        response = _sign_up(client, django_capture_on_commit_callbacks)
        assert response.status_code == 302 and response["Location"] == reverse("storefront:signup-done")
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["dana@clinic.example"]
        assert "/accounts/confirm/" in mail.outbox[0].body
        page = client.get(response["Location"]).content.decode()
        assert "Check your e-mail" in page and "dana@clinic.example" in page
        user = User.objects.get(email="dana@clinic.example")
        assert user.full_name == "Dana Doctor" and not user.email_confirmed

    def test_passwords_must_match(self):
        response = Client().post(
            reverse("storefront:signup"),
            {"email": "x@example.org", "full_name": "X", "password1": PASSWORD, "password2": PASSWORD + "!"},
        )
        assert response.status_code == 400
        assert "The two passwords differ." in response.content.decode()
        assert not User.objects.filter(email="x@example.org").exists()

    def test_service_errors_are_shown_on_the_form(self, django_capture_on_commit_callbacks):
        UserFactory(email="taken@example.org")
        response = Client().post(
            reverse("storefront:signup"),
            {"email": "taken@example.org", "full_name": "T", "password1": PASSWORD, "password2": PASSWORD},
        )
        assert response.status_code == 400
        assert "An account with this e-mail address already exists." in response.content.decode()
        weak = Client().post(
            reverse("storefront:signup"),
            {"email": "weak@example.org", "full_name": "W", "password1": "password", "password2": "password"},
        )
        assert weak.status_code == 400
        html = weak.content.decode()
        assert "The password is too weak." in html and "too common" in html


class TestConfirmEmail:
    def test_link_confirms_signs_in_and_leads_to_create_organization(self, django_capture_on_commit_callbacks):
        client = Client()
        _sign_up(client, django_capture_on_commit_callbacks)
        path = _confirmation_path(mail.outbox[0])
        page = client.get(path)
        assert page.status_code == 200 and "Confirm my address" in page.content.decode()
        assert not User.objects.get(email="dana@clinic.example").email_confirmed  # GET changes nothing
        response = client.post(path)
        assert response.status_code == 302 and response["Location"] == reverse("storefront:organization-create")
        user = User.objects.get(email="dana@clinic.example")
        assert user.email_confirmed
        assert client.session[SESSION_KEY] == str(user.pk)

    def test_used_link_does_not_sign_in_again(self, django_capture_on_commit_callbacks):
        _sign_up(Client(), django_capture_on_commit_callbacks)
        path = _confirmation_path(mail.outbox[0])
        Client().post(path)
        again = Client()
        response = again.post(path)
        assert response.status_code == 302 and response["Location"] == reverse("storefront:login")
        assert SESSION_KEY not in again.session

    def test_bad_token(self):
        response = Client().post(reverse("storefront:confirm-email", kwargs={"token": "forged"}))
        assert response.status_code == 400
        assert "invalid or has expired" in response.content.decode()


class TestSignIn:
    def test_success_rotates_the_session_and_follows_a_safe_next(self):
        user = UserFactory(email="nina@hospital.example")
        client = Client()
        client.get(reverse("storefront:login"))
        client.session.save()
        before = client.session.session_key
        response = client.post(
            reverse("storefront:login") + "?next=/partners/", {"email": "Nina@Hospital.example", "password": PASSWORD}
        )
        assert response.status_code == 302 and response["Location"] == "/partners/"
        assert client.session[SESSION_KEY] == str(user.pk)
        assert client.session.session_key != before

    def test_same_person_signing_in_again_gets_a_new_session_key(self):
        UserFactory(email="nina@hospital.example")
        client = Client()
        client.post(reverse("storefront:login"), {"email": "nina@hospital.example", "password": PASSWORD})
        first = client.session.session_key
        client.post(reverse("storefront:login"), {"email": "nina@hospital.example", "password": PASSWORD})
        assert client.session.session_key != first

    @pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
    def test_unsafe_next_is_ignored(self, next_url: str):
        UserFactory(email="nina@hospital.example")
        response = Client().post(
            reverse("storefront:login"), {"email": "nina@hospital.example", "password": PASSWORD, "next": next_url}
        )
        assert response.status_code == 302 and response["Location"] == reverse("storefront:home")

    def test_wrong_password(self):
        UserFactory(email="nina@hospital.example")
        response = Client().post(reverse("storefront:login"), {"email": "nina@hospital.example", "password": "x"})
        assert response.status_code == 400
        assert "The e-mail address or the password is wrong." in response.content.decode()

    def test_lock_out_after_five_failures_answers_429(self):
        UserFactory(email="nina@hospital.example")
        client = Client()
        statuses = [
            client.post(
                reverse("storefront:login"), {"email": "nina@hospital.example", "password": "wrong"}
            ).status_code
            for _ in range(5)
        ]
        assert statuses == [400, 400, 400, 400, 429]
        # Even the right password is refused while locked out.
        response = client.post(reverse("storefront:login"), {"email": "nina@hospital.example", "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.content.decode()
        assert SESSION_KEY not in client.session
        # Another client address is not locked out.
        other = Client(REMOTE_ADDR="192.0.2.7")
        ok = other.post(reverse("storefront:login"), {"email": "nina@hospital.example", "password": PASSWORD})
        assert ok.status_code == 302

    def test_unconfirmed_address_gets_a_resend_button(self, django_capture_on_commit_callbacks):
        UserFactory(email="new@hospital.example", email_confirmed_at=None)
        client = Client()
        response = client.post(reverse("storefront:login"), {"email": "new@hospital.example", "password": PASSWORD})
        assert response.status_code == 403
        html = response.content.decode()
        assert "Confirm your e-mail address first" in html
        assert reverse("storefront:resend-confirmation") in html
        assert SESSION_KEY not in client.session
        with django_capture_on_commit_callbacks(execute=True):
            resent = client.post(reverse("storefront:resend-confirmation"))
        assert resent.status_code == 302
        assert [m.to for m in mail.outbox] == [["new@hospital.example"]]
        # A second click within a minute sends nothing.
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("storefront:resend-confirmation"))
        assert len(mail.outbox) == 1

    def test_resend_needs_the_password_first(self, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().post(reverse("storefront:resend-confirmation"))
        assert response.status_code == 302 and response["Location"] == reverse("storefront:login")
        assert mail.outbox == []


class TestSignOutAndPassword:
    def test_sign_out_is_post_only(self):
        client = signed_in(UserFactory())
        assert client.get(reverse("storefront:logout")).status_code == 405
        assert SESSION_KEY in client.session
        response = client.post(reverse("storefront:logout"))
        assert response.status_code == 302
        assert SESSION_KEY not in client.session

    def test_password_change_keeps_this_session_only(self):
        user = UserFactory()
        client, other = signed_in(user), signed_in(user)
        response = client.post(
            reverse("storefront:password-change"),
            {
                "old_password": PASSWORD,
                "new_password1": "a much better passphrase",
                "new_password2": "a much better passphrase",
            },
        )
        assert response.status_code == 302
        assert client.get(reverse("storefront:password-change")).status_code == 200
        assert other.get(reverse("storefront:password-change")).status_code == 302  # signed out
        user.refresh_from_db()
        assert user.check_password("a much better passphrase")

    def test_password_change_needs_the_old_password(self):
        client = signed_in(UserFactory())
        response = client.post(
            reverse("storefront:password-change"),
            {
                "old_password": "nope",
                "new_password1": "a much better passphrase",
                "new_password2": "a much better passphrase",
            },
        )
        assert response.status_code == 400

    def test_pages_for_people_redirect_anonymous_visitors_to_sign_in(self):
        for name in ("storefront:password-change", "storefront:organization", "storefront:organization-create"):
            response = Client().get(reverse(name))
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("storefront:login") + "?next=")


def test_switching_organization_needs_membership(st_mary, northside):
    MembershipFactory(user=st_mary.admin, organization=northside.organization, role="member")
    client = signed_in(st_mary.admin)
    response = client.post(
        reverse("storefront:organization-switch"), {"organization": "northside", "next": "/organization/"}
    )
    assert response.status_code == 302 and response["Location"] == "/organization/"
    assert client.session["active_organization"] == "northside"
    assert "Northside Clinics" in client.get("/organization/").content.decode()
    stranger = signed_in(st_mary.member)
    stranger.post(reverse("storefront:organization-switch"), {"organization": "northside"})
    assert stranger.session.get("active_organization") is None
