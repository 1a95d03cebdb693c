"""Trials in the web store: hospital IT requests one on the listing page, the vendor decides in
its inbox, both watch the deployment's progress on the trial page (htmx polling that stops once
it settles), the provider cancels, anyone can retry a failed set-up, and nobody else sees it."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.catalog.models import Offering, Plan
from apps.procurement.models import Trial
from apps.provisioning.models import Deployment
from apps.provisioning.services import deployment_advance
from tests.catalog.factories import publish_listing
from tests.factories import MembershipFactory, SiteFactory
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- helpers --------------------------------------------------------------------------------


def _cloud_listing(vendor: Any, *, auto: bool, days: int = 14) -> Any:
    listing = publish_listing(vendor=vendor.organization)
    Plan.objects.filter(offering__listing=listing).update(trial_days=days, trial_auto_approve=auto)
    return listing


def _plan(listing: Any, mode: str = "cloud") -> Plan:
    return Plan.objects.get(offering__listing=listing, offering__mode=mode)


def _listing_url(listing: Any) -> str:
    return reverse("storefront:listing", kwargs={"slug": listing.slug})


def _request_url(listing: Any) -> str:
    return reverse("storefront:listing-trial", kwargs={"slug": listing.slug})


def _trial_url(trial: Trial, name: str = "trial") -> str:
    return reverse(f"storefront:{name}", kwargs={"public_id": trial.public_id})


def _request(client: Client, listing: Any, plan: Plan, **fields: str) -> Any:
    return client.post(_request_url(listing), {"plan": str(plan.public_id), **fields})


def _field_error(html: str, field: str) -> str:
    """The error text Django renders next to `field` (its errorlist, tied by aria-describedby)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.DOTALL)
    assert match, f"no error next to {field}"
    assert re.search(rf'aria-invalid="true" aria-describedby="[^"]*id_{field}_error"', html), field
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _text(response: Any) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _run_worker(deployment: Deployment) -> None:
    """What the worker does, one step per call, until nothing is left to do."""
    for _ in range(20):
        status = deployment_advance(deployment_id=deployment.pk)
        if status not in ("pending", "provisioning", "deprovisioning"):
            return


# --- the form on the listing page -----------------------------------------------------------


def test_the_form_is_for_members_of_provider_organizations_only(st_mary: Any, radiant: Any, operator: Any) -> None:
    listing = _cloud_listing(radiant, auto=True)
    plan = _plan(listing)

    html = assert_csp_clean(Client().get(_listing_url(listing)))
    assert "Sign in to request a trial" in html
    assert 'name="plan"' not in html

    html = assert_csp_clean(signed_in(st_mary.member).get(_listing_url(listing)))
    assert 'name="plan"' in html and 'name="region"' in html and 'name="notes"' in html
    assert f'value="{plan.public_id}"' in html
    assert "14-day trial, approved at once" in unescape(html)
    assert 'data-mode="cloud"' in html
    assert "storefront/trial-request.js" in html  # a file, not an inline script
    assert "Sign in to request a trial" not in html

    for who in (signed_in(radiant.member), signed_in(operator)):
        html = who.get(_listing_url(listing)).content.decode()
        assert 'name="plan"' not in html and "Request a trial" not in html and "Sign in to request" not in html

    read_only = MembershipFactory(organization=st_mary.organization, role="read_only").user
    html = signed_in(read_only).get(_listing_url(listing)).content.decode()
    assert 'name="plan"' not in html and "read-only" in html
    assert _request(signed_in(read_only), listing, plan, region="eu-central").status_code == 403
    assert not Trial.objects.exists()


