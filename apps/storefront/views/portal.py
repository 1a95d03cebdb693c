"""The vendor portal: a vendor organization's listings and their editor.

"My listings" lists every listing of the organization with its status, the status of an open
revision and its offerings with their fulfillment settings (views/onprem.py), and creates drafts.
The editor has tabs: facts (name, texts, classification, regulatory clearances, data
handling, support, EULA version), offerings and plans, versions with artifacts, documents and
images, and "Review" (submit for review, retire). Drafts and listings sent back with changes
requested are edited directly; a live listing's facts change through a revision (the same form,
reviewed like a listing while the live version stays), while offerings, plans, versions and
documents are added to it directly.

Members edit and submit, admins retire, read-only principals read; the catalog services decide
and their errors are shown next to the field at fault and summarized on top of the form.
Another organization's listing is a 404; a provider organization gets 403. Uploads are plain
multipart forms; with JavaScript htmx sends them and portal.js shows their progress."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.catalog.models import (
    Document,
    Listing,
    ListingRevision,
    Offering,
    Plan,
    RegulatoryClearance,
    Version,
)
from apps.catalog.selectors import TERM_MODELS, documents_visible_to, listings_visible_to, revisions_visible_to
from apps.catalog.services import (
    artifact_add,
    document_add,
    document_remove,
    listing_create,
    listing_facts_snapshot,
    listing_retire,
    listing_set_logo,
    listing_submit,
    listing_update,
    offering_create,
    offering_update,
    plan_create,
    plan_update,
    revision_create,
    revision_diff,
    revision_media,
    revision_screenshot_add,
    revision_screenshot_remove,
    revision_set_logo,
    revision_submit,
    revision_update,
    revision_withdraw,
    screenshot_add,
    screenshot_remove,
    version_create,
)
from apps.organizations.models import Organization
from apps.storefront.forms import ReasonForm, add_service_error, error_summary
from apps.storefront.portal_forms import (
    CLEARANCE_ROWS,
    ActiveForm,
    ArtifactForm,
    DocumentForm,
    ListingCreateForm,
    ListingFactsForm,
    LogoForm,
    OfferingForm,
    PlanForm,
    ScreenshotForm,
    VersionForm,
    clearance_formset,
)
from apps.storefront.views.organization import acting_organization, forbidden
from marketplace.errors import ApplicationError
from marketplace.markdown import render_markdown
from marketplace.principal import Principal, Role

S = Listing.Status
R = ListingRevision.Status
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
LIVE = (S.PUBLISHED, S.SUSPENDED)
OPEN_REVISION = (R.DRAFT, R.IN_REVIEW, R.CHANGES_REQUESTED)
EDITABLE_REVISION = (R.DRAFT, R.CHANGES_REQUESTED)
TABS = (
    ("facts", "Facts", "storefront:portal-listing"),
    ("offerings", "Offerings and plans", "storefront:portal-offerings"),
    ("versions", "Versions", "storefront:portal-versions"),
    ("documents", "Documents and images", "storefront:portal-documents"),
    ("review", "Review", "storefront:portal-review"),
)
# Where the fields the review asks for are edited (the service names them).
REVIEW_FIELDS = {
    "tagline": ("storefront:portal-listing", "#id_facts-tagline", "Tagline"),
    "description": ("storefront:portal-listing", "#id_facts-description", "Description"),
    "intended_use": ("storefront:portal-listing", "#id_facts-intended_use", "Intended use"),
    "categories": ("storefront:portal-listing", "#id_facts-categories_0", "Categories"),
    "offerings": ("storefront:portal-offerings", "#new-offering", "Offerings and plans"),
}
FACT_LABELS = {
    "name": "Name",
    "tagline": "Tagline",
    "description": "Description",
    "intended_use": "Intended use",
    "categories": "Categories",
    "specialties": "Specialties",
    "modalities": "Modalities",
    "standards": "Interoperability standards",
    "clearances": "Regulatory clearances",
    "processes_patient_data": "Processes patient data",
    "deidentified_before_leaving_site": "De-identified before leaving the site",
    "data_residency": "Data residency",
    "security_certifications": "Security certifications",
    "support_email": "Support e-mail",
    "support_url": "Support page",
    "eula_version": "EULA version",
    "logo": "Logo",
    "screenshots": "Screenshots",
}

PortalView = Callable[..., HttpResponse]


def vendor_portal(view: PortalView) -> PortalView:
    """Pass the principal and its organization, which must be a vendor (403 otherwise); a POST
    needs the member role (read-only principals read)."""

    @wraps(view)
    def wrapper(request: HttpRequest, principal: Principal, organization: Organization, *args: Any, **kwargs: Any):
        if not organization.is_vendor:
            return forbidden(
                request,
                f"{organization.name} is a provider organization: only vendors publish listings and answer requests.",
            )
        if request.method == "POST" and not principal.has_role(Role.MEMBER):
            return forbidden(request, f"Your access to {organization.name} is read-only.")
        return view(request, principal, organization, *args, **kwargs)

    return acting_organization(wrapper)


def _listing_or_404(principal: Principal, organization: Organization, slug: str) -> Listing:
    listings = listings_visible_to(principal=principal).filter(vendor=organization).select_related("vendor")
    return get_object_or_404(listings, slug=slug)


def _done(request: HttpRequest, notice: str, url: str) -> HttpResponse:
    """After a change: the message for the next page, and the page (htmx: a full navigation)."""
    messages.success(request, notice)
    if request.htmx:
        # Without the fragment: the page may already be at that address, and a change of
        # fragment alone would only scroll, not load the page with the message.
        return HttpResponseClientRedirect(url.split("#", 1)[0])
    return redirect(url)


def _status(request: HttpRequest, status: int) -> int:
    """htmx swaps only 2xx answers; a refused form comes back as 200 with its errors."""
    return 200 if request.htmx else status


def _url(name: str, listing: Listing, anchor: str = "") -> str:
    return reverse(name, kwargs={"slug": listing.slug}) + anchor


def _editor_context(principal: Principal, organization: Organization, listing: Listing, tab: str) -> dict[str, Any]:
    revisions = revisions_visible_to(listing=listing, principal=principal)
    revision = revisions.filter(status__in=OPEN_REVISION).first()
    can_edit = principal.has_role(Role.MEMBER)
    return {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "section": "vendor-listings",
        "nav": "organization",
        "listing": listing,
        "tab": tab,
        "tabs": [(key, label, _url(name, listing)) for key, label, name in TABS],
        "can_edit": can_edit,
        "editable": can_edit and listing.status in EDITABLE,
        "is_live": listing.status in LIVE,
        # Nothing is added or switched off while operators review the listing (it holds still).
        "can_add": can_edit and listing.status not in (S.RETIRED, S.IN_REVIEW),
        "revision": revision,
        "latest_revision": revision or revisions.first(),
        "notice": "",
        "error": "",
    }


# --- my listings ----------------------------------------------------------------------------------


def _listings_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    *,
    status: int = 200,
    form: ListingCreateForm | None = None,
) -> HttpResponse:
    listings = (
        listings_visible_to(principal=principal)
        .filter(vendor=organization)
        .prefetch_related(
            Prefetch("revisions", queryset=ListingRevision.objects.filter(status__in=OPEN_REVISION), to_attr="open"),
            Prefetch("offerings", queryset=Offering.objects.order_by("created_at", "id")),
        )
        .order_by("name")
    )
    context = {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "can_edit": principal.has_role(Role.MEMBER),
        "section": "vendor-listings",
        "nav": "organization",
        "rows": [{"listing": listing, "revision": next(iter(listing.open), None)} for listing in listings],
        "form": form or ListingCreateForm(),
        "summary": error_summary(form),
    }
    return render(request, "storefront/portal/listings.html", context, status=status)


@vendor_portal
def listings_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    """Every listing of the organization; members create a draft here (POST)."""
    if request.method != "POST":
        return _listings_response(request, principal, organization)
    form = ListingCreateForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            listing = listing_create(vendor=organization, actor=principal, data={"name": form.cleaned_data["name"]})
        except (ApplicationError, DjangoValidationError) as exc:
            add_service_error(form, exc, aliases={"slug": "name"})
            status = getattr(exc, "status_code", 400)
        else:
            messages.success(
                request,
                f"{listing.name} is created as a draft. Only {organization.name} sees it until it is published.",
            )
            return redirect("storefront:portal-listing", slug=listing.slug)
    return _listings_response(request, principal, organization, status=status, form=form)


# --- facts (drafts) and revisions (live listings) ------------------------------------------------


def _clearance_errors(exc: ApplicationError, form: ListingFactsForm, rows: list[Any]) -> list[str]:
    """Put the service's errors where they belong: `clearances.<n>.<field>` on the n-th filled
    row (empty rows were not sent), the rest on the form."""
    row_errors: list[str] = []
    others: dict[str, list[str]] = {}
    for name, texts in exc.fields.items():
        parts = name.split(".")
        if parts[0] != "clearances":
            others[name] = texts
        elif len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(rows):
            row_form = rows[int(parts[1])][0]
            for text in texts:
                row_form.add_error(parts[2] if parts[2] in row_form.fields else None, text)
        else:
            row_errors.extend(texts)
    if others or not exc.fields:
        add_service_error(form, type(exc)(exc.message, code=exc.code, fields=others))
    return row_errors


def _save_facts(form: ListingFactsForm, clearances: Any, save: Callable[[dict[str, Any]], Any]) -> tuple[int, list]:
    """Validate both forms and save through `save`: (0, []) when saved, else the status to answer
    with and errors about the clearance rows as a whole (the rest is on the forms)."""
    valid = form.is_valid()
    valid = clearances.is_valid() and valid
    if not valid:
        return 400, []
    rows = clearances.filled()
    try:
        save(form.service_data([item for _, item in rows]))
    except ApplicationError as exc:
        return exc.status_code, _clearance_errors(exc, form, rows)
    except DjangoValidationError as exc:
        add_service_error(form, exc)
        return 400, []
    return 0, []


def _facts_forms(request: HttpRequest, facts: dict[str, Any]) -> tuple[str, ListingFactsForm, Any]:
    """The action asked for and the forms: bound to the POST, or filled from `facts`."""
    if request.method != "POST":
        return "", ListingFactsForm(initial=ListingFactsForm.initial_from(facts)), clearance_formset(facts)
    action = request.POST.get("action", "save")
    more = CLEARANCE_ROWS if action == "more_rows" else 0
    return action, ListingFactsForm(request.POST), clearance_formset(data=request.POST, more=more)


def _facts_context(
    form: ListingFactsForm | None, clearances: Any, *, action: str = "", row_errors: list[str] | None = None
) -> dict[str, Any]:
    summary = error_summary(form, clearances) if action in ("", "save") else []
    summary += [{"href": "#clearances", "text": f"Regulatory clearances: {text}"} for text in row_errors or []]
    preview = None
    if action == "preview" and form is not None:
        preview = render_markdown(form.data.get(form.add_prefix("description"), ""), under=2)
    return {
        "form": form,
        "term_fields": tuple(TERM_MODELS),
        "clearances": clearances,
        "clearance_errors": row_errors or [],
        "summary": summary,
        "preview": preview,
        "preview_open": action == "preview",
    }


@vendor_portal
def listing_facts(request: HttpRequest, principal: Principal, organization: Organization, slug: str) -> HttpResponse:
    """The listing's facts: a form for drafts and listings with changes requested; otherwise what
    the store shows, and for live listings the way to propose changes."""
    listing = _listing_or_404(principal, organization, slug)
    context = _editor_context(principal, organization, listing, "facts")
    status = 200
    if not context["editable"]:
        if request.method == "POST":
            context["error"] = (
                "A live listing's facts change through a revision: propose changes below."
                if listing.status in LIVE
                else f"A listing that is {listing.get_status_display().lower()} cannot be edited."
            )
            status = 409
        context.update(_facts_context(None, None))
        return render(request, "storefront/portal/facts.html", context, status=status)
    action, form, clearances = _facts_forms(request, listing_facts_snapshot(listing))
    row_errors: list[str] = []
    if request.method == "POST" and action not in ("preview", "more_rows"):
        status, row_errors = _save_facts(
            form, clearances, lambda data: listing_update(listing=listing, actor=principal, data=data)
        )
        if not status:
            return _done(request, "The facts are saved.", _url("storefront:portal-listing", listing))
    context.update(_facts_context(form, clearances, action=action, row_errors=row_errors))
    return render(request, "storefront/portal/facts.html", context, status=status)


@require_POST
@vendor_portal
def description_preview(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    """The description as the store will show it (htmx). Without JavaScript the facts form's
    "Preview" button shows the same on the editor page."""
    listing = _listing_or_404(principal, organization, slug)
    if not request.htmx:
        return redirect("storefront:portal-listing", slug=listing.slug)
    text = request.POST.get("facts-description", "")[:20000]
    return render(request, "storefront/portal/_description_preview.html", {"preview": render_markdown(text, under=2)})


def _term_names() -> dict[str, dict[str, str]]:
    return {field: dict(model.objects.values_list("slug", "name")) for field, model in TERM_MODELS.items()}


def _show(field: str, value: Any, names: dict[str, dict[str, str]]) -> str:
    """A fact's value in words, for the table of what a revision changes."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field in names:
        return ", ".join(names[field].get(slug, slug) for slug in value)
    if field == "clearances":
        authorities = dict(RegulatoryClearance.Authority.choices)
        return "; ".join(
            " ".join(
                part
                for part in (
                    authorities.get(item.get("authority"), item.get("authority")),
                    item.get("device_class") and f"class {item['device_class']}",
                    item.get("identifier"),
                    item.get("cleared_on") and f"({item['cleared_on']})",
                )
                if part
            )
            for item in value
        )
    if field == "screenshots":
        return "; ".join(item.get("caption") or item.get("filename", "") for item in value)
    if field == "logo":
        return str(value).rsplit("/", 1)[-1]
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _changes(revision: ListingRevision) -> list[dict[str, str]]:
    names = _term_names()
    return [
        {
            "field": FACT_LABELS.get(field, field),
            "old": _show(field, change["old"], names),
            "new": _show(field, change["new"], names),
        }
        for field, change in revision_diff(revision).items()
    ]


