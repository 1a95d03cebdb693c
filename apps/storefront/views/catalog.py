"""The store's catalog: search with facets, and the listing page (with its "Request a trial" and
"Request a quote" forms for provider members, "Buy" for provider admins, and the reviews).

Search goes through the same selectors as the API (apps.catalog.search), over published
listings only. The facet form is an ordinary GET form; with htmx it narrows as people click
and gets back only the results region plus out-of-band updates of the counts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers

from apps.catalog.models import Listing, Offering, Plan, Review, Version
from apps.catalog.search import (
    CLOSED_VALUES,
    FACETS,
    MAX_QUERY_LENGTH,
    ORDERINGS,
    SearchParams,
    SearchResults,
    catalog_first_ids,
    catalog_summary,
)
from apps.catalog.search import catalog_search as search_listings
from apps.catalog.selectors import documents_visible_to, listings_visible_to
from apps.catalog.services import review_post
from apps.catalog.signals import listing_viewed
from apps.organizations.selectors import organization_sites
from apps.procurement.models import QuoteRequest, Trial
from apps.procurement.selectors import organization_has_used_listing, quote_requests_visible_to, trials_visible_to
from apps.procurement.services import order_place, quote_request_create, terms_required, trial_request
from apps.storefront.forms import (
    PurchaseForm,
    QuoteRequestForm,
    ReviewForm,
    TrialRequestForm,
    add_service_error,
    error_summary,
)
from marketplace.errors import ApplicationError, Conflict
from marketplace.principal import Principal, Role, get_principal

PAGE_SIZE = 25
FACET_VALUE_MAX_LENGTH = 80  # ListingFacet.value
MAX_VALUES_PER_FACET = 50
FACET_VISIBLE = 8  # options shown before "Show more"
FACET_TITLES = {
    "category": "Category",
    "specialty": "Specialty",
    "modality": "Modality",
    "deployment_mode": "Deployment",
    "standard": "Standard",
    "regulatory": "Regulatory clearance",
    "vendor": "Vendor",
    "pricing_model": "Pricing",
}
ORDERING_LABELS = {"relevance": "Relevance", "name": "Name (A–Z)", "newest": "Newest", "rating": "Best rated"}
DOCUMENT_DOWNLOAD_URL = "api:listing-document-download"  # /api/v1/apps/<slug>/documents/<id>/download/


@dataclass
class FacetOption:
    value: str
    label: str
    count: int
    selected: bool
    input_id: str


@dataclass
class FacetGroup:
    name: str
    title: str
    options: list[FacetOption] = field(default_factory=list)
    more: list[FacetOption] = field(default_factory=list)

    @property
    def more_open(self) -> bool:
        return any(option.selected for option in self.more)


def published_listings() -> QuerySet[Listing]:
    """What everyone may find in the store."""
    return Listing.objects.filter(status=Listing.Status.PUBLISHED)


def search_params(request: HttpRequest) -> SearchParams:
    """The query, filters and ordering of a request, cleaned: over-long or unknown values are
    dropped rather than refused, the way a browser form should behave."""
    query = " ".join(request.GET.get("q", "").split())[:MAX_QUERY_LENGTH]
    filters: dict[str, list[str]] = {}
    for facet in FACETS:
        values: list[str] = []
        for raw in request.GET.getlist(facet):
            value = raw.strip()
            if not value or len(value) > FACET_VALUE_MAX_LENGTH or value in values:
                continue
            if facet in CLOSED_VALUES and value not in CLOSED_VALUES[facet]:
                continue
            values.append(value)
        if values:
            filters[facet] = values[:MAX_VALUES_PER_FACET]
    ordering = request.GET.get("ordering", "")
    if ordering not in ORDERINGS:
        ordering = ""
    return SearchParams(query=query, filters=filters, ordering=ordering)


def _input_id(facet: str, value: str) -> str:
    """An id derived from the value alone, so it stays the same when counts change."""
    readable = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    if readable != value:  # keep ids of values that differ only in case or punctuation apart
        readable = f"{readable}-{hashlib.sha256(value.encode()).hexdigest()[:8]}".lstrip("-")
    return f"facet-{facet.replace('_', '-')}-{readable}"


def facet_groups(facets: dict[str, list[dict[str, Any]]], params: SearchParams) -> list[FacetGroup]:
    """Facet options in the selector's order (most results first); values with no result are
    hidden unless selected, so they can be unselected. Input ids are stable for a value (its
    position in the list would not be), so htmx can give focus back after a swap."""
    groups = []
    for facet in FACETS:
        selected = set(params.filters.get(facet, []))
        group = FacetGroup(name=facet, title=FACET_TITLES[facet])
        # One option per value: after a term is renamed, rows not yet re-indexed carry the old
        # label and the selector returns the value twice (see apps/catalog/search.py).
        merged: dict[str, dict[str, Any]] = {}
        for row in facets.get(facet, []):
            if row["value"] in merged:
                merged[row["value"]]["count"] += row["count"]
            else:
                merged[row["value"]] = dict(row)
        shown = [row for row in merged.values() if row["count"] > 0 or row["value"] in selected]
        options = [
            FacetOption(
                value=row["value"],
                label=row["label"],
                count=row["count"],
                selected=row["value"] in selected,
                input_id=_input_id(facet, row["value"]),
            )
            for row in shown
        ]
        group.options, group.more = options[:FACET_VISIBLE], options[FACET_VISIBLE:]
        groups.append(group)
    return groups


def catalog(request: HttpRequest) -> HttpResponse:
    params = search_params(request)
    base = published_listings()
    summary = catalog_summary(base=base, params=params, shared_scope=Listing.Status.PUBLISHED)
    results = (
        search_listings(base=base, params=params).select_related("vendor").prefetch_related("categories", "clearances")
    )
    first_ids = catalog_first_ids(
        results=results,
        params=params,
        shared_scope=Listing.Status.PUBLISHED,
        page_size=PAGE_SIZE,
        page=request.GET.get("page"),
    )
    page = Paginator(SearchResults(results, summary.count, first_ids), PAGE_SIZE).get_page(request.GET.get("page"))
    facets = summary.facets
    # "Relevance" is the default also without words (the selector then orders by name), so a
    # query typed later is ranked unless people chose another order.
    ordering = params.ordering or "relevance"
    context = {
        "nav": "catalog",
        "params": params,
        "query": params.query,
        "page": page,
        "facet_groups": facet_groups(facets, params),
        "has_filters": any(params.filters.values()),
        "ordering": ordering,
        "orderings": [(value, ORDERING_LABELS[value]) for value in ORDERINGS],
    }
    # The partial only for htmx's own swaps; a history restore (back button after the cache
    # is gone) needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "storefront/catalog/_results.html", context)
    else:
        response = render(request, "storefront/catalog/search.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- the listing page ---------------------------------------------------------------------


def _listing_detail_queryset() -> QuerySet[Listing]:
    return Listing.objects.select_related("vendor").prefetch_related(
        "categories",
        "specialties",
        "modalities",
        "standards",
        "clearances",
        Prefetch(
            "offerings",
            queryset=Offering.objects.filter(is_active=True).prefetch_related(
                Prefetch("plans", queryset=Plan.objects.filter(is_active=True), to_attr="active_plans")
            ),
            to_attr="active_offerings",
        ),
        Prefetch("versions", queryset=Version.objects.prefetch_related("artifacts")),
        "documents",
    )


def listing_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Every fact of one listing. Who sees which listing and which documents is decided by the
    API's selectors, so the page links a download exactly when the API would serve it: published
    listings for everyone, every state for the vendor (acting for it) and operators, 404 else."""
    principal = get_principal(request)
    visible = listings_visible_to(principal=principal)
    listing = get_object_or_404(_listing_detail_queryset().filter(pk__in=visible.values("pk")), slug=slug)
    listing_viewed.send(sender=Listing, listing=listing, viewer=principal)
    return _listing_page(request, principal, listing)


