"""The vendor's requests inbox: trial requests and quote requests for its apps in one list,
newest first, narrowed by kind and status (an ordinary GET form; htmx swaps only the results).

A trial request is approved or declined here (a reason is required to decline); a quote request
links to its page, where the vendor issues a quote with the line-item editor, issues a new
version or withdraws. Lookups start from the procurement selectors and the vendor's own side,
so another organization's request is a 404."""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import CharField, QuerySet, Value
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.organizations.models import Organization
from apps.procurement.models import QuoteRequest, Trial
from apps.procurement.selectors import quote_requests_visible_to, trials_visible_to
from apps.procurement.services import trial_approve, trial_decline
from apps.storefront.forms import TrialDeclineForm
from apps.storefront.views.buying import quote_target
from apps.storefront.views.portal import vendor_portal
from marketplace.errors import ApplicationError
from marketplace.principal import Principal, Role

PAGE_SIZE = 20
TS = Trial.Status
QS = QuoteRequest.Status
KINDS = [("", "Trials and quotes"), ("trial", "Trial requests"), ("quote", "Quote requests")]
STATUSES = [
    ("", "Any status"),
    ("waiting", "Waiting for your answer"),
    ("open", "Open"),
    *sorted({*TS.choices, *QS.choices}, key=lambda choice: choice[1]),
]


def _filters(source: QueryDict) -> dict[str, str]:
    """The kind, status and page asked for; unknown values are dropped, as a browser form should."""
    kind = source.get("kind", "")
    status = source.get("status", "")
    page = source.get("page", "")
    return {
        "kind": kind if kind in dict(KINDS) else "",
        "status": status if status in dict(STATUSES) else "",
        "page": page if page.isdigit() else "",
    }


def _narrow(queryset: QuerySet, status: str, model: type, waiting: str) -> QuerySet:
    if status == "waiting":
        return queryset.filter(status=waiting)
    if status == "open":
        return queryset.filter(status__in=model.OPEN)
    if status:
        return queryset.filter(status=status) if status in model.Status.values else queryset.none()
    return queryset


def _keys(queryset: QuerySet, kind: str) -> QuerySet:
    """(kind, id, created_at) of each row, for one ordered, paginated union of both kinds."""
    return (
        queryset.select_related(None)
        .prefetch_related(None)
        .order_by()
        .annotate(kind=Value(kind, output_field=CharField()))
        .values_list("kind", "id", "created_at")
    )


def _requests_page(request: HttpRequest, principal: Principal, organization: Organization, filters: dict[str, str]):
    trials = _narrow(
        trials_visible_to(principal=principal).filter(vendor=organization), filters["status"], Trial, TS.REQUESTED
    )
    quotes = _narrow(
        quote_requests_visible_to(principal=principal).filter(vendor=organization),
        filters["status"],
        QuoteRequest,
        QS.REQUESTED,
    )
    parts = []
    if filters["kind"] in ("", "trial"):
        parts.append(_keys(trials, "trial"))
    if filters["kind"] in ("", "quote"):
        parts.append(_keys(quotes, "quote"))
    keys = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    page = Paginator(keys.order_by("-created_at", "-id"), PAGE_SIZE).get_page(filters["page"] or None)
    wanted = list(page.object_list)
    found = {
        "trial": trials.in_bulk([pk for kind, pk, _ in wanted if kind == "trial"]),
        "quote": quotes.in_bulk([pk for kind, pk, _ in wanted if kind == "quote"]),
    }
    return page, [(kind, found[kind][pk]) for kind, pk, _ in wanted if pk in found[kind]]


def _requests_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    filters: dict[str, str],
    *,
    status: int = 200,
    decline: tuple[UUID, TrialDeclineForm] | None = None,
    error: str = "",
) -> HttpResponse:
    page, found = _requests_page(request, principal, organization, filters)
    can_act = principal.has_role(Role.MEMBER)
    rows = []
    for kind, item in found:
        if kind == "trial":
            form = None
            if can_act and item.status == TS.REQUESTED:
                form = decline[1] if decline and decline[0] == item.public_id else None
                form = form or TrialDeclineForm(prefix=f"decline-{item.public_id}")
            rows.append(
                {"kind": kind, "trial": item, "decline_form": form, "decline_open": bool(form and form.is_bound)}
            )
        else:
            rows.append(
                {
                    "kind": kind,
                    "quote_request": item,
                    "latest": next(iter(item.quotes.all()), None),
                    "target": quote_target(item),
                }
            )
    query = {key: value for key, value in filters.items() if value and key != "page"}
    waiting = (
        trials_visible_to(principal=principal).filter(vendor=organization, status=TS.REQUESTED).count()
        + quote_requests_visible_to(principal=principal).filter(vendor=organization, status=QS.REQUESTED).count()
    )
    context = {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "can_act": can_act,
        "section": "requests",
        "nav": "organization",
        "kinds": KINDS,
        "statuses": STATUSES,
        "filters": filters,
        "filtered": bool(query),
        "page": page,
        "rows": rows,
        "waiting": waiting,
        "page_query": f"{urlencode(query)}&" if query else "",
        "notice": "",
        "error": error,
    }
    return render(request, "storefront/portal/requests.html", context, status=status)


@vendor_portal
def requests_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    return _requests_response(request, principal, organization, _filters(request.GET))


def _incoming_trial_or_404(principal: Principal, organization: Organization, public_id: UUID) -> Trial:
    return get_object_or_404(trials_visible_to(principal=principal).filter(vendor=organization), public_id=public_id)


def _back(filters: dict[str, str]) -> str:
    query = urlencode({key: value for key, value in filters.items() if value})
    return reverse("storefront:portal-requests") + (f"?{query}" if query else "")


@require_POST
@vendor_portal
def request_trial_approve(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    trial = _incoming_trial_or_404(principal, organization, public_id)
    filters = _filters(request.POST)
    try:
        trial = trial_approve(trial=trial, actor=principal)
    except ApplicationError as exc:
        return _requests_response(
            request,
            principal,
            organization,
            filters,
            status=exc.status_code,
            error=f"The trial of {trial.listing.name} for {trial.provider.name}: {exc.message}",
        )
    messages.success(
        request, f"The trial of {trial.listing.name} for {trial.provider.name} is approved; it is being set up."
    )
    return redirect(_back(filters))


@require_POST
@vendor_portal
def request_trial_decline(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    trial = _incoming_trial_or_404(principal, organization, public_id)
    filters = _filters(request.POST)
    form = TrialDeclineForm(request.POST, prefix=f"decline-{trial.public_id}")
    status = 400
    if form.is_valid():
        try:
            trial = trial_decline(trial=trial, actor=principal, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            if not exc.fields:
                return _requests_response(
                    request,
                    principal,
                    organization,
                    filters,
                    status=exc.status_code,
                    error=f"The trial of {trial.listing.name} for {trial.provider.name}: {exc.message}",
                )
            for name, texts in exc.fields.items():
                for text in texts:
                    form.add_error(name if name in form.fields else None, text)
            status = exc.status_code
        else:
            messages.success(
                request, f"The trial of {trial.listing.name} for {trial.provider.name} is declined; they are told why."
            )
            return redirect(_back(filters))
    return _requests_response(request, principal, organization, filters, status=status, decline=(trial.public_id, form))