def _revision_or_404(principal: Principal, listing: Listing) -> ListingRevision:
    """The open revision, else the newest one."""
    revisions = revisions_visible_to(listing=listing, principal=principal)
    revision = revisions.filter(status__in=OPEN_REVISION).first() or revisions.first()
    if revision is None:
        raise Http404("This listing has no revision.")
    return revision


def _revision_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    *,
    status: int = 200,
    error: str = "",
    bound: Any = None,
) -> HttpResponse:
    context = _editor_context(principal, organization, listing, "facts")
    revision = _revision_or_404(principal, listing)
    editable = context["can_edit"] and revision.status in EDITABLE_REVISION and listing.status in LIVE
    form = clearances = None
    action = ""
    row_errors: list[str] = []
    if editable:
        action, form, clearances = _facts_forms(request, revision.data)
        if request.method == "POST" and action not in ("preview", "more_rows") and not error:
            status, row_errors = _save_facts(
                form, clearances, lambda data: revision_update(revision=revision, actor=principal, data=data)
            )
            if not status:
                return _done(
                    request,
                    "The revision is saved. Submit it for review when it is ready.",
                    _url("storefront:portal-revision", listing),
                )
            revision.refresh_from_db()
    context.update(_facts_context(form, clearances, action=action, row_errors=row_errors))
    context.update(
        {
            "revision": revision,
            "revision_editable": editable,
            "changes": _changes(revision),
            "is_open_revision": revision.status in OPEN_REVISION,
            "on_revision_page": True,
            "error": error,
            **_revision_media_context(revision, editable=editable, bound=bound),
        }
    )
    return render(request, "storefront/portal/revision.html", context, status=status)


