"""The organization pages: admins change things (also through htmx partials), members read,
and nobody reaches another organization's objects."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.organizations.models import ApiClient, Invitation, Membership, Organization, Site
from apps.organizations.principals import member_principal
from apps.organizations.services import invitation_create
from tests.factories import SiteFactory, UserFactory
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


class TestCreate:
    def test_creates_and_makes_it_active(self, user_factory):
        person = user_factory()
        client = signed_in(person)
        response = client.post(
            reverse("storefront:organization-create"),
            {
                "name": "Lakeshore Clinic",
                "kind": "provider",
                "sector": "academia",
                "country": "ch",
                "website": "https://lakeshore.example",
                "description": "",
                "partnership_offer": "Clinical validation",
            },
        )
        assert response.status_code == 302 and response["Location"] == reverse("storefront:organization")
        organization = Organization.objects.get(name="Lakeshore Clinic")
        assert organization.country == "CH" and organization.partnership_offer == "Clinical validation"
        assert Membership.objects.get(user=person, organization=organization).role == "admin"
        assert client.session["active_organization"] == organization.slug
        assert "Lakeshore Clinic" in client.get(reverse("storefront:organization")).content.decode()

    def test_invalid_input_names_the_field(self, user_factory):
        response = signed_in(user_factory()).post(
            reverse("storefront:organization-create"), {"name": "", "kind": "robot", "country": "Germany"}
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert html.count('aria-invalid="true"') >= 3
        assert not Organization.objects.exists()

    def test_unconfirmed_person_gets_the_service_message(self, user_factory):
        response = signed_in(user_factory(email_confirmed_at=None)).post(
            reverse("storefront:organization-create"), {"name": "Clinic", "kind": "provider", "sector": "business"}
        )
        assert response.status_code == 400
        assert "Confirm your e-mail address before creating an organization." in response.content.decode()


class TestProfile:
    def test_admin_updates_profile(self, st_mary):
        client = signed_in(st_mary.admin)
        response = client.post(
            reverse("storefront:organization"),
            {
                "name": "St. Mary's Hospitals",
                "kind": "provider",
                "sector": "government",
                "country": "DE",
                "website": "",
                "description": "Six hospitals",
                "partnership_offer": "Pilot sites",
            },
        )
        assert response.status_code == 302
        st_mary.organization.refresh_from_db()
        assert st_mary.organization.name == "St. Mary's Hospitals"
        assert st_mary.organization.sector == "government"

    def test_vendor_admin_fills_verification_details_and_accepts_terms(self, radiant):
        client = signed_in(radiant.admin)
        html = client.get(reverse("storefront:organization")).content.decode()
        assert "Registration number" in html and "accept_partner_terms" in html
        client.post(
            reverse("storefront:organization"),
            {
                "name": "Radiant AI",
                "kind": "vendor",
                "sector": "business",
                "country": "DE",
                "website": "",
                "description": "",
                "partnership_offer": "",
                "legal_name": "Radiant AI GmbH",
                "registration_number": "HRB 1",
                "contact_email": "partners@radiant.example",
                "accept_partner_terms": "on",
            },
        )
        radiant.organization.refresh_from_db()
        assert radiant.organization.partner_terms_accepted_at is not None
        assert "Waiting for review" in client.get(reverse("storefront:organization")).content.decode()

    def test_provider_has_no_verification_fields(self, st_mary):
        html = signed_in(st_mary.admin).get(reverse("storefront:organization")).content.decode()
        assert "accept_partner_terms" not in html and "Providers need no verification" in html

    def test_member_sees_profile_read_only_and_cannot_post(self, st_mary):
        client = signed_in(st_mary.member)
        html = client.get(reverse("storefront:organization")).content.decode()
        assert "<form" not in html.split("<main", 1)[1].split("</main>", 1)[0]
        assert "Only admins of" in html
        response = client.post(reverse("storefront:organization"), {"name": "Hijacked", "kind": "vendor"})
        assert response.status_code == 403
        st_mary.organization.refresh_from_db()
        assert st_mary.organization.name == "St. Mary's Hospital Group"


class TestMembers:
    def test_admin_invites_and_sees_pending_invitation(self, st_mary, django_capture_on_commit_callbacks):
        client = signed_in(st_mary.admin)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("storefront:invitation-create"), {"email": "Vera@Example.org", "role": "admin"}
            )
        assert response.status_code == 302
        page = client.get(reverse("storefront:organization-members")).content.decode()
        assert "Invitation sent to vera@example.org." in page
        assert "vera@example.org" in page.split('id="pending-invitations"', 1)[1]
        assert mail.outbox[0].to == ["vera@example.org"]
        assert "/invitations/" in mail.outbox[0].body

    def test_htmx_invite_answers_with_the_panel(self, st_mary):
        response = signed_in(st_mary.admin).post(
            reverse("storefront:invitation-create"), {"email": "vera@example.org", "role": "member"}, **HTMX
        )
        assert response.status_code == 200
        html = assert_csp_clean(response)
        assert html.startswith('<div id="members-panel"') and "<html" not in html
        assert "Invitation sent to vera@example.org." in html

    def test_invite_errors_are_shown_in_the_panel(self, st_mary):
        response = signed_in(st_mary.admin).post(
            reverse("storefront:invitation-create"), {"email": st_mary.member.email, "role": "member"}, **HTMX
        )
        assert response.status_code == 200  # htmx swaps only 2xx answers
        assert "Already a member." in response.content.decode()
        bad = signed_in(st_mary.admin).post(reverse("storefront:invitation-create"), {"email": "nope", "role": "x"})
        assert bad.status_code == 400 and 'aria-invalid="true"' in bad.content.decode()

    def test_admin_revokes_invitation(self, st_mary):
        client = signed_in(st_mary.admin)
        client.post(reverse("storefront:invitation-create"), {"email": "vera@example.org", "role": "member"})
        invitation = Invitation.objects.get(email="vera@example.org")
        response = client.post(
            reverse("storefront:invitation-revoke", kwargs={"public_id": invitation.public_id}), **HTMX
        )
        assert response.status_code == 200
        assert "The invitation for vera@example.org is revoked." in response.content.decode()
        invitation.refresh_from_db()
        assert invitation.revoked_at is not None

    def test_admin_changes_role_and_removes_member(self, st_mary):
        client = signed_in(st_mary.admin)
        membership = Membership.objects.get(user=st_mary.member)
        response = client.post(
            reverse("storefront:member-role", kwargs={"public_id": membership.public_id}), {"role": "admin"}, **HTMX
        )
        assert response.status_code == 200 and "is now admin" in response.content.decode()
        membership.refresh_from_db()
        assert membership.role == "admin"
        response = client.post(reverse("storefront:member-remove", kwargs={"public_id": membership.public_id}))
        assert response.status_code == 302
        assert not Membership.objects.filter(pk=membership.pk).exists()

    def test_last_admin_cannot_be_demoted(self, st_mary):
        other_admin = Membership.objects.get(user=st_mary.member)
        other_admin.role = "admin"
        other_admin.save()
        client = signed_in(st_mary.member)
        client.post(
            reverse(
                "storefront:member-remove", kwargs={"public_id": Membership.objects.get(user=st_mary.admin).public_id}
            )
        )
        own = Membership.objects.get(user=st_mary.member)
        # The form hides one's own row; posting anyway gets the service's refusal.
        response = client.post(
            reverse("storefront:member-role", kwargs={"public_id": own.public_id}), {"role": "member"}
        )
        assert response.status_code == 409
        assert "An organization needs at least one admin." in response.content.decode()

    def test_member_sees_list_without_admin_forms(self, st_mary):
        client = signed_in(st_mary.member)
        html = client.get(reverse("storefront:organization-members")).content.decode()
        assert st_mary.admin.email in html
        assert reverse("storefront:invitation-create") not in html
        assert "Pending invitations" not in html and "/remove/" not in html and "/role/" not in html
        membership = Membership.objects.get(user=st_mary.admin)
        for url, data in [
            (reverse("storefront:invitation-create"), {"email": "x@example.org", "role": "admin"}),
            (reverse("storefront:member-role", kwargs={"public_id": membership.public_id}), {"role": "member"}),
            (reverse("storefront:member-remove", kwargs={"public_id": membership.public_id}), {}),
        ]:
            assert client.post(url, data).status_code == 403
        assert not Invitation.objects.exists()
        membership.refresh_from_db()
        assert membership.role == "admin"


class TestSites:
    def test_admin_adds_and_archives_sites(self, st_mary):
        client = signed_in(st_mary.admin)
        response = client.post(
            reverse("storefront:site-create"),
            {
                "name": "Main Campus",
                "kind": "hospital",
                "network_posture": "air_gapped",
                "country": "de",
                "city": "Köln",
            },
            **HTMX,
        )
        assert response.status_code == 200 and "Main Campus is added." in response.content.decode()
        site = Site.objects.get(organization=st_mary.organization, name="Main Campus")
        assert site.country == "DE" and site.network_posture == "air_gapped"
        duplicate = client.post(
            reverse("storefront:site-create"),
            {"name": "Main Campus", "kind": "hospital", "network_posture": "air_gapped", "country": "DE", "city": ""},
        )
        assert duplicate.status_code == 400
        assert "A site with this name already exists." in duplicate.content.decode()
        client.post(reverse("storefront:site-archive", kwargs={"public_id": site.public_id}))
        site.refresh_from_db()
        assert site.archived_at is not None
        listing = client.get(reverse("storefront:organization-sites")).content.decode()
        assert "Main Campus is archived." in listing and "<td>Main Campus</td>" not in listing

    def test_vendor_has_no_sites(self, radiant):
        client = signed_in(radiant.admin)
        html = client.get(reverse("storefront:organization-sites")).content.decode()
        assert "is a vendor, so it has none" in html
        assert reverse("storefront:organization-sites") not in html.split('class="tabs"', 1)[1].split("</nav>", 1)[0]

    def test_member_sees_sites_read_only(self, st_mary):
        SiteFactory(organization=st_mary.organization, name="Imaging Centre")
        client = signed_in(st_mary.member)
        html = client.get(reverse("storefront:organization-sites")).content.decode()
        assert "Imaging Centre" in html and "Add a site" not in html and "/archive/" not in html
        response = client.post(
            reverse("storefront:site-create"),
            {"name": "Rogue", "kind": "hospital", "network_posture": "cloud_connected"},
        )
        assert response.status_code == 403


class TestApiClients:
    def test_secret_is_shown_once(self, st_mary):
        client = signed_in(st_mary.admin)
        response = client.post(
            reverse("storefront:api-client-create"), {"name": "ITSM connector", "role": "member"}, **HTMX
        )
        assert response.status_code == 200
        html = assert_csp_clean(response)
        assert html.startswith('<div id="api-clients-panel"')
        assert "it will not be shown again" in html
        assert "no-store" in response["Cache-Control"]
        created = ApiClient.objects.get(name="ITSM connector")
        secret = html.split('id="new-client-secret">', 1)[1].split("<", 1)[0]
        assert len(secret) > 40 and created.client_id in html
        assert created.client_secret != secret  # stored hashed
        listing = client.get(reverse("storefront:organization-api-clients")).content.decode()
        assert "ITSM connector" in listing and created.client_id in listing
        assert secret not in listing and "will not be shown again" not in listing

    def test_secret_works_at_the_token_endpoint(self, st_mary):
        html = (
            signed_in(st_mary.admin)
            .post(reverse("storefront:api-client-create"), {"name": "Pipeline", "role": "read_only"})
            .content.decode()
        )
        client_id = html.split('id="new-client-id">', 1)[1].split("<", 1)[0]
        secret = html.split('id="new-client-secret">', 1)[1].split("<", 1)[0]
        token = Client().post(
            "/o/token/", {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )
        assert token.status_code == 200, token.content

    def test_admin_revokes(self, st_mary):
        api_client, _secret = st_mary.clients["member"]
        response = signed_in(st_mary.admin).post(
            reverse("storefront:api-client-revoke", kwargs={"public_id": api_client.public_id}), **HTMX
        )
        assert response.status_code == 200 and "is revoked" in response.content.decode()
        api_client.refresh_from_db()
        assert api_client.revoked_at is not None

    def test_member_sees_no_clients_and_cannot_create(self, st_mary):
        # As in the API, only admins read API clients.
        client = signed_in(st_mary.member)
        html = client.get(reverse("storefront:organization-api-clients")).content.decode()
        assert "Only admins of" in html and "admin client" not in html
        assert "Create an API client" not in html and "/revoke/" not in html
        response = client.post(reverse("storefront:api-client-create"), {"name": "Sneaky", "role": "admin"})
        assert response.status_code == 403
        assert not ApiClient.objects.filter(name="Sneaky").exists()


class TestOtherOrganizations:
    """Objects are looked up from the acting organization: another one's are a 404."""

    def test_objects_of_another_organization_are_not_found(self, st_mary, northside):
        client = signed_in(st_mary.admin)
        their_member = Membership.objects.get(user=northside.member)
        their_site = SiteFactory(organization=northside.organization)
        their_client, _secret = northside.clients["admin"]
        their_invitation, _token = invitation_create(
            organization=northside.organization,
            email="x@example.org",
            role="member",
            actor=member_principal(Membership.objects.get(user=northside.admin)),
        )
        attempts = [
            (reverse("storefront:member-role", kwargs={"public_id": their_member.public_id}), {"role": "admin"}),
            (reverse("storefront:member-remove", kwargs={"public_id": their_member.public_id}), {}),
            (reverse("storefront:invitation-revoke", kwargs={"public_id": their_invitation.public_id}), {}),
            (reverse("storefront:site-archive", kwargs={"public_id": their_site.public_id}), {}),
            (reverse("storefront:api-client-revoke", kwargs={"public_id": their_client.public_id}), {}),
        ]
        for url, data in attempts:
            response = client.post(url, data)
            assert response.status_code == 404, url
        their_member.refresh_from_db()
        their_site.refresh_from_db()
        their_client.refresh_from_db()
        their_invitation.refresh_from_db()
        assert their_member.role == "member" and their_site.archived_at is None
        assert their_client.revoked_at is None and their_invitation.revoked_at is None

    def test_pages_show_only_the_acting_organization(self, st_mary, northside):
        client = signed_in(st_mary.admin)
        for name in ("storefront:organization-members", "storefront:organization-api-clients"):
            html = client.get(reverse(name)).content.decode()
            assert northside.admin.email not in html and "Northside" not in html

    def test_session_cannot_point_at_a_foreign_organization(self, st_mary, northside):
        client = signed_in(st_mary.admin)
        session = client.session
        session["active_organization"] = "northside"
        session.save()
        html = client.get(reverse("storefront:organization")).content.decode()
        assert "St. Mary&#x27;s Hospital Group" in html and "Northside" not in html


def test_people_without_organization_are_sent_to_create_one():
    client = signed_in(UserFactory())
    response = client.get(reverse("storefront:organization-members"))
    assert response.status_code == 302 and response["Location"] == reverse("storefront:organization-create")


def test_refused_profile_keeps_showing_the_saved_values(st_mary):
    response = signed_in(st_mary.admin).post(
        reverse("storefront:organization"),
        {"name": "Renamed", "kind": "provider", "sector": "business", "country": "Germany"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<h1>St. Mary&#x27;s Hospital Group</h1>" in html and 'aria-invalid="true"' in html
    st_mary.organization.refresh_from_db()
    assert st_mary.organization.name == "St. Mary's Hospital Group"
