"""Buying in the web store: hospital IT requests a quote (or buys a list-priced plan) on the
listing page; the vendor issues versioned quotes with a line-item editor; a provider admin
accepts one with the listing's terms and a purchase order number; both parties see the order,
the subscription with its entitlements, deployments and licenses, and act on it by role; the
trial page buys the trial's plan; customers review the app. Nobody else sees any of it."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import Plan
from apps.procurement.models import Order, Quote, QuoteRequest, Subscription, Trial
from apps.procurement.services import quote_issue, quote_request_create, terms_required
from apps.provisioning.models import Deployment
from tests.catalog.factories import publish_listing
from tests.factories import MembershipFactory, SiteFactory
from tests.procurement.factories import principal_of, trial_in_state
from tests.storefront.conftest import assert_csp_clean, signed_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PO = "PO-2026-0042"


# --- helpers --------------------------------------------------------------------------------


def _listing(vendor: Any, *offerings: tuple[str, str]) -> Any:
    return publish_listing(vendor=vendor.organization, offerings=list(offerings) or [("cloud", "subscription")])


def _plan(listing: Any, mode: str = "cloud") -> Plan:
    return Plan.objects.filter(offering__listing=listing, offering__mode=mode).first()


def _url(name: str, obj: Any = None, **kwargs: Any) -> str:
    if obj is not None:
        kwargs["public_id"] = obj.public_id
    return reverse(f"storefront:{name}", kwargs=kwargs or None)


def _listing_url(listing: Any, name: str = "listing") -> str:
    return reverse(f"storefront:{name}", kwargs={"slug": listing.slug})


def _text(response: Any) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _field_error(html: str, field_id: str) -> str:
    """The error Django renders next to the field (its errorlist, tied by aria-describedby)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field_id}_error">(.*?)</ul>', html, re.DOTALL)
    assert match, f"no error next to {field_id}"
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _summary(html: str) -> str:
    """The error summary on top of the form (it takes focus, also without JavaScript)."""
    match = re.search(
        r'<div class="form-errors error-summary" role="alert" tabindex="-1" autofocus>(.*?)</div>', html, re.DOTALL
    )
    assert match, "no error summary"
    return match.group(1)


def _terms(listing: Any, prefix: str) -> dict[str, list[str]]:
    return {f"{prefix}-accepted_terms": [f"{t['kind']}:{t['version']}" for t in terms_required(listing)]}


def _request_quote(client: Client, listing: Any, plan: str, **fields: Any) -> Any:
    return client.post(
        _listing_url(listing, "listing-quote"),
        {"quote-plan": plan, **{f"quote-{name}": value for name, value in fields.items()}},
    )


def _quote_request(st_mary: Any, listing: Any, **extra: Any) -> QuoteRequest:
    plan = _plan(listing)
    return quote_request_create(
        provider=st_mary.organization,
        actor=principal_of(st_mary.organization),
        listing=listing,
        offering=plan.offering,
        plan=plan,
        region="eu-central",
        seats=10,
        **extra,
    )


def _issue_data(rows: list[tuple[str, str, str]], *, total: int = 5, **fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "issue-currency": "EUR",
        "issue-valid_until": (timezone.now().date() + timedelta(days=30)).isoformat(),
        "issue-term_months": "12",
        "issue-auto_renew": "on",
        "issue-terms": "Net 30.",
        "line-TOTAL_FORMS": str(total),
        "line-INITIAL_FORMS": str(total),
        "line-MIN_NUM_FORMS": "0",
        "line-MAX_NUM_FORMS": "50",
    }
    for index, (description, quantity, unit_price) in enumerate(rows):
        data[f"line-{index}-description"] = description
        data[f"line-{index}-quantity"] = quantity
        data[f"line-{index}-unit_price"] = unit_price
    data.update({f"issue-{name}": value for name, value in fields.items()})
    return data


def _quoted(st_mary: Any, radiant: Any, listing: Any, **extra: Any) -> QuoteRequest:
    quote_request = _quote_request(st_mary, listing, **extra)
    quote_issue(
        quote_request=quote_request,
        actor=principal_of(radiant.organization),
        line_items=[
            {"description": "Site license", "quantity": "2", "unit_price": "1000"},
            {"description": "Onboarding", "quantity": "1", "unit_price": "500.50"},
        ],
        currency="EUR",
        valid_until=timezone.now().date() + timedelta(days=30),
    )
    return quote_request


def _accept(client: Client, quote_request: QuoteRequest, version: int = 1, **extra: Any) -> Any:
    data = {
        "accept-version": str(version),
        "accept-purchase_order_number": PO,
        **_terms(quote_request.listing, "accept"),
    }
    data.update(extra)
    return client.post(_url("quote-accept", quote_request), data)