def _revision_media_context(revision: ListingRevision, *, editable: bool, bound: Any) -> dict[str, Any]:
    """The logo and screenshots the revision proposes, with their addresses, and the upload forms."""
    media = revision_media(revision)
    storage = Listing._meta.get_field("logo").storage  # the screenshots' too: the default storage
    screenshots = [
        {
            "url": storage.url(entry["file"]),
            "label": entry["caption"] or entry["filename"],
            "remove_url": reverse(
                "storefront:portal-revision-screenshot-remove",
                kwargs={"slug": revision.listing.slug, "public_id": entry["id"]},
            )
            if editable
            else "",
        }
        for entry in media["screenshots"]
    ]
    logo_form = bound if isinstance(bound, LogoForm) else (LogoForm() if editable else None)
    screenshot_form = bound if isinstance(bound, ScreenshotForm) else (ScreenshotForm() if editable else None)
    return {
        "proposed_logo_url": storage.url(media["logo"]) if media["logo"] else "",
        "proposed_screenshots": screenshots,
        "logo_form": logo_form,
        "logo_summary": error_summary(logo_form),
        "screenshot_form": screenshot_form,
        "screenshot_summary": error_summary(screenshot_form),
    }


@vendor_portal
def revision_page(request: HttpRequest, principal: Principal, organization: Organization, slug: str) -> HttpResponse:
    listing = _listing_or_404(principal, organization, slug)
    if request.method == "POST" and listing.status not in LIVE:
        return _revision_response(
            request, principal, organization, listing, status=409, error="Only a live listing's revision is edited."
        )
    return _revision_response(request, principal, organization, listing)