def _listing_page(
    request: HttpRequest,
    principal: Principal,
    listing: Listing,
    *,
    trial_form: TrialRequestForm | None = None,
    quote_form: QuoteRequestForm | None = None,
    buy_form: PurchaseForm | None = None,
    review_form: ReviewForm | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    # Every document is listed; "on request" ones link only for whom the API serves them.
    downloadable = set(documents_visible_to(listing=listing, principal=principal).values_list("pk", flat=True))
    documents = [
        {
            "document": document,
            "url": reverse(DOCUMENT_DOWNLOAD_URL, kwargs={"listing_slug": listing.slug, "id": document.public_id})
            if document.pk in downloadable
            else "",
        }
        for document in listing.documents.all()
    ]
    context = {
        "nav": "catalog",
        "listing": listing,
        "is_preview": listing.status != Listing.Status.PUBLISHED,
        "documents": documents,
        "offerings": listing.active_offerings,
        "versions": list(listing.versions.all()),
        "trial": _trial_section(principal, listing, trial_form),
        "quote": _quote_section(request, principal, listing, quote_form),
        "buy": _buy_section(principal, listing, buy_form),
        "reviews": _reviews_section(principal, listing, review_form),
        **extra,
    }
    return render(request, "storefront/catalog/listing.html", context, status=status)


# --- requesting a trial from the listing page -----------------------------------------------


def _trial_plans(listing: Listing) -> list[Plan]:
    """Active plans of active offerings that carry trial terms (prefetched by the page's query)."""
    return [plan for offering in listing.active_offerings for plan in offering.active_plans if plan.trial_days > 0]


def _trial_section(principal: Principal, listing: Listing, form: TrialRequestForm | None) -> dict[str, Any]:
    """What the "Request a trial" section shows: nothing (no trial terms, not in the store, vendors and
    operators), a sign-in prompt (anonymous), a note (read-only role) or the form (provider
    members), with the organization's open trials of this app."""
    plans = _trial_plans(listing) if listing.status == Listing.Status.PUBLISHED else []
    organization = principal.organization
    if not plans and form is None:
        return {"show": False}
    if not principal.is_authenticated:
        return {"show": True, "mode": "sign_in"}
    if organization is None or not organization.is_provider:
        return {"show": False}
    if not principal.has_role(Role.MEMBER):
        return {"show": True, "mode": "read_only"}
    if form is None:
        form = TrialRequestForm(plans=plans, sites=list(organization_sites(organization=organization)))
    open_trials = list(
        trials_visible_to(principal=principal)
        .filter(provider=organization, listing=listing, status__in=Trial.OPEN)
        .order_by("-created_at")
    )
    return {"show": True, "mode": "form", "form": form, "open_trials": open_trials, "organization": organization}


# Fields a service names that this form shows under another name.
TRIAL_FIELD_ALIASES = {"offering": "plan"}


@login_required
def listing_trial_request(request: HttpRequest, slug: str) -> HttpResponse:
    """POST of the "Request a trial" form: the service decides; success goes to the trial page,
    errors come back on the listing page next to the field at fault (a 409 links the open trial).
    A GET (e.g. back from signing in) shows the form on the listing page."""
    if request.method != "POST":
        return redirect(reverse("storefront:listing", kwargs={"slug": slug}) + "#request-trial")
    principal = get_principal(request)
    listing = get_object_or_404(_listing_detail_queryset().filter(status=Listing.Status.PUBLISHED), slug=slug)
    organization = principal.organization
    if organization is None or not organization.is_provider or not principal.has_role(Role.MEMBER):
        return render(
            request,
            "storefront/errors/403.html",
            {"message": "Only members of a provider organization (not read-only) request trials."},
            status=403,
        )
    plans = _trial_plans(listing)
    form = TrialRequestForm(request.POST, plans=plans, sites=list(organization_sites(organization=organization)))
    extra: dict[str, Any] = {}
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        plan = data["plan_object"]
        try:
            trial = trial_request(
                provider=organization,
                actor=principal,
                listing=listing,
                offering=plan.offering,
                plan=plan,
                site=data["site_object"],
                region=data["region"],
                notes=data["notes"],
            )
        except ApplicationError as exc:
            status = exc.status_code
            if isinstance(exc, Conflict) and exc.extra.get("trial"):
                extra["existing_trial"] = exc.extra["trial"]
            for name, texts in exc.fields.items():
                target = TRIAL_FIELD_ALIASES.get(name, name)
                for text in texts:
                    form.add_error(target if target in form.fields else None, text)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            if trial.status == Trial.Status.REQUESTED:
                messages.success(request, f"Trial requested: {listing.vendor.name} decides; you get an e-mail.")
            else:
                messages.success(request, "Trial approved at once: it is being set up now.")
            return redirect("storefront:trial", public_id=trial.public_id)
    form.focus_first_error()
    return _listing_page(request, principal, listing, trial_form=form, status=status, **extra)


# --- buying from the listing page: a quote, a direct purchase, and reviews -------------------


def _buyer(principal: Principal, listing: Listing) -> Any:
    """The provider organization the principal acts for, if it may buy this listing (a vendor
    that is also a provider does not buy its own app)."""
    organization = principal.organization
    if organization is None or not organization.is_provider or organization.pk == listing.vendor_id:
        return None
    return organization


def _quote_form(principal: Principal, listing: Listing, data: Any = None, initial: Any = None) -> QuoteRequestForm:
    organization = principal.organization
    trials = list(
        trials_visible_to(principal=principal)
        .filter(provider=organization, listing=listing, status__in=Trial.OPEN)
        .order_by("-created_at")
    )
    return QuoteRequestForm(
        data,
        initial=initial,
        offerings=list(listing.active_offerings),
        sites=list(organization_sites(organization=organization)),
        trials=trials,
    )


def _quote_section(
    request: HttpRequest, principal: Principal, listing: Listing, form: QuoteRequestForm | None
) -> dict[str, Any]:
    """Nothing (not in the store, vendors, operators), a sign-in prompt, a read-only note, or the
    form (provider members) with the organization's open requests for this app. `?trial=<id>`
    (the trial page's link) preselects the trial the quote follows."""
    if form is None and (listing.status != Listing.Status.PUBLISHED or not listing.active_offerings):
        return {"show": False}
    if not principal.is_authenticated:
        return {"show": True, "mode": "sign_in"}
    organization = _buyer(principal, listing)
    if organization is None:
        return {"show": False}
    if not principal.has_role(Role.MEMBER):
        return {"show": True, "mode": "read_only"}
    if form is None:
        form = _quote_form(principal, listing, initial={"trial": request.GET.get("trial", "")})
    open_requests = list(
        quote_requests_visible_to(principal=principal)
        .filter(provider=organization, listing=listing, status__in=QuoteRequest.OPEN)
        .order_by("-created_at")
    )
    return {
        "show": True,
        "mode": "form",
        "form": form,
        "summary": error_summary(form),
        "open_requests": open_requests,
        "organization": organization,
    }


def _list_priced_plans(listing: Listing) -> list[Plan]:
    return [
        plan
        for offering in listing.active_offerings
        for plan in offering.active_plans
        if plan.pricing_model != Plan.PricingModel.QUOTE_ONLY
    ]


def _buy_form(principal: Principal, listing: Listing, data: Any = None) -> PurchaseForm:
    return PurchaseForm(
        data,
        plans=_list_priced_plans(listing),
        sites=list(organization_sites(organization=principal.organization)),
        terms=terms_required(listing),
    )


def _buy_section(principal: Principal, listing: Listing, form: PurchaseForm | None) -> dict[str, Any]:
    """The "Buy" form for provider admins when a plan has a list price; a note for members."""
    if form is None and (listing.status != Listing.Status.PUBLISHED or not _list_priced_plans(listing)):
        return {"show": False}
    if not principal.is_authenticated:
        return {"show": True, "mode": "sign_in"}
    organization = _buyer(principal, listing)
    if organization is None:
        return {"show": False}
    if not principal.has_role(Role.ADMIN):
        return {"show": True, "mode": "not_admin", "organization": organization}
    form = form or _buy_form(principal, listing)
    return {"show": True, "mode": "form", "form": form, "summary": error_summary(form), "organization": organization}


REVIEWS_SHOWN = 50


def _reviews_section(principal: Principal, listing: Listing, form: ReviewForm | None) -> dict[str, Any]:
    """The average, the latest reviews, and the form for organizations that used the app (a
    trial that ran, or a subscription) and have not reviewed it yet."""
    reviews = list(listing.reviews.select_related("organization")[:REVIEWS_SHOWN])
    organization = principal.organization
    own: Review | None = None
    may_review = False
    if organization is not None and principal.has_role(Role.MEMBER) and organization.pk != listing.vendor_id:
        own = listing.reviews.filter(organization=organization).first()
        may_review = own is None and organization_has_used_listing(
            organization_id=organization.pk, listing_id=listing.pk
        )
    if form is not None:
        may_review = True  # a refused review comes back with its errors
    form = form or (ReviewForm() if may_review else None)
    return {
        "reviews": reviews,
        "average": listing.rating_average,
        "count": listing.rating_count,
        "own": own,
        "form": form,
        "summary": error_summary(form),
        "organization": organization,
    }


def _published_listing_or_404(slug: str) -> Listing:
    return get_object_or_404(_listing_detail_queryset().filter(status=Listing.Status.PUBLISHED), slug=slug)


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "storefront/errors/403.html", {"message": message}, status=403)