def test_only_active_plans_with_trial_terms_are_offered(st_mary: Any, radiant: Any) -> None:
    listing = publish_listing(vendor=radiant.organization, offerings=[("cloud", "subscription"), ("cloud", "usage")])
    with_trial, without_trial = Plan.objects.filter(offering__listing=listing).order_by("pk")
    Plan.objects.filter(pk=without_trial.pk).update(trial_days=0)
    html = signed_in(st_mary.member).get(_listing_url(listing)).content.decode()
    # (The "Request a quote" form further down offers every plan; the trial form only these.)
    trial_form = html.split('id="request-trial"')[1].split("</section>")[0]
    assert f'value="{with_trial.public_id}"' in trial_form and f'value="{without_trial.public_id}"' not in trial_form
    assert "30-day trial, the vendor approves" in html
    Plan.objects.filter(pk=with_trial.pk).update(is_active=False)
    html = signed_in(st_mary.member).get(_listing_url(listing)).content.decode()
    assert 'name="plan"' not in html and "Request a trial" not in html  # nothing left to try
    # A plan without trial terms is refused by the form even when posted by hand.
    response = _request(signed_in(st_mary.member), listing, without_trial, region="eu-central")
    assert response.status_code == 400
    message = _field_error(response.content.decode(), "plan")
    assert message == "That plan offers no trial here; choose one of those listed."