@require_POST
@vendor_portal
def revision_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str) -> HttpResponse:
    """Propose changes to a live listing: a revision starts as a copy of its facts."""
    listing = _listing_or_404(principal, organization, slug)
    try:
        revision_create(listing=listing, actor=principal, data={})
    except ApplicationError as exc:
        if exc.code == "open_revision":
            messages.info(request, "This listing already has an open revision: continue it here.")
            return redirect("storefront:portal-revision", slug=listing.slug)
        context = _editor_context(principal, organization, listing, "facts")
        context.update({**_facts_context(None, None), "error": exc.message})
        return render(request, "storefront/portal/facts.html", context, status=exc.status_code)
    return _done(
        request,
        "Your revision starts from the live facts: change what you need, then submit it for review. "
        "The store shows the live version until the revision is approved.",
        _url("storefront:portal-revision", listing),
    )


@require_POST
@vendor_portal
def revision_submit_view(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    revision = _revision_or_404(principal, listing)
    try:
        revision_submit(revision=revision, actor=principal)
    except ApplicationError as exc:
        message = "The revision changes nothing yet: change a fact and save it first." if "data" in exc.fields else ""
        return _revision_response(
            request, principal, organization, listing, status=exc.status_code, error=message or exc.message
        )
    return _done(
        request,
        "The revision is submitted for review; the live listing stays as it is until it is approved.",
        _url("storefront:portal-revision", listing),
    )


@require_POST
@vendor_portal
def revision_withdraw_view(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    revision = _revision_or_404(principal, listing)
    try:
        revision_withdraw(revision=revision, actor=principal)
    except ApplicationError as exc:
        return _revision_response(request, principal, organization, listing, status=exc.status_code, error=exc.message)
    return _done(
        request, "The revision is withdrawn; nothing changed in the store.", _url("storefront:portal-listing", listing)
    )


# --- offerings and plans --------------------------------------------------------------------------


def _offerings_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    *,
    status: int = 200,
    bound: dict[str, Any] | None = None,
    error: str = "",
) -> HttpResponse:
    """Every offering with its plans. Each form has a key (its prefix); the one that was sent
    (`bound`) comes back with its errors and open, the others fresh."""
    context = _editor_context(principal, organization, listing, "offerings")
    bound = bound or {}
    editable, can_add = context["editable"], context["can_add"]

    def form_for(key: str, form_class: type, initial: dict[str, Any] | None = None, show: bool = True) -> Any:
        if key in bound:
            return bound[key]
        return form_class(prefix=key, initial=initial or {}) if show else None

    items = []
    for offering in listing.offerings.prefetch_related("plans").order_by("created_at", "id"):
        plans = []
        for plan in offering.plans.all():
            key = f"plan-{plan.public_id}"
            form = form_for(key, PlanForm, PlanForm.initial_from(plan), editable)
            plans.append({"plan": plan, "form": form, "open": key in bound, "summary": error_summary(form)})
        key, new_key = f"offering-{offering.public_id}", f"newplan-{offering.public_id}"
        form = form_for(key, OfferingForm, OfferingForm.initial_from(offering), editable)
        plan_form = form_for(new_key, PlanForm, None, can_add)
        items.append(
            {
                "offering": offering,
                "form": form,
                "open": key in bound,
                "summary": error_summary(form),
                "plans": plans,
                "plan_form": plan_form,
                "plan_open": new_key in bound or (can_add and not plans),
                "plan_summary": error_summary(plan_form),
            }
        )
    offering_form = form_for("offering-new", OfferingForm, None, can_add)
    context.update(
        {
            "items": items,
            "offering_form": offering_form,
            "offering_open": "offering-new" in bound or not items,
            "offering_summary": error_summary(offering_form),
            "error": error,
        }
    )
    return render(request, "storefront/portal/offerings.html", context, status=_status(request, status))


@vendor_portal
def offerings_page(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    return _offerings_response(request, principal, organization, _listing_or_404(principal, organization, slug))


def _offering_or_404(listing: Listing, public_id: UUID) -> Offering:
    return get_object_or_404(listing.offerings.all(), public_id=public_id)


def _plan_or_404(listing: Listing, public_id: UUID) -> Plan:
    return get_object_or_404(
        Plan.objects.filter(offering__listing=listing).select_related("offering"), public_id=public_id
    )


def _offerings_form_action(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    *,
    key: str,
    form: Any,
    call: Callable[[dict[str, Any]], Any],
    notice: Callable[[Any], str],
) -> HttpResponse:
    """Validate `form`, run the service, and answer: back to the offerings with a message, or the
    page with the form open and its errors."""
    status = 400
    if form.is_valid():
        try:
            result = call(form.service_data())
        except (ApplicationError, DjangoValidationError) as exc:
            add_service_error(form, exc)
            status = getattr(exc, "status_code", 400)
        else:
            return _done(request, notice(result), _url("storefront:portal-offerings", listing))
    return _offerings_response(request, principal, organization, listing, status=status, bound={key: form})


@require_POST
@vendor_portal
def offering_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    return _offerings_form_action(
        request,
        principal,
        organization,
        listing,
        key="offering-new",
        form=OfferingForm(request.POST, prefix="offering-new"),
        call=lambda data: offering_create(listing=listing, actor=principal, data=data),
        notice=lambda offering: f"The offering {offering.name} is added. Add a plan to it.",
    )


@require_POST
@vendor_portal
def offering_edit(request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID):
    listing = _listing_or_404(principal, organization, slug)
    offering = _offering_or_404(listing, public_id)
    key = f"offering-{offering.public_id}"
    return _offerings_form_action(
        request,
        principal,
        organization,
        listing,
        key=key,
        form=OfferingForm(request.POST, prefix=key),
        call=lambda data: offering_update(offering=offering, actor=principal, data=data),
        notice=lambda offering: f"The offering {offering.name} is saved.",
    )


@require_POST
@vendor_portal
def plan_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID):
    listing = _listing_or_404(principal, organization, slug)
    offering = _offering_or_404(listing, public_id)
    key = f"newplan-{offering.public_id}"
    return _offerings_form_action(
        request,
        principal,
        organization,
        listing,
        key=key,
        form=PlanForm(request.POST, prefix=key),
        call=lambda data: plan_create(offering=offering, actor=principal, data=data),
        notice=lambda plan: f"The plan {plan.name} is added to {offering.name}.",
    )


@require_POST
@vendor_portal
def plan_edit(request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID):
    listing = _listing_or_404(principal, organization, slug)
    plan = _plan_or_404(listing, public_id)
    key = f"plan-{plan.public_id}"
    return _offerings_form_action(
        request,
        principal,
        organization,
        listing,
        key=key,
        form=PlanForm(request.POST, prefix=key),
        call=lambda data: plan_update(plan=plan, actor=principal, data=data),
        notice=lambda plan: f"The plan {plan.name} is saved.",
    )


def _set_active(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    obj: Offering | Plan,
    update: Callable[..., Any],
) -> HttpResponse:
    form = ActiveForm(request.POST)
    if not form.is_valid():
        return _offerings_response(request, principal, organization, listing, status=400, error="Choose active or not.")
    active = form.cleaned_data["active"]
    try:
        update(actor=principal, data={"is_active": active})
    except (ApplicationError, DjangoValidationError) as exc:
        message = getattr(exc, "message", None) or " ".join(getattr(exc, "messages", []))
        return _offerings_response(
            request, principal, organization, listing, status=getattr(exc, "status_code", 400), error=message
        )
    what = "offering" if isinstance(obj, Offering) else "plan"
    notice = (
        f"The {what} {obj.name} is active again."
        if active
        else f"The {what} {obj.name} is deactivated: hospitals no longer see it; what runs keeps running."
    )
    return _done(request, notice, _url("storefront:portal-offerings", listing))


@require_POST
@vendor_portal
def offering_active(request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID):
    listing = _listing_or_404(principal, organization, slug)
    offering = _offering_or_404(listing, public_id)
    return _set_active(
        request,
        principal,
        organization,
        listing,
        offering,
        lambda **kwargs: offering_update(offering=offering, **kwargs),
    )


@require_POST
@vendor_portal
def plan_active(request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID):
    listing = _listing_or_404(principal, organization, slug)
    plan = _plan_or_404(listing, public_id)
    return _set_active(
        request, principal, organization, listing, plan, lambda **kwargs: plan_update(plan=plan, **kwargs)
    )


# --- versions and artifacts -----------------------------------------------------------------------


def _versions_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    *,
    status: int = 200,
    version_form: VersionForm | None = None,
    artifact: tuple[UUID, ArtifactForm] | None = None,
) -> HttpResponse:
    context = _editor_context(principal, organization, listing, "versions")
    items = []
    for version in listing.versions.prefetch_related("artifacts"):
        form = None
        if context["can_add"]:
            form = artifact[1] if artifact and artifact[0] == version.public_id else None
            form = form or ArtifactForm(prefix=f"artifact-{version.public_id}")
        items.append(
            {
                "version": version,
                "form": form,
                "summary": error_summary(form),
                "open": form is not None and form.is_bound,
            }
        )
    version_form = version_form or (VersionForm() if context["can_add"] else None)
    context.update(
        {
            "items": items,
            "version_form": version_form,
            "version_summary": error_summary(version_form),
            "version_open": (version_form is not None and version_form.is_bound) or not items,
        }
    )
    return render(request, "storefront/portal/versions.html", context, status=_status(request, status))