# Fields a service names that these forms show under another name.
BUY_FIELD_ALIASES = {"offering": "plan"}


@login_required
def listing_quote_request(request: HttpRequest, slug: str) -> HttpResponse:
    """POST of "Request a quote": success goes to the quote's page, errors come back on the
    listing page next to the field at fault and summarized on top of the form."""
    if request.method != "POST":
        return redirect(reverse("storefront:listing", kwargs={"slug": slug}) + "#request-quote")
    principal = get_principal(request)
    listing = _published_listing_or_404(slug)
    organization = _buyer(principal, listing)
    if organization is None or not principal.has_role(Role.MEMBER):
        return _forbidden(request, "Only members of a provider organization (not read-only) request quotes.")
    form = _quote_form(principal, listing, data=request.POST)
    extra: dict[str, Any] = {}
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            quote_request = quote_request_create(
                provider=organization,
                actor=principal,
                listing=listing,
                offering=data["offering_object"],
                plan=data["plan_object"],
                region=data["region"],
                sites=data["site_objects"],
                seats=data["seats"],
                studies_per_month=data["studies_per_month"],
                desired_start=data["desired_start"],
                notes=data["notes"],
                trial=data.get("trial_object"),
            )
        except ApplicationError as exc:
            status = exc.status_code
            if isinstance(exc, Conflict) and exc.extra.get("quote"):
                extra["existing_quote"] = exc.extra["quote"]
            add_service_error(form, exc, aliases=BUY_FIELD_ALIASES)
        else:
            messages.success(
                request, f"Quote requested: {listing.vendor.name} answers with a quote; you get an e-mail."
            )
            return redirect("storefront:quote", public_id=quote_request.public_id)
    return _listing_page(request, principal, listing, quote_form=form, status=status, **extra)


