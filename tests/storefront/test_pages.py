"""Every page renders for the people who may see it, under the strict CSP, without inline code."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from apps.organizations.models import Membership
from apps.organizations.principals import member_principal
from apps.organizations.services import invitation_create
from tests.factories import MembershipFactory, OrganizationFactory, VendorFactory
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = [
    "storefront:home",
    "storefront:partners",
    "storefront:signup",
    "storefront:signup-done",
    "storefront:login",
]
MEMBER_PAGES = [
    "storefront:home",
    "storefront:partners",
    "storefront:organization",
    "storefront:organization-members",
    "storefront:organization-sites",
    "storefront:organization-api-clients",
    "storefront:organization-create",
    "storefront:password-change",
]


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_render_without_inline_code(name: str) -> None:
    response = Client().get(reverse(name))
    assert response.status_code == 200
    html = assert_csp_clean(response)
    # htmx adds no <style> and settles no style attribute: the strict CSP would refuse both.
    config = '{"includeIndicatorStyles": false, "attributesToSettle": ["class", "width", "height"]}'
    assert f"<meta name=\"htmx-config\" content='{config}'>" in html
    assert 'href="#main"' in html and 'id="main"' in html
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert landmark in html
    assert 'href="/api/docs/"' in html and f'href="{reverse("storefront:partners")}"' in html
    assert "/static/storefront/vendor/htmx.min.js" in html


@pytest.mark.parametrize("name", MEMBER_PAGES)
@pytest.mark.parametrize("who", ["admin", "member"])
def test_organization_pages_render_for_admins_and_members(st_mary, name: str, who: str) -> None:
    response = signed_in(getattr(st_mary, who)).get(reverse(name))
    assert response.status_code == 200
    html = assert_csp_clean(response)
    assert st_mary.organization.name in html.replace("&#x27;", "'")


def test_confirmation_and_invitation_pages_render(st_mary) -> None:
    assert_csp_clean(Client().get(reverse("storefront:confirm-email", kwargs={"token": "anything"})))
    _invitation, token = invitation_create(
        organization=st_mary.organization,
        email="new@example.org",
        role="member",
        actor=member_principal(Membership.objects.get(user=st_mary.admin)),
    )
    response = Client().get(reverse("storefront:invitation", kwargs={"token": token}))
    assert response.status_code == 200
    assert_csp_clean(response)
    assert Client().get(reverse("storefront:invitation", kwargs={"token": "nope"})).status_code == 404


def test_csp_header_is_strict() -> None:
    response = Client().get(reverse("storefront:home"))
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"


def test_body_carries_the_csrf_token_htmx_sends(st_mary) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(st_mary.admin)
    html = client.get(reverse("storefront:organization-members")).content.decode()
    match = re.search(r'<body hx-headers="([^"]+)"', html)
    headers = json.loads(unescape(match.group(1)))
    url = reverse("storefront:invitation-create")
    data = {"email": "csrf@example.org", "role": "member"}
    assert client.post(url, data, HTTP_HX_REQUEST="true").status_code == 403
    response = client.post(url, data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=headers["X-CSRFToken"])
    assert response.status_code == 200
    assert "csrf@example.org" in response.content.decode()


def test_unknown_page_is_the_html_404() -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    html = assert_csp_clean(response)
    assert "We cannot find that page" in html


def test_500_page_renders_without_a_request() -> None:
    from django.template.loader import render_to_string

    html = render_to_string("storefront/errors/500.html")
    assert "Something went wrong" in html and "/static/storefront/site.css" in html


def test_static_assets_are_served_locally(st_mary) -> None:
    from django.contrib.staticfiles import finders

    for path in (
        "storefront/site.css",
        "storefront/site.js",
        "storefront/vendor/htmx.min.js",
        "storefront/vendor/htmx.LICENSE",
    ):
        assert finders.find(path), path


class TestPartnerDirectory:
    def test_lists_kind_sector_country_verified_badge_and_offer(self) -> None:
        from django.utils import timezone

        VendorFactory(
            name="Radiant AI",
            sector="business",
            country="DE",
            partnership_offer="Imaging AI",
            verified_at=timezone.now(),
        )
        OrganizationFactory(name="Lakeshore University Hospital", sector="academia", country="CH")
        html = Client().get(reverse("storefront:partners")).content.decode()
        assert "Radiant AI" in html and "Lakeshore University Hospital" in html
        assert "Verified vendor" in html and "Imaging AI" in html
        assert "Academia" in html and "CH" in html and "Provider" in html
        assert html.count("Verified vendor") == 1

    def test_search_and_pagination(self) -> None:
        for number in range(25):
            OrganizationFactory(name=f"Clinic {number:02d}")
        OrganizationFactory(name="Radiology Partners", description="imaging network")
        first = Client().get(reverse("storefront:partners")).content.decode()
        assert "Page 1 of 2" in first and "Clinic 00" in first and "Radiology Partners" not in first
        second = Client().get(reverse("storefront:partners"), {"page": 2}).content.decode()
        assert "Radiology Partners" in second
        found = Client().get(reverse("storefront:partners"), {"q": "imaging"}).content.decode()
        assert "Radiology Partners" in found and "Clinic 00" not in found


class TestHome:
    def test_anonymous_sees_calls_to_action(self) -> None:
        html = Client().get(reverse("storefront:home")).content.decode()
        assert reverse("storefront:signup") in html and reverse("storefront:login") in html

    def test_signed_in_sees_active_organization_and_links(self, st_mary) -> None:
        html = signed_in(st_mary.admin).get(reverse("storefront:home")).content.decode()
        assert "St. Mary&#x27;s Hospital Group" in html
        assert reverse("storefront:organization-members") in html
        assert reverse("storefront:organization-api-clients") in html
        assert "/operator/" not in html

    def test_without_organization_invites_to_create_one(self, user_factory) -> None:
        html = signed_in(user_factory()).get(reverse("storefront:home")).content.decode()
        assert reverse("storefront:organization-create") in html

    def test_operator_gets_the_console_link(self, operator) -> None:
        html = signed_in(operator).get(reverse("storefront:home")).content.decode()
        assert 'href="/operator/"' in html

    def test_switcher_only_for_people_in_several_organizations(self, st_mary, northside) -> None:
        assert "org-switcher" not in signed_in(st_mary.admin).get("/").content.decode()
        MembershipFactory(user=st_mary.admin, organization=northside.organization, role="member")
        html = signed_in(st_mary.admin).get("/").content.decode()
        assert "org-switcher" in html and "Northside Clinics" in html