@vendor_portal
def versions_page(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    return _versions_response(request, principal, organization, _listing_or_404(principal, organization, slug))


@require_POST
@vendor_portal
def version_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str) -> HttpResponse:
    listing = _listing_or_404(principal, organization, slug)
    form = VersionForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            version = version_create(listing=listing, actor=principal, data=form.cleaned_data)
        except (ApplicationError, DjangoValidationError) as exc:
            add_service_error(form, exc)
            status = getattr(exc, "status_code", 400)
        else:
            return _done(
                request,
                f"Version {version.version} is added. Upload its artifacts below.",
                _url("storefront:portal-versions", listing, f"#version-{version.public_id}"),
            )
    return _versions_response(request, principal, organization, listing, status=status, version_form=form)


@require_POST
@vendor_portal
def artifact_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID):
    listing = _listing_or_404(principal, organization, slug)
    version = get_object_or_404(
        Version.objects.filter(listing=listing).select_related("listing__vendor"), public_id=public_id
    )
    form = ArtifactForm(request.POST, request.FILES, prefix=f"artifact-{version.public_id}")
    status = 400
    if form.is_valid():
        try:
            artifact = artifact_add(
                version=version, actor=principal, kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"]
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
            status = exc.status_code
        else:
            return _done(
                request,
                f"{artifact.filename} is uploaded to version {version.version} (SHA-256 {artifact.sha256[:12]}…).",
                _url("storefront:portal-versions", listing, f"#version-{version.public_id}"),
            )
    return _versions_response(
        request, principal, organization, listing, status=status, artifact=(version.public_id, form)
    )


# --- documents, logo and screenshots -------------------------------------------------------------


def _documents_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    *,
    status: int = 200,
    bound: Any = None,
    error: str = "",
) -> HttpResponse:
    context = _editor_context(principal, organization, listing, "documents")
    can_add = context["can_add"]
    can_edit = context["can_edit"]

    def form_for(form_class: type) -> Any:
        if isinstance(bound, form_class):
            return bound
        return form_class() if can_add else None

    # A live listing's logo and screenshots change through a revision (see the revision page).
    media_editable = context["editable"]
    document_form = form_for(DocumentForm)
    logo_form = form_for(LogoForm) if media_editable else None
    screenshot_form = form_for(ScreenshotForm) if media_editable else None
    context.update(
        {
            "documents": documents_visible_to(listing=listing, principal=principal),
            "screenshots": [
                {
                    "url": screenshot.file.url,
                    "label": screenshot.caption or screenshot.filename,
                    "remove_url": reverse(
                        "storefront:portal-screenshot-remove",
                        kwargs={"slug": listing.slug, "public_id": screenshot.public_id},
                    )
                    if media_editable
                    else "",
                }
                for screenshot in listing.screenshots.all()
            ],
            "document_form": document_form,
            "document_summary": error_summary(document_form),
            "logo_form": logo_form,
            "logo_summary": error_summary(logo_form),
            "screenshot_form": screenshot_form,
            "screenshot_summary": error_summary(screenshot_form),
            "can_remove_documents": can_edit and listing.status not in (S.RETIRED, S.IN_REVIEW),
            "error": error,
        }
    )
    return render(request, "storefront/portal/documents.html", context, status=_status(request, status))


