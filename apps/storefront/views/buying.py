"""Quotes, orders, subscriptions, deployments and licenses of the organization a person acts for.

Both parties see the same pages: the provider the requests it made, the vendor the requests for
its apps. Every lookup starts from the procurement and provisioning selectors with the session's
principal, so another organization's object is a 404. The services decide who may do what;
their errors are shown next to the field at fault (and summarized on top of the form), or on top
of the page when they are about the object's state. The subscription and deployment pages
refresh a live region by htmx polling while something is being set up, and stop once it settles;
without JavaScript a link says to reload."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_POST

from apps.organizations.models import Organization
from apps.procurement.models import Quote, QuoteRequest, Subscription
from apps.procurement.selectors import (
    licenses_visible_to,
    orders_visible_to,
    quote_requests_visible_to,
    subscriptions_visible_to,
)
from apps.procurement.services import (
    quote_accept,
    quote_cancel,
    quote_decline,
    quote_issue,
    quote_withdraw,
    subscription_cancel,
    subscription_resume,
    subscription_suspend,
    terms_required,
)
from apps.provisioning.models import Deployment, DeploymentStep
from apps.provisioning.selectors import deployments_visible_to
from apps.provisioning.services import deployment_retry
from apps.storefront.forms import (
    LINE_ITEM_MAX,
    LINE_ITEM_ROWS,
    LineItemFormSet,
    QuoteAcceptForm,
    QuoteIssueForm,
    ReasonForm,
    add_service_error,
    error_summary,
)
from apps.storefront.views.organization import acting_organization
from apps.storefront.views.trials import MOVING, POLL_MOVING, _current_step
from marketplace.errors import ApplicationError
from marketplace.principal import Principal, Role, get_principal
from marketplace.tenancy import party_side

PAGE_SIZE = 25
QUOTE_VALIDITY_DAYS = 30  # the validity date a new quote starts with
QS = QuoteRequest.Status
SS = Subscription.Status
D = Deployment.Status
POLL_AWAITING_AGENT = "every 10s"
QUOTE_FILTERS = [("", "All"), ("open", "Open: requested or quoted"), *QS.choices]


def _page(request: HttpRequest, queryset: Any, parameter: str) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(parameter))


def _base_context(principal: Principal, organization: Organization, section: str) -> dict[str, Any]:
    return {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "section": section,
        "nav": "organization",
        "notice": "",
        "error": "",
    }


def quote_target(quote_request: QuoteRequest) -> str:
    """The region, or the sites by name (prefetched by the selector)."""
    return ", ".join(site.name for site in quote_request.sites.all()) or quote_request.region


# --- the quotes inbox -----------------------------------------------------------------------


@acting_organization
def quotes_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    """Requests the organization made (providers) and requests for its apps (vendors), newest
    first, narrowed by status (an ordinary GET form)."""
    status = request.GET.get("status", "")
    visible = quote_requests_visible_to(principal=principal)
    if status == "open":
        visible = visible.filter(status__in=QuoteRequest.OPEN)
    elif status in QS.values:
        visible = visible.filter(status=status)
    else:
        status = ""

    def rows(page: Any) -> list[dict[str, Any]]:
        return [
            {"quote_request": item, "latest": next(iter(item.quotes.all()), None), "target": quote_target(item)}
            for item in page
        ]

    received = _page(request, visible.filter(vendor=organization), "received_page") if organization.is_vendor else None
    made = _page(request, visible.filter(provider=organization), "page") if organization.is_provider else None
    context = {
        **_base_context(principal, organization, "quotes"),
        "status": status,
        "filters": QUOTE_FILTERS,
        "page_query": f"status={status}&" if status else "",
        "received": received,
        "received_rows": rows(received) if received is not None else [],
        "made": made,
        "made_rows": rows(made) if made is not None else [],
    }
    return render(request, "storefront/organization/quotes.html", context)


# --- one quote request ----------------------------------------------------------------------


def _quote_request_or_404(principal: Principal, public_id: UUID) -> QuoteRequest:
    return get_object_or_404(quote_requests_visible_to(principal=principal), public_id=public_id)


def _plain(number: Decimal) -> str:
    """2.00 -> "2", 1.50 -> "1.5": quantities as people type them."""
    return f"{number.normalize():f}"


def _issue_forms(quote_request: QuoteRequest, latest: Quote | None) -> tuple[QuoteIssueForm, Any]:
    """The issue form prefilled from the latest version (a new version usually changes little),
    or from the plan's list price for the first one, with empty rows to add line items."""
    plan = quote_request.plan
    rows: list[dict[str, Any]] = []
    if latest is not None:
        rows = [
            {"description": item.description, "quantity": _plain(item.quantity), "unit_price": item.unit_price}
            for item in latest.line_items.all()
        ]
    elif plan is not None and plan.price is not None:
        rows = [{"description": f"{plan.name}: {quote_request.offering.name}", "quantity": 1, "unit_price": plan.price}]
    rows += [{}] * max(LINE_ITEM_ROWS - len(rows), 2)
    initial = {
        "currency": (latest.currency if latest else "") or (plan.currency if plan else "") or "EUR",
        "valid_until": timezone.now().date() + timedelta(days=QUOTE_VALIDITY_DAYS),
        "term_months": latest.term_months if latest else 12,
        "auto_renew": latest.auto_renew if latest else True,
        "terms": latest.terms if latest else "",
    }
    return QuoteIssueForm(initial=initial), LineItemFormSet(initial=rows[:LINE_ITEM_MAX], prefix="line")