def _subscribed(st_mary: Any, radiant: Any, capture: Any) -> Subscription:
    """An accepted quote whose deployment ran to active (the worker runs after commit)."""
    listing = _listing(radiant)
    quote_request = _quoted(st_mary, radiant, listing)
    with capture(execute=True):
        assert _accept(signed_in(st_mary.admin), quote_request).status_code == 302
    return Subscription.objects.get()


# --- the listing page: request a quote, buy, by role -------------------------------------------


def test_the_listing_page_offers_quote_and_buy_by_role(st_mary: Any, radiant: Any, operator: Any) -> None:
    listing = _listing(radiant, ("cloud", "subscription"), ("on_premise", "quote_only"))
    cloud, on_premise = _plan(listing, "cloud"), _plan(listing, "on_premise")
    url = _listing_url(listing)

    text = _text(Client().get(url))
    assert "Sign in to request a quote" in text and "Sign in to buy" in text

    response = signed_in(st_mary.member).get(url)
    assert "St. Mary's Hospital Group has no sites yet." in _text(response)
    site = SiteFactory(organization=st_mary.organization, name="Main Campus")
    response = signed_in(st_mary.member).get(url)
    html = assert_csp_clean(response)
    for name in ("plan", "region", "sites", "seats", "studies_per_month", "desired_start", "notes"):
        assert f'name="quote-{name}"' in html, name
    assert f'value="{cloud.public_id}"' in html and f'value="custom:{on_premise.offering.public_id}"' in html
    assert '<label for="id_quote-seats">Seats</label>' in html and 'type="date" name="quote-desired_start"' in html
    assert f'<input type="checkbox" name="quote-sites" value="{site.public_id}"' in html
    assert "<legend>Sites</legend>" in html
    assert 'name="buy-plan"' not in html
    assert f"Admins of {st_mary.organization.name} buy directly" in _text(response)
    assert 'href="#request-quote"' in html and 'href="#buy"' in html and "storefront/trial-request.js" in html

    response = signed_in(st_mary.admin).get(url)
    html = assert_csp_clean(response)
    assert 'name="buy-plan"' in html and 'name="buy-purchase_order_number"' in html
    # Only list-priced plans are bought directly; the quote-only one is not offered.
    assert f'<option value="{cloud.public_id}"' in html.split('name="buy-plan"')[1].split("</select>")[0]
    assert str(on_premise.public_id) not in html.split('name="buy-plan"')[1].split("</select>")[0]
    # The terms: one checkbox each, naming title and version, in a fieldset with a legend.
    text = _text(response)
    for term in terms_required(listing):
        assert f'value="{term["kind"]}:{term["version"]}"' in html
        assert f"I accept the {term['title']}, version {term['version']}" in text
    assert "<legend>Terms you accept</legend>" in html

    for who in (signed_in(radiant.admin), signed_in(operator)):
        html = who.get(url).content.decode()
        assert 'name="quote-plan"' not in html and 'name="buy-plan"' not in html and "Sign in to buy" not in html

    read_only = MembershipFactory(organization=st_mary.organization, role="read_only").user
    response = signed_in(read_only).get(url)
    assert 'name="quote-plan"' not in response.content.decode() and "read-only" in _text(response)
    assert _request_quote(signed_in(read_only), listing, str(cloud.public_id), region="eu-central").status_code == 403
    assert not QuoteRequest.objects.exists()