def test_an_auto_approved_request_ends_on_the_trial_page_active_with_four_done_steps(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _cloud_listing(radiant, auto=True)
    client = signed_in(st_mary.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = _request(client, listing, _plan(listing), region="eu-central", notes="Evaluate on our CT fleet.")
    trial = Trial.objects.get()
    assert response.status_code == 302 and response["Location"] == _trial_url(trial)
    assert trial.status == Trial.Status.ACTIVE and trial.region == "eu-central" and trial.site is None

    response = client.get(response["Location"])
    html = assert_csp_clean(response)
    text = _text(response)
    assert "approved at once" in text  # the message from the request
    assert "Active Ready; runs until" in text
    assert re.search(r'<progress id="deployment-progress" max="100" value="100">', html)
    assert html.count('<span class="badge badge-verified">Done</span>') == 4
    for title in ("Check the region and the order", "Create the tenant", "Configure integrations"):
        assert title in text
    assert trial.deployment.tenant_url and trial.deployment.tenant_url in html
    assert "Evaluate on our CT fleet." in text
    assert "hx-trigger" not in html  # settled: no polling


def test_an_on_premise_request_needs_a_site_named_next_to_the_field(st_mary: Any, radiant: Any) -> None:
    listing = publish_listing(vendor=radiant.organization, offerings=[("on_premise", "subscription")])
    plan = _plan(listing, "on_premise")
    site = SiteFactory(organization=st_mary.organization, name="St. Mary's Main Campus")
    client = signed_in(st_mary.member)
    html = client.get(_listing_url(listing)).content.decode()
    assert 'name="site"' in html and 'name="region"' not in html  # no cloud offering here
    assert f'value="{site.public_id}"' in html

    response = _request(client, listing, plan, site="")
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert _field_error(html, "site") == "Choose one of your sites."
    assert re.search(r'<select name="site" autofocus', html)  # focus goes to the field at fault
    assert html.count("autofocus") == 1
    assert not Trial.objects.exists()

    # A region sent along (no JavaScript to hide the field) is not used for an on-premise offering.
    response = _request(client, listing, plan, site=str(site.public_id), region="eu-central")
    trial = Trial.objects.get()
    assert response.status_code == 302 and trial.site == site and trial.region == ""


def test_a_region_the_offering_does_not_run_in_is_named_next_to_the_region(st_mary: Any, radiant: Any) -> None:
    listing = publish_listing(vendor=radiant.organization, offerings=[("cloud", "subscription"), ("cloud", "usage")])
    first, second = Offering.objects.filter(listing=listing).order_by("pk")
    Offering.objects.filter(pk=second.pk).update(regions=["us-east"])
    plan = first.plans.get()
    client = signed_in(st_mary.member)

    response = _request(client, listing, plan, region="us-east")  # offered by the other offering
    assert response.status_code == 400
    assert _field_error(response.content.decode(), "region") == "This offering runs in eu-central; not in 'us-east'."
    response = _request(client, listing, plan, region="")
    assert _field_error(response.content.decode(), "region") == "Choose a region: eu-central."
    assert not Trial.objects.exists()


def test_a_second_request_is_a_conflict_linking_the_open_trial(st_mary: Any, radiant: Any) -> None:
    listing = _cloud_listing(radiant, auto=False)
    client = signed_in(st_mary.member)
    assert _request(client, listing, _plan(listing), region="eu-central").status_code == 302
    first = Trial.objects.get()

    response = _request(client, listing, _plan(listing), region="eu-central")
    assert response.status_code == 409
    html = assert_csp_clean(response)
    # The error box takes the focus (autofocus works without JavaScript too).
    banner = re.search(r'<div class="form-errors" role="alert" tabindex="-1" autofocus>(.*?)</div>', html, re.DOTALL)
    assert banner and "already has an open trial" in banner.group(1)
    assert f'href="{_trial_url(first)}">Open the existing trial</a>' in banner.group(1)
    assert Trial.objects.count() == 1
    # Outside the error, the page lists the open trial too.
    html = client.get(_listing_url(listing)).content.decode()
    assert _trial_url(first) in html and "1 open trial" in html


def test_patient_data_in_the_notes_is_refused_with_the_message_shown(st_mary: Any, radiant: Any) -> None:
    listing = _cloud_listing(radiant, auto=True)
    response = _request(
        signed_in(st_mary.member), listing, _plan(listing), region="eu-central", notes="for patient MRN 00482913"
    )
    assert response.status_code == 400
    message = _field_error(assert_csp_clean(response), "notes")
    assert "medical record number" in message
    assert not Trial.objects.exists()


def test_vendors_and_anonymous_visitors_cannot_post_a_request(st_mary: Any, radiant: Any) -> None:
    listing = _cloud_listing(radiant, auto=True)
    response = _request(Client(), listing, _plan(listing), region="eu-central")
    assert response.status_code == 302 and reverse("storefront:login") in response["Location"]
    response = _request(signed_in(radiant.member), listing, _plan(listing), region="eu-central")
    assert response.status_code == 403
    assert not Trial.objects.exists()
    # Coming back from signing in (a GET) shows the form on the listing page.
    response = signed_in(st_mary.member).get(_request_url(listing))
    assert response.status_code == 302 and response["Location"] == _listing_url(listing) + "#request-trial"


# --- the vendor's inbox ---------------------------------------------------------------------


def test_the_vendor_approves_from_the_inbox_and_the_worker_sets_it_up(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _cloud_listing(radiant, auto=False)
    _request(signed_in(st_mary.member), listing, _plan(listing), region="eu-central", notes="Pilot in radiology.")
    trial = Trial.objects.get()
    vendor = signed_in(radiant.member)

    response = vendor.get(reverse("storefront:organization-trials"))
    html = assert_csp_clean(response)
    text = _text(response)
    assert "Trial requests waiting for your decision (1)" in text
    assert f"{listing.name} for {st_mary.organization.name}" in text and "Pilot in radiology." in text
    assert reverse("storefront:trial-approve", kwargs={"public_id": trial.public_id}) in html
    # The provider's own list shows it as requested, without decision buttons.
    provider_page = signed_in(st_mary.member).get(reverse("storefront:organization-trials"))
    assert "waiting for your decision" not in _text(provider_page) and "Requested" in _text(provider_page)
    assert "trial-approve" not in provider_page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = vendor.post(_trial_url(trial, "trial-approve"), {"from": "inbox"})
    assert response.status_code == 302 and response["Location"] == reverse("storefront:organization-trials")
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE
    text = _text(vendor.get(reverse("storefront:organization-trials")))
    assert "is approved" in text and "waiting for your decision (0)" in text
    # The provider cannot approve its own request.
    other = _cloud_listing(radiant, auto=False)
    _request(signed_in(st_mary.member), other, _plan(other), region="eu-central")
    pending = Trial.objects.get(listing=other)
    response = signed_in(st_mary.admin).post(_trial_url(pending, "trial-approve"))
    assert response.status_code == 403 and "vendor" in _text(response)
    assert Trial.objects.get(pk=pending.pk).status == Trial.Status.REQUESTED


def test_the_vendor_declines_only_with_a_reason_the_hospital_sees(st_mary: Any, radiant: Any) -> None:
    listing = _cloud_listing(radiant, auto=False)
    _request(signed_in(st_mary.member), listing, _plan(listing), region="eu-central")
    trial = Trial.objects.get()
    vendor = signed_in(radiant.member)
    field = f"{trial.public_id}-reason"

    response = vendor.post(_trial_url(trial, "trial-decline"), {"from": "inbox", field: "  "})
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert _field_error(html, field) == "Say why, so the hospital knows what to do next."
    assert '<details class="decline" open>' in html  # the form stays open with its error
    assert Trial.objects.get().status == Trial.Status.REQUESTED

    # From the trial page (no prefix) the same rule holds.
    response = vendor.post(_trial_url(trial, "trial-decline"), {"reason": ""})
    assert response.status_code == 400 and _field_error(response.content.decode(), "reason")

    response = vendor.post(
        _trial_url(trial, "trial-decline"), {"from": "inbox", field: "We only run this in the US right now."}
    )
    assert response.status_code == 302
    assert Trial.objects.get().status == Trial.Status.DECLINED
    text = _text(signed_in(st_mary.member).get(_trial_url(trial)))
    assert "Declined" in text and "We only run this in the US right now." in text


# --- the trial page: live progress, cancel, retry ---------------------------------------------


def test_the_live_region_polls_while_moving_and_stops_when_active(st_mary: Any, radiant: Any) -> None:
    listing = _cloud_listing(radiant, auto=False)
    client = signed_in(st_mary.member)
    _request(client, listing, _plan(listing), region="eu-central")
    trial = Trial.objects.get()
    live = _trial_url(trial, "trial-live")

    # Waiting for the vendor: the page asks now and then.
    response = client.get(live, **HTMX)
    html = assert_csp_clean(response)
    assert 'hx-trigger="every 5s"' in html and f'hx-get="{live}"' in html
    assert html.lstrip().startswith("{") is False and "<html" not in html  # the partial only
    assert client.get(live).status_code == 302  # not for people: they get the page

    # Approved; the worker is on the first steps (nothing runs after commit here).
    signed_in(radiant.member).post(_trial_url(trial, "trial-approve"))
    deployment = Trial.objects.get().deployment
    assert deployment.status == Deployment.Status.PENDING
    assert 'hx-trigger="every 2s"' in client.get(_trial_url(trial)).content.decode()
    deployment_advance(deployment_id=deployment.pk)
    deployment_advance(deployment_id=deployment.pk)
    response = client.get(live, **HTMX)
    html = assert_csp_clean(response)
    text = _text(response)
    assert 'hx-trigger="every 2s"' in html and 'hx-swap="outerHTML"' in html
    assert "Provisioning" in text and "50%" in text
    # Two steps done; the next one waits for a worker (none runs after commit in this test).
    assert "Current step Configure integrations" in text and "Estimated ready" in text
    assert response["Cache-Control"].startswith("max-age=0")

    _run_worker(deployment)
    response = client.get(live, **HTMX)
    html = assert_csp_clean(response)
    assert 'id="trial-live"' in html and "hx-trigger" not in html and "hx-get" not in html
    assert "Active" in _text(response) and "100%" in _text(response)


def test_the_provider_cancels_and_what_was_set_up_is_removed(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _cloud_listing(radiant, auto=True)
    client = signed_in(st_mary.member)
    with django_capture_on_commit_callbacks(execute=True):
        _request(client, listing, _plan(listing), region="eu-central")
    trial = Trial.objects.get()
    html = client.get(_trial_url(trial)).content.decode()
    assert _trial_url(trial, "trial-cancel") in html
    # The vendor sees no cancel button, and posting one is refused.
    assert _trial_url(trial, "trial-cancel") not in signed_in(radiant.member).get(_trial_url(trial)).content.decode()
    assert signed_in(radiant.admin).post(_trial_url(trial, "trial-cancel")).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_trial_url(trial, "trial-cancel"), {"reason": "Budget moved to next year."})
    assert response.status_code == 302 and response["Location"] == _trial_url(trial)
    trial.refresh_from_db()
    assert trial.status == Trial.Status.CANCELLED
    assert trial.deployment.status == Deployment.Status.DEPROVISIONED
    response = client.get(_trial_url(trial))
    text = _text(response)
    assert "Cancelled" in text and "Removal steps" in text and "Revoke access" in text
    assert "hx-trigger" not in response.content.decode()
    assert _trial_url(trial, "trial-cancel") not in response.content.decode()  # nothing left to cancel


def test_a_failed_set_up_shows_the_reason_and_can_be_retried(
    st_mary: Any, radiant: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "configure", "transient_failures": 0}
    listing = _cloud_listing(radiant, auto=True)
    client = signed_in(st_mary.member)
    with django_capture_on_commit_callbacks(execute=True):
        _request(client, listing, _plan(listing), region="eu-central")
    trial = Trial.objects.get()
    assert trial.status == Trial.Status.FAILED
    response = client.get(_trial_url(trial))
    html = assert_csp_clean(response)
    assert "Why it failed: Configure integrations" in _text(response)
    assert 'id="retry-button"' in html and "hx-trigger" not in html

    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "", "transient_failures": 0}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(radiant.member).post(_trial_url(trial, "trial-retry"))  # the vendor may retry too
    assert response.status_code == 302
    trial.refresh_from_db()
    assert trial.status == Trial.Status.ACTIVE
    assert 'id="retry-button"' not in client.get(_trial_url(trial)).content.decode()


def test_another_organization_gets_404_everywhere(st_mary: Any, northside: Any, radiant: Any) -> None:
    listing = _cloud_listing(radiant, auto=False)
    _request(signed_in(st_mary.member), listing, _plan(listing), region="eu-central")
    trial = Trial.objects.get()
    stranger = signed_in(northside.admin)
    assert stranger.get(_trial_url(trial)).status_code == 404
    # A poll that cannot be answered (another organization, signed out meanwhile) reloads the
    # page instead of swapping an error or the sign-in page into the live region.
    for client in (stranger, Client()):
        response = client.get(_trial_url(trial, "trial-live"), **HTMX)
        assert response.status_code == 204 and response["HX-Refresh"] == "true"
    for name in ("trial-approve", "trial-decline", "trial-cancel", "trial-retry"):
        assert stranger.post(_trial_url(trial, name), {"reason": "x"}).status_code == 404
    assert listing.name not in _text(stranger.get(reverse("storefront:organization-trials")))
    assert Trial.objects.get().status == Trial.Status.REQUESTED
    # Signed out: to the sign-in page, never the trial.
    response = Client().get(_trial_url(trial))
    assert response.status_code == 302 and reverse("storefront:login") in response["Location"]


def test_the_deployments_page_lists_both_sides_and_links_the_trial(
    st_mary: Any, northside: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _cloud_listing(radiant, auto=True)
    with django_capture_on_commit_callbacks(execute=True):
        _request(signed_in(st_mary.member), listing, _plan(listing), region="eu-central")
    trial = Trial.objects.get()
    for party, side in ((st_mary, f"From {radiant.organization.name}"), (radiant, f"For {st_mary.organization.name}")):
        response = signed_in(party.member).get(reverse("storefront:organization-deployments"))
        html = assert_csp_clean(response)
        text = _text(response)
        assert f'href="{_trial_url(trial)}">{listing.name}</a>' in html
        assert side in text and "Active" in text and "100%" in text and "eu-central" in text
    assert listing.name not in _text(signed_in(northside.member).get(reverse("storefront:organization-deployments")))


def test_the_organization_tabs_link_trials_and_deployments(st_mary: Any, radiant: Any) -> None:
    for party in (st_mary, radiant):
        html = assert_csp_clean(signed_in(party.member).get(reverse("storefront:organization-trials")))
        assert f'href="{reverse("storefront:organization-trials")}" aria-current="page"' in html
        assert f'href="{reverse("storefront:organization-deployments")}"' in html