def _quote_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    quote_request: QuoteRequest,
    *,
    status: int = 200,
    error: str = "",
    issue: tuple[QuoteIssueForm, Any, list[str]] | None = None,
    accept_form: QuoteAcceptForm | None = None,
    reason_forms: dict[str, ReasonForm] | None = None,
    summary: bool = True,
) -> HttpResponse:
    side = party_side(quote_request, principal)
    member = principal.has_role(Role.MEMBER)
    is_open = quote_request.status in QuoteRequest.OPEN
    versions = list(quote_request.quotes.all())  # newest first
    latest = versions[0] if versions else None
    can_issue = side == "vendor" and member and is_open
    can_accept = side == "provider" and principal.has_role(Role.ADMIN) and quote_request.status == QS.QUOTED
    reason_forms = reason_forms or {}
    forms_: dict[str, Any] = {
        "withdraw": reason_forms.get("withdraw") or ReasonForm(prefix="withdraw"),
        "decline": reason_forms.get("decline") or ReasonForm(prefix="decline", required=False),
        "cancel": reason_forms.get("cancel") or ReasonForm(prefix="cancel", required=False),
    }
    issue_form = line_items = None
    line_errors: list[str] = []
    if can_issue:
        issue_form, line_items, line_errors = issue or (*_issue_forms(quote_request, latest), [])
    if can_accept and accept_form is None:
        accept_form = QuoteAcceptForm(initial={"version": latest.version}, terms=terms_required(quote_request.listing))
    order = getattr(quote_request, "order", None)
    issue_summary = error_summary(issue_form, line_items) if summary else []
    issue_summary += [{"href": "#line-items", "text": f"Line items: {text}"} for text in line_errors]
    context = {
        **_base_context(principal, organization, "quotes"),
        "error": error,
        "quote_request": quote_request,
        "target": quote_target(quote_request),
        "side": side,
        "versions": versions,
        "latest": latest,
        "order": order,
        "subscription": getattr(order, "subscription", None) if order else None,
        "can_issue": can_issue,
        "can_withdraw": can_issue,
        "can_accept": can_accept,
        "can_decline": side == "provider" and member and quote_request.status == QS.QUOTED,
        "can_cancel": side == "provider" and member and is_open,
        "accept_needs_admin": side == "provider" and member and not can_accept and quote_request.status == QS.QUOTED,
        "issue_form": issue_form,
        "line_items": line_items,
        "line_errors": line_errors,
        "issue_summary": issue_summary,
        "line_item_max": LINE_ITEM_MAX,
        "accept_form": accept_form,
        "accept_summary": error_summary(accept_form),
        "terms": terms_required(quote_request.listing) if can_accept else [],
        "withdraw_form": forms_["withdraw"],
        "decline_form": forms_["decline"],
        "cancel_form": forms_["cancel"],
    }
    return render(request, "storefront/organization/quote.html", context, status=status)