def test_a_quote_request_names_its_errors_next_to_the_fields_and_then_goes_to_its_page(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _listing(radiant, ("cloud", "subscription"), ("on_premise", "quote_only"))
    cloud, on_premise = _plan(listing, "cloud"), _plan(listing, "on_premise")
    main = SiteFactory(organization=st_mary.organization, name="Main Campus")
    north = SiteFactory(organization=st_mary.organization, name="North Clinic")
    client = signed_in(st_mary.member)

    # A custom quote for the on-premise offering without a site: named next to the sites.
    response = _request_quote(client, listing, f"custom:{on_premise.offering.public_id}", region="eu-central")
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert _field_error(html, "quote-sites") == "Choose one or more of your sites."
    summary = _summary(html)
    assert 'href="#id_quote-sites_0"' in summary and "Sites: Choose one or more of your sites." in unescape(summary)
    assert html.count("autofocus") == 1
    # Shape errors come from the form, also named next to the field.
    response = _request_quote(client, listing, str(cloud.public_id), region="eu-central", seats="0")
    assert response.status_code == 400 and _field_error(response.content.decode(), "quote-seats")
    past = (timezone.now().date() - timedelta(days=1)).isoformat()
    response = _request_quote(client, listing, str(cloud.public_id), region="eu-central", desired_start=past)
    assert _field_error(response.content.decode(), "quote-desired_start") == "The desired start is in the past."
    response = _request_quote(client, listing, str(cloud.public_id), region="eu-central", notes="MRN 00482913")
    assert "patient data" in _field_error(response.content.decode(), "quote-notes")
    assert not QuoteRequest.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):  # the mail goes after commit
        response = _request_quote(
            client,
            listing,
            f"custom:{on_premise.offering.public_id}",
            region="eu-central",  # shown without JavaScript; not used for an on-premise offering
            sites=[str(main.public_id), str(north.public_id)],
            seats="40",
            studies_per_month="3000",
            desired_start=(timezone.now().date() + timedelta(days=60)).isoformat(),
            notes="Two campuses.",
        )
    quote_request = QuoteRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == _url("quote", quote_request)
    assert quote_request.plan is None and quote_request.region == ""
    assert set(quote_request.sites.all()) == {main, north}
    assert (quote_request.seats, quote_request.studies_per_month) == (40, 3000)
    text = _text(client.get(response["Location"]))
    assert "Quote requested" in text and "custom terms" in text and "Main Campus, North Clinic" in text
    # The vendor's mail links this page, and it opens for the vendor.
    path = f"/organization/quotes/{quote_request.public_id}/"
    assert response["Location"] == path
    assert any(path in message.body for message in mail.outbox if radiant.member.email in message.to)
    assert signed_in(radiant.member).get(path).status_code == 200
    assert "Waiting for Radiant AI to quote." in text
    # The listing page now lists the open request.
    assert _url("quote", quote_request) in client.get(_listing_url(listing)).content.decode()