@vendor_portal
def documents_page(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    return _documents_response(request, principal, organization, _listing_or_404(principal, organization, slug))


def _submit_upload(
    request: HttpRequest,
    form: Any,
    call: Callable[[dict[str, Any]], Any],
    *,
    notice: Callable[[Any], str],
    url: str,
    again: Callable[[int], HttpResponse],
) -> HttpResponse:
    """Run an upload form's service: on success a notice and a redirect to `url`; otherwise the
    page again (`again(status)`) with the form's errors, the service's named by field."""
    status = 400
    if form.is_valid():
        try:
            result = call(form.cleaned_data)
        except ApplicationError as exc:
            add_service_error(form, exc)
            status = exc.status_code
        else:
            return _done(request, notice(result), url)
    return again(status)


def _upload(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    form: Any,
    call: Callable[[dict[str, Any]], Any],
    notice: Callable[[Any], str],
    anchor: str,
) -> HttpResponse:
    return _submit_upload(
        request,
        form,
        call,
        notice=notice,
        url=_url("storefront:portal-documents", listing, anchor),
        again=lambda status: _documents_response(request, principal, organization, listing, status=status, bound=form),
    )


@require_POST
@vendor_portal
def document_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    return _upload(
        request,
        principal,
        organization,
        listing,
        DocumentForm(request.POST, request.FILES),
        lambda data: document_add(
            listing=listing,
            actor=principal,
            kind=data["kind"],
            title=data["title"],
            visibility=data["visibility"],
            upload=data["file"],
        ),
        lambda document: f"{document.title} ({document.filename}) is uploaded.",
        "#documents",
    )


@require_POST
@vendor_portal
def document_remove_view(
    request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID
):
    listing = _listing_or_404(principal, organization, slug)
    document = get_object_or_404(
        Document.objects.filter(listing=listing).select_related("listing__vendor"), public_id=public_id
    )
    if listing.status == S.RETIRED:
        return _documents_response(
            request, principal, organization, listing, status=409, error="A retired listing cannot change."
        )
    try:
        document_remove(document=document, actor=principal)
    except ApplicationError as exc:
        return _documents_response(request, principal, organization, listing, status=exc.status_code, error=exc.message)
    return _done(request, f"{document.title} is removed.", _url("storefront:portal-documents", listing, "#documents"))


@require_POST
@vendor_portal
def logo_upload(request: HttpRequest, principal: Principal, organization: Organization, slug: str) -> HttpResponse:
    listing = _listing_or_404(principal, organization, slug)
    if listing.status == S.RETIRED:
        return _documents_response(
            request, principal, organization, listing, status=409, error="A retired listing cannot change."
        )
    return _upload(
        request,
        principal,
        organization,
        listing,
        LogoForm(request.POST, request.FILES),
        lambda data: listing_set_logo(listing=listing, actor=principal, upload=data["file"]),
        lambda listing: "The logo is uploaded.",
        "#logo",
    )


@require_POST
@vendor_portal
def screenshot_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    if listing.status == S.RETIRED:
        return _documents_response(
            request, principal, organization, listing, status=409, error="A retired listing cannot change."
        )
    return _upload(
        request,
        principal,
        organization,
        listing,
        ScreenshotForm(request.POST, request.FILES),
        lambda data: screenshot_add(listing=listing, actor=principal, caption=data["caption"], upload=data["file"]),
        lambda screenshot: f"The screenshot {screenshot.caption or screenshot.filename} is uploaded.",
        "#screenshots",
    )


@require_POST
@vendor_portal
def screenshot_remove_view(
    request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID
):
    listing = _listing_or_404(principal, organization, slug)
    screenshot = get_object_or_404(listing.screenshots.select_related("listing__vendor"), public_id=public_id)
    try:
        screenshot_remove(screenshot=screenshot, actor=principal)
    except ApplicationError as exc:
        return _documents_response(request, principal, organization, listing, status=exc.status_code, error=exc.message)
    label = screenshot.caption or screenshot.filename
    return _done(
        request, f"The screenshot {label} is removed.", _url("storefront:portal-documents", listing, "#screenshots")
    )


# --- a revision's logo and screenshots -------------------------------------------------------------


def _revision_media_upload(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    slug: str,
    form_class: type,
    call: Callable[[ListingRevision, dict[str, Any]], Any],
    notice: str,
) -> HttpResponse:
    listing = _listing_or_404(principal, organization, slug)
    revision = _revision_or_404(principal, listing)
    form = form_class(request.POST, request.FILES)
    return _submit_upload(
        request,
        form,
        lambda data: call(revision, data),
        notice=lambda _: notice,
        url=_url("storefront:portal-revision", listing, "#revision-media"),
        again=lambda status: _revision_response(
            request, principal, organization, listing, status=_status(request, status), bound=form
        ),
    )


@require_POST
@vendor_portal
def revision_logo(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    return _revision_media_upload(
        request,
        principal,
        organization,
        slug,
        LogoForm,
        lambda revision, data: revision_set_logo(revision=revision, actor=principal, upload=data["file"]),
        "The new logo is in the revision; the store shows it once the revision is approved.",
    )


@require_POST
@vendor_portal
def revision_screenshot_new(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    return _revision_media_upload(
        request,
        principal,
        organization,
        slug,
        ScreenshotForm,
        lambda revision, data: revision_screenshot_add(
            revision=revision, actor=principal, caption=data["caption"], upload=data["file"]
        ),
        "The screenshot is in the revision; the store shows it once the revision is approved.",
    )


@require_POST
@vendor_portal
def revision_screenshot_remove_view(
    request: HttpRequest, principal: Principal, organization: Organization, slug: str, public_id: UUID
):
    listing = _listing_or_404(principal, organization, slug)
    revision = _revision_or_404(principal, listing)
    try:
        revision_screenshot_remove(revision=revision, actor=principal, screenshot_id=str(public_id))
    except ApplicationError as exc:
        return _revision_response(request, principal, organization, listing, status=exc.status_code, error=exc.message)
    return _done(
        request,
        "The revision no longer shows this screenshot; the store keeps it until the revision is approved.",
        _url("storefront:portal-revision", listing, "#revision-media"),
    )


# --- review: submit and retire --------------------------------------------------------------------


def _retire_form(data: Any = None) -> ReasonForm:
    form = ReasonForm(data, prefix="retire", required=False)
    form.fields["reason"].help_text = "Kept with the listing's history. Never patient data."
    return form


def _review_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    listing: Listing,
    *,
    status: int = 200,
    summary: list[dict[str, str]] | None = None,
    error: str = "",
    retire_form: ReasonForm | None = None,
) -> HttpResponse:
    context = _editor_context(principal, organization, listing, "review")
    context.update(
        {
            "summary": summary or [],
            "error": error,
            "can_submit": context["editable"],
            "can_retire": context["is_admin"] and listing.status in LIVE,
            "retire_form": retire_form or _retire_form(),
            "unverified": not organization.is_verified,
            "offering_count": listing.offerings.filter(is_active=True).count(),
            "plan_count": Plan.objects.filter(
                offering__listing=listing, offering__is_active=True, is_active=True
            ).count(),
            "document_count": listing.documents.count(),
            "version_count": listing.versions.count(),
        }
    )
    return render(request, "storefront/portal/review.html", context, status=status)


@vendor_portal
def review_page(request: HttpRequest, principal: Principal, organization: Organization, slug: str) -> HttpResponse:
    return _review_response(request, principal, organization, _listing_or_404(principal, organization, slug))


@require_POST
@vendor_portal
def listing_submit_view(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    try:
        listing = listing_submit(listing=listing, actor=principal)
    except ApplicationError as exc:
        summary = []
        for field, texts in exc.fields.items():
            name, anchor, label = REVIEW_FIELDS.get(field, ("storefront:portal-listing", "", field))
            summary += [{"href": _url(name, listing, anchor), "text": f"{label}: {text}"} for text in texts]
        error = "" if exc.fields else exc.message
        return _review_response(
            request, principal, organization, listing, status=exc.status_code, summary=summary, error=error
        )
    return _done(
        request,
        f"{listing.name} is submitted for review: the platform's operators check it, then publish it or ask "
        "for changes. It cannot be edited meanwhile.",
        _url("storefront:portal-review", listing),
    )


@require_POST
@vendor_portal
def listing_retire_view(request: HttpRequest, principal: Principal, organization: Organization, slug: str):
    listing = _listing_or_404(principal, organization, slug)
    if not principal.has_role(Role.ADMIN):
        return forbidden(request, f"Only admins of {organization.name} retire listings.")
    form = _retire_form(request.POST)
    if not form.is_valid():
        return _review_response(request, principal, organization, listing, status=400, retire_form=form)
    try:
        listing = listing_retire(listing=listing, actor=principal, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        return _review_response(request, principal, organization, listing, status=exc.status_code, error=exc.message)
    return _done(
        request,
        f"{listing.name} is retired: it has left the store for good.",
        _url("storefront:portal-review", listing),
    )