@acting_organization
def quote_page(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _quote_response(request, principal, organization, _quote_request_or_404(principal, public_id))


def _line_item_errors(exc: ApplicationError, form: QuoteIssueForm, rows: list[Any]) -> list[str]:
    """Put the service's errors where they belong: `line_items.<n>.<field>` on the n-th filled
    row (empty rows were not sent), `line_items` above the table, the rest on the form."""
    line_errors: list[str] = []
    others: dict[str, list[str]] = {}
    for name, texts in exc.fields.items():
        parts = name.split(".")
        if parts[0] != "line_items":
            others[name] = texts
        elif len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(rows):
            row_form = rows[int(parts[1])][0]
            for text in texts:
                row_form.add_error(parts[2] if parts[2] in row_form.fields else None, text)
        else:
            line_errors.extend(texts)
    if others or not exc.fields:
        add_service_error(form, type(exc)(exc.message, code=exc.code, fields=others))
    return line_errors


@require_POST
@acting_organization
def quote_issue_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    """The vendor issues a quote (again: a new version). "Add rows" comes back here too and only
    offers more empty rows, keeping what was typed."""
    quote_request = _quote_request_or_404(principal, public_id)
    if "more_rows" in request.POST:
        data = request.POST.copy()
        try:
            total = int(data.get("line-TOTAL_FORMS") or 0)
        except ValueError:
            total = 0
        data["line-TOTAL_FORMS"] = str(min(total + LINE_ITEM_ROWS, LINE_ITEM_MAX))
        line_items = LineItemFormSet(data, prefix="line")
        if total < len(line_items.forms):  # the first new row gets focus, also without JavaScript
            line_items.forms[total].fields["description"].widget.attrs["autofocus"] = True
        return _quote_response(
            request,
            principal,
            organization,
            quote_request,
            issue=(QuoteIssueForm(data), line_items, []),
            summary=False,
        )
    form = QuoteIssueForm(request.POST)
    line_items = LineItemFormSet(request.POST, prefix="line")
    line_errors: list[str] = []
    status = 400
    if form.is_valid() and line_items.is_valid():
        rows = line_items.filled()
        data = form.cleaned_data
        try:
            quote = quote_issue(
                quote_request=quote_request,
                actor=principal,
                line_items=[item for _, item in rows],
                currency=data["currency"],
                valid_until=data["valid_until"],
                terms=data["terms"],
                term_months=data["term_months"],
                auto_renew=data["auto_renew"],
            )
        except ApplicationError as exc:
            status = exc.status_code
            line_errors = _line_item_errors(exc, form, rows)
        else:
            messages.success(
                request,
                f"Version {quote.version} issued: {quote.currency} {quote.total:,.2f}. "
                f"{quote_request.provider.name} is told by e-mail.",
            )
            return redirect("storefront:quote", public_id=quote_request.public_id)
    return _quote_response(
        request, principal, organization, quote_request, status=status, issue=(form, line_items, line_errors)
    )


@require_POST
@acting_organization
def quote_accept_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    """A provider admin accepts the version shown, with the listing's terms and a purchase order
    number; the order's subscription page follows."""
    quote_request = _quote_request_or_404(principal, public_id)
    form = QuoteAcceptForm(request.POST, terms=terms_required(quote_request.listing))
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = quote_accept(
                quote_request=quote_request,
                actor=principal,
                accepted_terms=data["accepted_terms"],
                purchase_order_number=data["purchase_order_number"],
                version=data["version"],
            )
        except ApplicationError as exc:
            if not exc.fields:  # about the quote's state (expired, superseded, already accepted)
                fresh = _quote_request_or_404(principal, public_id)
                return _quote_response(
                    request, principal, organization, fresh, status=exc.status_code, error=exc.message
                )
            status = exc.status_code
            add_service_error(form, exc)
        else:
            messages.success(
                request, f"Quote accepted: order placed. {quote_request.listing.name} is being set up now."
            )
            return redirect("storefront:subscription", public_id=order.subscription.public_id)
    return _quote_response(request, principal, organization, quote_request, status=status, accept_form=form)


REASON_ACTIONS = {
    # action: (service, reason required, message)
    "withdraw": (quote_withdraw, True, "The quote request is withdrawn; {provider} is told."),
    "decline": (quote_decline, False, "The quote is declined; {vendor} is told."),
    "cancel": (quote_cancel, False, "The quote request is cancelled; {vendor} is told."),
}


def _quote_reason_action(
    request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID, action: str
):
    quote_request = _quote_request_or_404(principal, public_id)
    service, required, done = REASON_ACTIONS[action]
    form = ReasonForm(request.POST, prefix=action, required=required)
    status = 400
    if form.is_valid():
        try:
            quote_request = service(quote_request=quote_request, actor=principal, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            if not exc.fields:
                return _quote_response(
                    request, principal, organization, quote_request, status=exc.status_code, error=exc.message
                )
            status = exc.status_code
            add_service_error(form, exc)
        else:
            messages.success(
                request, done.format(provider=quote_request.provider.name, vendor=quote_request.vendor.name)
            )
            return redirect("storefront:quote", public_id=quote_request.public_id)
    return _quote_response(request, principal, organization, quote_request, status=status, reason_forms={action: form})


@require_POST
@acting_organization
def quote_withdraw_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _quote_reason_action(request, principal, organization, public_id, "withdraw")


@require_POST
@acting_organization
def quote_decline_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _quote_reason_action(request, principal, organization, public_id, "decline")


@require_POST
@acting_organization
def quote_cancel_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _quote_reason_action(request, principal, organization, public_id, "cancel")


# --- orders ---------------------------------------------------------------------------------


@acting_organization
def orders_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    page = _page(request, orders_visible_to(principal=principal), "page")
    context = {
        **_base_context(principal, organization, "orders"),
        "page": page,
        "rows": [{"order": order, "side": party_side(order, principal)} for order in page],
    }
    return render(request, "storefront/organization/orders.html", context)


@acting_organization
def order_page(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    order = get_object_or_404(orders_visible_to(principal=principal), public_id=public_id)
    context = {
        **_base_context(principal, organization, "orders"),
        "order": order,
        "side": party_side(order, principal),
        "subscription": getattr(order, "subscription", None),
    }
    return render(request, "storefront/organization/order.html", context)


# --- subscriptions --------------------------------------------------------------------------


@acting_organization
def subscriptions_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    page = _page(request, subscriptions_visible_to(principal=principal), "page")
    context = {
        **_base_context(principal, organization, "subscriptions"),
        "page": page,
        "rows": [
            {
                "subscription": subscription,
                "side": party_side(subscription, principal),
                "targets": ", ".join(entitlement.target for entitlement in subscription.entitlements.all()),
            }
            for subscription in page
        ],
    }
    return render(request, "storefront/organization/subscriptions.html", context)


def _subscription_or_404(principal: Principal, public_id: UUID) -> Subscription:
    return get_object_or_404(subscriptions_visible_to(principal=principal), public_id=public_id)


def _subscription_live(principal: Principal, subscription: Subscription) -> dict[str, Any]:
    """The part that changes by itself: status, and each entitlement's deployment and licenses.
    It polls while the subscription waits for its deployments or one of them is moving."""
    entitlements = list(subscription.entitlements.all())
    statuses = {e.deployment.status for e in entitlements if e.deployment is not None}
    moving = bool(statuses & set(MOVING))
    return {
        "subscription": subscription,
        "side": party_side(subscription, principal),
        "entitlements": entitlements,
        "moving": moving,
        "poll": _poll(statuses),
    }


def _poll(statuses: set[str]) -> str:
    """Quickly while a worker moves a deployment; now and then while an on-premise site agent is
    awaited (that takes people, not seconds); not at all once everything has settled."""
    if statuses & set(MOVING):
        return POLL_MOVING
    if D.AWAITING_AGENT in statuses:
        return POLL_AWAITING_AGENT
    return ""


def _subscription_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    subscription: Subscription,
    *,
    status: int = 200,
    error: str = "",
    reason_forms: dict[str, ReasonForm] | None = None,
) -> HttpResponse:
    live = _subscription_live(principal, subscription)
    side = live["side"]
    admin = principal.has_role(Role.ADMIN)
    reason_forms = reason_forms or {}
    context = {
        **_base_context(principal, organization, "subscriptions"),
        **live,
        "error": error,
        "order": subscription.order,
        "can_suspend": side == "vendor" and admin and subscription.status == SS.ACTIVE,
        "can_resume": side == "vendor" and admin and subscription.status == SS.SUSPENDED,
        "can_cancel": side == "provider"
        and admin
        and subscription.status in (SS.PENDING_FULFILLMENT, SS.ACTIVE, SS.SUSPENDED),
        "suspend_form": reason_forms.get("suspend") or ReasonForm(prefix="suspend"),
        "resume_form": reason_forms.get("resume") or ReasonForm(prefix="resume"),
        "cancel_form": reason_forms.get("cancel") or ReasonForm(prefix="cancel"),
        "open_form": next(iter(reason_forms), ""),
    }
    return render(request, "storefront/organization/subscription.html", context, status=status)


@acting_organization
def subscription_page(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _subscription_response(request, principal, organization, _subscription_or_404(principal, public_id))


def _live_or_refresh(request: HttpRequest, queryset_of: Any, public_id: UUID) -> Any:
    """The object for a poll, or None when the poll cannot be answered with the region (signed
    out meanwhile, switched organization): htmx then reloads the page, which says why."""
    principal = get_principal(request) if request.user.is_authenticated else None
    obj = queryset_of(principal=principal).filter(public_id=public_id).first() if principal else None
    return principal, obj


def _refresh() -> HttpResponse:
    response = HttpResponse(status=204)
    response["HX-Refresh"] = "true"
    return response


def _no_cache(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    patch_vary_headers(response, ("HX-Request",))
    return response


def subscription_live(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The live region alone, for htmx polling; it stops asking once nothing moves."""
    if not request.htmx:
        return redirect("storefront:subscription", public_id=public_id)
    principal, subscription = _live_or_refresh(request, subscriptions_visible_to, public_id)
    if subscription is None:
        return _refresh()
    context = _subscription_live(principal, subscription)
    return _no_cache(render(request, "storefront/organization/_subscription_live.html", context))


SUBSCRIPTION_ACTIONS = {
    "suspend": (subscription_suspend, "The subscription is suspended; what runs is suspended with it."),
    "resume": (subscription_resume, "The subscription is active again."),
    "cancel": (subscription_cancel, "The subscription is cancelled; what was set up is being removed."),
}


def _subscription_action(
    request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID, action: str
) -> HttpResponse:
    subscription = _subscription_or_404(principal, public_id)
    service, done = SUBSCRIPTION_ACTIONS[action]
    form = ReasonForm(request.POST, prefix=action)
    status = 400
    if form.is_valid():
        try:
            service(subscription=subscription, actor=principal, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            if not exc.fields:
                return _subscription_response(
                    request, principal, organization, subscription, status=exc.status_code, error=exc.message
                )
            status = exc.status_code
            add_service_error(form, exc)
        else:
            messages.success(request, done)
            return redirect("storefront:subscription", public_id=subscription.public_id)
    return _subscription_response(
        request, principal, organization, subscription, status=status, reason_forms={action: form}
    )


@require_POST
@acting_organization
def subscription_suspend_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _subscription_action(request, principal, organization, public_id, "suspend")


@require_POST
@acting_organization
def subscription_resume_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _subscription_action(request, principal, organization, public_id, "resume")


@require_POST
@acting_organization
def subscription_cancel_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _subscription_action(request, principal, organization, public_id, "cancel")


# --- licenses -------------------------------------------------------------------------------


@acting_organization
def license_download(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    """The signed license (compact JWS) as a file, for a site agent or an air-gapped install."""
    license = get_object_or_404(licenses_visible_to(principal=principal), public_id=public_id)
    response = HttpResponse(license.token, content_type="application/jose")
    response["Content-Disposition"] = f'attachment; filename="license-{license.public_id}.jwt"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- one deployment -------------------------------------------------------------------------


def _deployment_live(principal: Principal, deployment: Deployment) -> dict[str, Any]:
    steps: dict[str, list[DeploymentStep]] = {DeploymentStep.Phase.PROVISION: [], DeploymentStep.Phase.DEPROVISION: []}
    for step in deployment.steps.all():
        steps.setdefault(step.phase, []).append(step)
    moving = deployment.status in MOVING
    side = party_side(deployment, principal)
    entitlement = getattr(deployment, "entitlement", None)
    return {
        "deployment": deployment,
        "side": side,
        "provision_steps": steps[DeploymentStep.Phase.PROVISION],
        "deprovision_steps": steps[DeploymentStep.Phase.DEPROVISION],
        "current_step": _current_step(deployment, steps) if moving else None,
        "moving": moving,
        "poll": _poll({deployment.status}),
        "trial": getattr(deployment, "trial", None),
        "subscription": entitlement.subscription if entitlement is not None else None,
        "can_retry": deployment.status == D.FAILED and side is not None and principal.has_role(Role.MEMBER),
    }


def _deployment_or_404(principal: Principal, public_id: UUID) -> Deployment:
    return get_object_or_404(deployments_visible_to(principal=principal), public_id=public_id)


def _deployment_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    deployment: Deployment,
    *,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    context = {
        **_base_context(principal, organization, "deployments"),
        **_deployment_live(principal, deployment),
        "error": error,
    }
    return render(request, "storefront/organization/deployment.html", context, status=status)


@acting_organization
def deployment_page(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _deployment_response(request, principal, organization, _deployment_or_404(principal, public_id))


def deployment_live(request: HttpRequest, public_id: UUID) -> HttpResponse:
    if not request.htmx:
        return redirect("storefront:deployment", public_id=public_id)
    principal, deployment = _live_or_refresh(request, deployments_visible_to, public_id)
    if deployment is None:
        return _refresh()
    context = _deployment_live(principal, deployment)
    return _no_cache(render(request, "storefront/organization/_deployment_live.html", context))


@require_POST
@acting_organization
def deployment_retry_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    deployment = _deployment_or_404(principal, public_id)
    try:
        deployment_retry(deployment=deployment, actor=principal)
    except ApplicationError as exc:
        return _deployment_response(
            request, principal, organization, deployment, status=exc.status_code, error=exc.message
        )
    messages.success(request, "Setting up starts again from the step that failed.")
    return redirect("storefront:deployment", public_id=deployment.public_id)