def test_a_quote_that_follows_a_trial_is_preselected_from_the_trial_page(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state(
        Trial.Status.ACTIVE,
        provider=st_mary.organization,
        vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks,
    )
    Plan.objects.filter(pk=trial.plan_id).update(pricing_model=Plan.PricingModel.QUOTE_ONLY, price=None)
    # A quote-only plan cannot be bought on the trial page: the page links a quote that follows it.
    response = signed_in(st_mary.admin).get(_url("trial", trial))
    html = assert_csp_clean(response)
    link = _listing_url(trial.listing) + f"?trial={trial.public_id}#request-quote"
    assert f'href="{link}"' in html and _url("trial-convert", trial) not in html
    response = signed_in(st_mary.member).get(link)
    assert re.search(rf'<option value="{trial.public_id}" selected>', response.content.decode())

    plan = trial.plan
    response = _request_quote(
        signed_in(st_mary.member), trial.listing, str(plan.public_id), region=trial.region, trial=str(trial.public_id)
    )
    assert response.status_code == 302
    assert QuoteRequest.objects.get().trial == trial
    # A second request for the same trial is a conflict linking the open one.
    response = _request_quote(
        signed_in(st_mary.member), trial.listing, str(plan.public_id), region=trial.region, trial=str(trial.public_id)
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "already has an open quote request" in _summary(html)
    assert f'href="{_url("quote", QuoteRequest.objects.get())}">Open the existing quote request' in html


def test_buying_needs_every_term_and_places_the_order(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _listing(radiant)
    plan = _plan(listing)
    url = _listing_url(listing, "listing-buy")
    base = {"buy-plan": str(plan.public_id), "buy-region": "eu-central", "buy-purchase_order_number": PO}

    assert signed_in(st_mary.member).post(url, {**base, **_terms(listing, "buy")}).status_code == 403
    response = signed_in(st_mary.admin).post(url, {**base, "buy-accepted_terms": ["eula:1.0"]})
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert _field_error(html, "buy-accepted_terms") == "Accept the Data processing agreement (version 2026-01)."
    assert 'href="#id_buy-accepted_terms_0"' in _summary(html)
    # A version that changed since the page was shown is named by the service.
    stale = {**base, "buy-accepted_terms": ["eula:0.9", "dpa:2026-01"]}
    response = signed_in(st_mary.admin).post(url, stale)
    assert response.status_code == 400
    assert "now version 1.0, not 0.9" in _field_error(response.content.decode(), "buy-accepted_terms")
    assert not Order.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(st_mary.admin).post(url, {**base, **_terms(listing, "buy")})
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == _url("subscription", order.subscription)
    assert order.source == Order.Source.DIRECT and order.purchase_order_number == PO
    assert [term["kind"] for term in order.accepted_terms] == ["eula", "dpa"]
    assert order.subscription.status == Subscription.Status.ACTIVE


# --- the quotes inbox and the quote page ------------------------------------------------------


def test_the_quotes_inbox_shows_each_side_its_requests_with_a_status_filter(
    st_mary: Any, northside: Any, radiant: Any
) -> None:
    listing = _listing(radiant)
    quoted = _quoted(st_mary, radiant, listing)
    requested = _quote_request(northside, listing)

    response = signed_in(radiant.member).get(_url("organization-quotes"))
    html = assert_csp_clean(response)
    text = _text(response)
    assert "Quote requests for your apps (2)" in text and "Quote requests Radiant AI made" not in text
    assert _url("quote", quoted) in html and _url("quote", requested) in html
    assert "EUR 2,500.50" in text and "Version 1" in text
    response = signed_in(radiant.member).get(_url("organization-quotes") + "?status=requested")
    assert (
        _url("quote", requested) in response.content.decode() and _url("quote", quoted) not in response.content.decode()
    )
    assert '<option value="requested" selected>' in response.content.decode()
    response = signed_in(radiant.member).get(_url("organization-quotes") + "?status=accepted")
    assert "No quote request for your apps has this status." in _text(response)
    # An unknown status is ignored, not an error.
    assert signed_in(radiant.member).get(_url("organization-quotes") + "?status=nonsense").status_code == 200

    response = signed_in(st_mary.member).get(_url("organization-quotes"))
    html = assert_csp_clean(response)
    assert f"Quote requests {st_mary.organization.name} made (1)" in _text(response)
    assert _url("quote", quoted) in html and _url("quote", requested) not in html
    assert "for your apps" not in _text(response)
    # The tab is in the organization's navigation, marked as the current page.
    assert f'href="{_url("organization-quotes")}" aria-current="page"' in html
    for name in ("organization-orders", "organization-subscriptions"):
        assert f'href="{_url(name)}"' in html


def test_the_vendor_issues_versions_with_a_line_item_editor_and_the_server_computes_totals(
    st_mary: Any, radiant: Any
) -> None:
    listing = _listing(radiant)
    quote_request = _quote_request(st_mary, listing)
    vendor = signed_in(radiant.member)

    response = vendor.get(_url("quote", quote_request))
    html = assert_csp_clean(response)
    # Five rows, each cell with a label of its own; the first starts from the plan's list price.
    assert 'name="line-TOTAL_FORMS" value="5"' in html
    for row in range(5):
        for field, label in (("description", "description"), ("quantity", "quantity"), ("unit_price", "unit price")):
            assert f'<label class="visually-hidden" for="id_line-{row}-{field}">Line {row + 1} {label}</label>' in html
    assert 'name="line-0-description" value="Subscription: Cloud edition"' in html
    assert 'name="issue-currency" value="EUR"' in html
    # The provider sees no editor.
    assert 'name="line-TOTAL_FORMS"' not in signed_in(st_mary.admin).get(_url("quote", quote_request)).content.decode()

    # "Add more rows" keeps what was typed and offers five more, the first new one focused.
    data = _issue_data([("Site license", "2", "1000")])
    response = vendor.post(_url("quote-issue", quote_request), {**data, "more_rows": "1"})
    html = assert_csp_clean(response)
    assert response.status_code == 200 and 'name="line-TOTAL_FORMS" value="10"' in html
    assert 'name="line-0-description" value="Site license"' in html
    assert re.search(r'<input type="text" name="line-5-description"[^>]*autofocus', html)
    assert not Quote.objects.exists()

    # A row with a description but no quantity: the service's error goes next to that row's field
    # (empty rows in between are skipped, so its index is mapped back).
    rows = [("Site license", "2", "1000"), ("", "", ""), ("Onboarding", "", "500.50")]
    response = vendor.post(_url("quote-issue", quote_request), _issue_data(rows))
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert _field_error(html, "line-2-quantity") == "Quantity and unit price are decimal numbers."
    assert 'href="#id_line-2-quantity"' in _summary(html)
    assert 'name="line-0-description" value="Site license"' in html  # what was typed stays
    response = vendor.post(_url("quote-issue", quote_request), _issue_data([("", "", "")] * 5))
    assert response.status_code == 400 and "Add at least one line item." in _summary(response.content.decode())
    response = vendor.post(_url("quote-issue", quote_request), _issue_data(rows[:1], currency="E1"))
    assert response.status_code == 400 and _field_error(response.content.decode(), "issue-currency")
    assert not Quote.objects.exists()

    rows = [("Site license", "2", "1000"), ("", "", ""), ("Onboarding", "1", "500.50")]
    response = vendor.post(_url("quote-issue", quote_request), _issue_data(rows))
    assert response.status_code == 302 and response["Location"] == _url("quote", quote_request)
    quote = Quote.objects.get()
    assert quote.total == 2500.50 and [item.amount for item in quote.line_items.all()] == [2000, 500.50]
    text = _text(vendor.get(response["Location"]))
    assert "Version 1 issued: EUR 2,500.50" in text
    assert "Site license 2 EUR 1,000.00 EUR 2,000.00" in text and "Total EUR 2,500.50" in text

    # A second version starts from the first and is shown above it.
    response = vendor.get(_url("quote", quote_request))
    html = response.content.decode()
    assert "Issue version 2" in _text(response) and 'name="line-1-description" value="Onboarding"' in html
    response = vendor.post(_url("quote-issue", quote_request), _issue_data([("Site license", "2", "900")]))
    assert response.status_code == 302
    response = signed_in(st_mary.member).get(_url("quote", quote_request))
    text = _text(response)
    assert text.index("Version 2 Current") < text.index("Version 1 Replaced")
    assert "Radiant AI quotes EUR 1,800.00" in text


def test_a_provider_admin_accepts_with_terms_and_a_purchase_order_number(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    listing = _listing(radiant)
    quote_request = _quoted(st_mary, radiant, listing)

    # Members see the quote but not the accept form; posting one is refused by the service.
    response = signed_in(st_mary.member).get(_url("quote", quote_request))
    assert "An admin of St. Mary's Hospital Group accepts quotes." in _text(response)
    assert _url("quote-accept", quote_request) not in response.content.decode()
    assert _accept(signed_in(st_mary.member), quote_request).status_code == 403

    admin = signed_in(st_mary.admin)
    html = assert_csp_clean(admin.get(_url("quote", quote_request)))
    assert 'name="accept-version" value="1"' in html and 'name="accept-purchase_order_number"' in html
    response = _accept(admin, quote_request, **{"accept-accepted_terms": []})
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert "Accept the Data processing agreement" in _field_error(html, "accept-accepted_terms")
    response = _accept(admin, quote_request, **{"accept-purchase_order_number": "x" * 61})
    assert response.status_code == 400 and _field_error(response.content.decode(), "accept-purchase_order_number")

    # The vendor issued a new version meanwhile: accepting the one read is refused, on top.
    quote_issue(
        quote_request=quote_request,
        actor=principal_of(radiant.organization),
        line_items=[{"description": "Site license", "quantity": "2", "unit_price": "900"}],
        currency="EUR",
        valid_until=timezone.now().date() + timedelta(days=30),
    )
    response = _accept(admin, quote_request, version=1)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Version 1 was replaced by version 2" in _text(response)
    assert 'name="accept-version" value="2"' in html  # the form now accepts what is shown
    assert not Order.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = _accept(admin, quote_request, version=2)
    order = Order.objects.get()
    subscription = order.subscription
    assert response.status_code == 302 and response["Location"] == _url("subscription", subscription)
    # The order mails link the subscription's page, for both parties.
    path = f"/organization/subscriptions/{subscription.public_id}/"
    assert response["Location"] == path
    for party in (st_mary, radiant):
        assert any(path in message.body for message in mail.outbox if party.member.email in message.to)
    assert order.purchase_order_number == PO and order.total == 1800 and order.quote.version == 2
    text = _text(admin.get(response["Location"]))
    assert "Quote accepted: order placed." in text and "Active" in text
    # The quote page now links the order and the subscription, without actions.
    response = admin.get(_url("quote", quote_request))
    html = response.content.decode()
    assert _url("order", order) in html and _url("subscription", subscription) in html
    assert _url("quote-accept", quote_request) not in html and _url("quote-cancel", quote_request) not in html
    # Accepting again is a conflict shown on top of the page.
    response = _accept(admin, quote_request, version=2)
    assert response.status_code == 409 and "already accepted" in _text(response)


def test_withdraw_needs_a_reason_decline_and_cancel_close_the_request(st_mary: Any, radiant: Any) -> None:
    listing = _listing(radiant)
    quote_request = _quoted(st_mary, radiant, listing)
    vendor = signed_in(radiant.member)

    response = vendor.post(_url("quote-withdraw", quote_request), {"withdraw-reason": " "})
    assert response.status_code == 400
    html = assert_csp_clean(response)
    assert _field_error(html, "withdraw-reason") == "Say why, so the other party knows what to do next."
    assert '<details class="cancel" open>' in html
    # Each side posts only its own actions.
    assert vendor.post(_url("quote-decline", quote_request), {}).status_code == 403
    assert (
        signed_in(st_mary.member).post(_url("quote-withdraw", quote_request), {"withdraw-reason": "x"}).status_code
        == 403
    )

    response = signed_in(st_mary.member).post(
        _url("quote-decline", quote_request), {"decline-reason": "Too expensive."}
    )
    assert response.status_code == 302
    quote_request.refresh_from_db()
    assert quote_request.status == QuoteRequest.Status.DECLINED and quote_request.reason == "Too expensive."
    text = _text(vendor.get(_url("quote", quote_request)))
    assert "Declined" in text and "Too expensive." in text and "Issue version" not in text

    second = _quote_request(st_mary, listing)
    # Nothing to decline yet (the page offers only "Cancel"): a decline posted anyway is refused
    # by the service, its message on top of the page.
    assert _url("quote-decline", second) not in signed_in(st_mary.member).get(_url("quote", second)).content.decode()
    response = signed_in(st_mary.member).post(_url("quote-decline", second), {})
    assert response.status_code == 409 and 'class="message message-error" role="alert"' in response.content.decode()
    assert QuoteRequest.objects.get(pk=second.pk).status == QuoteRequest.Status.REQUESTED
    assert signed_in(st_mary.member).post(_url("quote-cancel", second), {"cancel-reason": ""}).status_code == 302
    assert QuoteRequest.objects.get(pk=second.pk).status == QuoteRequest.Status.CANCELLED

    third = _quote_request(st_mary, listing)
    response = vendor.post(_url("quote-withdraw", third), {"withdraw-reason": "We do not serve this region."})
    assert response.status_code == 302
    assert QuoteRequest.objects.get(pk=third.pk).status == QuoteRequest.Status.WITHDRAWN


# --- orders, subscriptions, deployments, licenses ---------------------------------------------


def test_the_order_and_subscription_pages_show_both_sides_what_was_bought(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _subscribed(st_mary, radiant, django_capture_on_commit_callbacks)
    order = subscription.order
    entitlement = subscription.entitlements.get()
    deployment, license = entitlement.deployment, entitlement.licenses.get()

    for party, counterpart in ((st_mary, "Radiant AI"), (radiant, "St. Mary's Hospital Group")):
        client = signed_in(party.member)
        response = client.get(_url("organization-orders"))
        html = assert_csp_clean(response)
        assert _url("order", order) in html and PO in _text(response) and "EUR 2,500.50" in _text(response)

        response = client.get(_url("order", order))
        html = assert_csp_clean(response)
        text = _text(response)
        assert counterpart in text and "Fulfilled" in text and f"Purchase order number {PO}" in text
        assert "end-user license agreement 1.0" in text and "Data processing agreement 2026-01" in text
        assert _url("subscription", subscription) in html and _url("quote", order.quote_request) in html

        response = client.get(_url("organization-subscriptions"))
        assert _url("subscription", subscription) in assert_csp_clean(response) and "eu-central" in _text(response)

        response = client.get(_url("subscription", subscription))
        html = assert_csp_clean(response)
        text = _text(response)
        assert "Active Active until" in text and "Region eu-central" in text
        assert f'href="{_url("deployment", deployment)}"' in html
        assert f'href="{_url("license-download", license)}" download' in html and "Valid" in text
        assert "hx-trigger" not in html  # settled: no polling

        response = client.get(_url("deployment", deployment))
        html = assert_csp_clean(response)
        assert "Set-up Active" in _text(response) and 'value="100"' in html
        assert _url("subscription", subscription) in html

        # The deployments list links the deployment's own page and its subscription.
        html = client.get(_url("organization-deployments")).content.decode()
        assert f'href="{_url("deployment", deployment)}"' in html and _url("subscription", subscription) in html


def test_the_license_downloads_as_a_jose_attachment(
    st_mary: Any, radiant: Any, northside: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _subscribed(st_mary, radiant, django_capture_on_commit_callbacks)
    license = subscription.entitlements.get().licenses.get()
    for party in (st_mary, radiant):
        response = signed_in(party.member).get(_url("license-download", license))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/jose"
        assert response["Content-Disposition"] == f'attachment; filename="license-{license.public_id}.jwt"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response["Cache-Control"]
        assert response.content.decode() == license.token and license.token.count(".") == 2
    assert signed_in(northside.admin).get(_url("license-download", license)).status_code == 404
    response = Client().get(_url("license-download", license))
    assert response.status_code == 302 and reverse("storefront:login") in response["Location"]


def test_the_vendor_suspends_and_resumes_and_the_provider_cancels_with_a_reason(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _subscribed(st_mary, radiant, django_capture_on_commit_callbacks)
    url = _url("subscription", subscription)
    deployment = subscription.entitlements.get().deployment

    # Only vendor admins see suspend; only provider admins see cancel.
    assert _url("subscription-suspend", subscription) in signed_in(radiant.admin).get(url).content.decode()
    assert _url("subscription-suspend", subscription) not in signed_in(radiant.member).get(url).content.decode()
    assert _url("subscription-cancel", subscription) not in signed_in(radiant.admin).get(url).content.decode()
    assert _url("subscription-cancel", subscription) in signed_in(st_mary.admin).get(url).content.decode()
    assert _url("subscription-cancel", subscription) not in signed_in(st_mary.member).get(url).content.decode()
    response = signed_in(radiant.member).post(_url("subscription-suspend", subscription), {"suspend-reason": "x"})
    assert response.status_code == 403

    vendor = signed_in(radiant.admin)
    response = vendor.post(_url("subscription-suspend", subscription), {"suspend-reason": ""})
    assert response.status_code == 400
    assert _field_error(assert_csp_clean(response), "suspend-reason")
    with django_capture_on_commit_callbacks(execute=True):
        response = vendor.post(_url("subscription-suspend", subscription), {"suspend-reason": "Invoice overdue."})
    assert response.status_code == 302
    subscription.refresh_from_db()
    deployment.refresh_from_db()
    assert subscription.status == Subscription.Status.SUSPENDED and deployment.status == Deployment.Status.SUSPENDED
    text = _text(signed_in(st_mary.member).get(url))
    assert "Suspended by Radiant AI" in text and "Invoice overdue." in text
    with django_capture_on_commit_callbacks(execute=True):
        response = vendor.post(_url("subscription-resume", subscription), {"resume-reason": "Paid."})
    assert response.status_code == 302
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(st_mary.admin).post(
            _url("subscription-cancel", subscription), {"cancel-reason": "Budget cut."}
        )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELLED
    response = signed_in(st_mary.admin).get(url)
    text = _text(response)
    assert "Cancelled" in text and "Revoked" in text and _url("subscription-cancel", subscription) not in text


def test_the_subscription_page_polls_while_it_is_set_up(st_mary: Any, radiant: Any) -> None:
    listing = _listing(radiant)
    quote_request = _quoted(st_mary, radiant, listing)
    assert _accept(signed_in(st_mary.admin), quote_request).status_code == 302  # nothing runs after commit
    subscription = Subscription.objects.get()
    deployment = subscription.entitlements.get().deployment
    client = signed_in(st_mary.member)
    live = _url("subscription-live", subscription)

    html = assert_csp_clean(client.get(_url("subscription", subscription)))
    assert 'hx-trigger="every 2s"' in html and f'hx-get="{live}"' in html
    assert "storefront/live-region.js" in html and "<noscript>" in html
    response = client.get(live, **HTMX)
    html = assert_csp_clean(response)
    assert 'id="subscription-live"' in html and "<html" not in html and "Pending fulfillment" in _text(response)
    assert response["Cache-Control"].startswith("max-age=0")
    assert client.get(live).status_code == 302  # people get the page
    deployment_html = client.get(_url("deployment", deployment)).content.decode()
    assert 'hx-trigger="every 2s"' in deployment_html

    from apps.provisioning.services import deployment_advance

    for _ in range(10):
        if deployment_advance(deployment_id=deployment.pk) == "active":
            break
    response = client.get(live, **HTMX)
    html = response.content.decode()
    assert "hx-trigger" not in html and "Active" in _text(response)
    assert "hx-trigger" not in client.get(_url("deployment-live", deployment), **HTMX).content.decode()


def test_another_organization_gets_404_everywhere(
    st_mary: Any, northside: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _subscribed(st_mary, radiant, django_capture_on_commit_callbacks)
    quote_request, order = subscription.order.quote_request, subscription.order
    deployment = subscription.entitlements.get().deployment
    stranger = signed_in(northside.admin)
    for name, obj in (
        ("quote", quote_request),
        ("order", order),
        ("subscription", subscription),
        ("deployment", deployment),
    ):
        assert stranger.get(_url(name, obj)).status_code == 404, name
    for name in ("quote-issue", "quote-withdraw", "quote-accept", "quote-decline", "quote-cancel"):
        assert stranger.post(_url(name, quote_request), {}).status_code == 404, name
    for name in ("subscription-suspend", "subscription-resume", "subscription-cancel"):
        assert stranger.post(_url(name, subscription), {}).status_code == 404, name
    assert stranger.post(_url("deployment-retry", deployment)).status_code == 404
    for name, obj in (("subscription-live", subscription), ("deployment-live", deployment)):
        for client in (stranger, Client()):
            response = client.get(_url(name, obj), **HTMX)
            assert response.status_code == 204 and response["HX-Refresh"] == "true"
    for name in ("organization-quotes", "organization-orders", "organization-subscriptions"):
        text = _text(stranger.get(_url(name)))
        assert subscription.listing.name not in text, name
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


def test_a_failed_deployment_of_a_subscription_is_retried_from_its_page(
    st_mary: Any, radiant: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "configure", "transient_failures": 0}
    subscription = _subscribed(st_mary, radiant, django_capture_on_commit_callbacks)
    deployment = subscription.entitlements.get().deployment
    assert deployment.status == Deployment.Status.FAILED
    response = signed_in(st_mary.member).get(_url("deployment", deployment))
    html = assert_csp_clean(response)
    assert "Why it failed" in _text(response) and _url("deployment-retry", deployment) in html
    text = _text(signed_in(st_mary.member).get(_url("subscription", subscription)))
    assert "Pending fulfillment" in text and "Failed" in text

    settings.MARKETPLACE_SANDBOX = {"step_seconds": 0, "fail_step": "", "transient_failures": 0}
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(radiant.member).post(_url("deployment-retry", deployment))
    assert response.status_code == 302 and response["Location"] == _url("deployment", deployment)
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


# --- the trial page: buy the trial's plan -----------------------------------------------------


def test_a_provider_admin_buys_an_active_trials_plan_from_the_trial_page(
    st_mary: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    trial = trial_in_state(
        Trial.Status.ACTIVE,
        provider=st_mary.organization,
        vendor=radiant.organization,
        capture=django_capture_on_commit_callbacks,
    )
    url = _url("trial", trial)
    convert = _url("trial-convert", trial)
    html = assert_csp_clean(signed_in(st_mary.admin).get(url))
    assert "Buy this plan" in html and convert in html and 'name="convert-accepted_terms"' in html
    response = signed_in(st_mary.member).get(url)
    assert convert not in response.content.decode()
    assert "An admin of St. Mary's Hospital Group can buy this plan here" in _text(response)
    assert convert not in signed_in(radiant.admin).get(url).content.decode()

    response = signed_in(st_mary.admin).post(convert, {"convert-purchase_order_number": PO})
    assert response.status_code == 400
    assert "Accept the" in _field_error(assert_csp_clean(response), "convert-accepted_terms")

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(st_mary.admin).post(
            convert, {"convert-purchase_order_number": PO, **_terms(trial.listing, "convert")}
        )
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == _url("subscription", order.subscription)
    trial.refresh_from_db()
    assert trial.status == Trial.Status.CONVERTED and order.trial == trial
    # Nothing was set up twice: the subscription runs on the trial's deployment.
    assert order.subscription.entitlements.get().deployment_id == trial.deployment_id
    response = signed_in(st_mary.member).get(url)
    assert (
        _url("subscription", order.subscription) in response.content.decode()
        and convert not in response.content.decode()
    )


# --- reviews ---------------------------------------------------------------------------------


def test_organizations_that_used_the_app_review_it_once(
    st_mary: Any, northside: Any, radiant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = _subscribed(st_mary, radiant, django_capture_on_commit_callbacks)
    listing = subscription.listing
    url = _listing_url(listing)
    review_url = _listing_url(listing, "listing-review")

    html = assert_csp_clean(Client().get(url))
    assert 'id="reviews"' in html and "No reviews yet." in html and 'name="review-rating"' not in html
    # Never used it, or its own vendor: no form.
    assert 'name="review-rating"' not in signed_in(northside.member).get(url).content.decode()
    assert 'name="review-rating"' not in signed_in(radiant.member).get(url).content.decode()
    response = signed_in(northside.member).post(review_url, {"review-rating": "1"})
    assert response.status_code == 403 and "had a trial or a subscription" in _text(response)

    client = signed_in(st_mary.member)
    html = assert_csp_clean(client.get(url))
    assert 'name="review-rating"' in html and "<legend>Rating</legend>" in html
    response = client.post(review_url, {"review-title": "Fast"})
    assert response.status_code == 400
    html = response.content.decode()
    assert _field_error(html, "review-rating") == "Choose a rating from 1 to 5 stars."
    assert 'href="#id_review-rating_0"' in _summary(html)
    response = client.post(
        review_url, {"review-rating": "4", "review-title": "Fast reads", "review-body": "Saves time."}
    )
    assert response.status_code == 302 and response["Location"] == url + "#reviews"

    response = client.get(url)
    html = assert_csp_clean(response)
    text = _text(response)
    assert "4 out of 5 from 1 review" in text and "Fast reads" in text and "Saves time." in text
    assert 'name="review-rating"' not in html and "St. Mary's Hospital Group reviewed" in text
    response = client.post(review_url, {"review-rating": "5"})
    assert response.status_code == 409 and "already reviewed" in _text(response)