@login_required
def listing_buy(request: HttpRequest, slug: str) -> HttpResponse:
    """POST of "Buy": a provider admin buys a list-priced plan, accepting the listing's terms;
    success goes to the new subscription, errors come back next to the fields."""
    if request.method != "POST":
        return redirect(reverse("storefront:listing", kwargs={"slug": slug}) + "#buy")
    principal = get_principal(request)
    listing = _published_listing_or_404(slug)
    organization = _buyer(principal, listing)
    if organization is None or not principal.has_role(Role.ADMIN):
        return _forbidden(request, "Only admins of a provider organization buy.")
    form = _buy_form(principal, listing, data=request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        plan = data["plan_object"]
        try:
            order = order_place(
                provider=organization,
                actor=principal,
                listing=listing,
                offering=plan.offering,
                plan=plan,
                accepted_terms=data["accepted_terms"],
                region=data["region"],
                sites=data["site_objects"],
                seats=data["seats"],
                purchase_order_number=data["purchase_order_number"],
            )
        except ApplicationError as exc:
            status = exc.status_code
            add_service_error(form, exc, aliases=BUY_FIELD_ALIASES)
        else:
            messages.success(request, f"Order placed: {listing.name} is being set up now.")
            return redirect("storefront:subscription", public_id=order.subscription.public_id)
    return _listing_page(request, principal, listing, buy_form=form, status=status)


@login_required
def listing_review(request: HttpRequest, slug: str) -> HttpResponse:
    """POST of the review form; the service decides who may review (organizations that had a
    trial or a subscription of the app, once)."""
    if request.method != "POST":
        return redirect(reverse("storefront:listing", kwargs={"slug": slug}) + "#reviews")
    principal = get_principal(request)
    listing = _published_listing_or_404(slug)
    form = ReviewForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            review_post(listing=listing, actor=principal, rating=data["rating"], title=data["title"], body=data["body"])
        except ApplicationError as exc:
            status = exc.status_code
            add_service_error(form, exc)
        else:
            messages.success(request, "Thank you: your review is published.")
            return redirect(reverse("storefront:listing", kwargs={"slug": slug}) + "#reviews")
    return _listing_page(request, principal, listing, review_form=form, status=status)
