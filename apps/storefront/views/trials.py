"""Trials and deployments of the organization a person acts for.

Providers see the trials they requested; vendors see the requests for their apps (an inbox with
approve and decline). A trial page shows its deployment's progress and refreshes a partial by
htmx polling while something is moving (or while the vendor's decision is awaited), and stops
once it settles. Every lookup starts from the procurement and provisioning selectors, so another
organization's trial or deployment is a 404. The services decide who may do what; their errors
are shown on the page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_POST

from apps.catalog.models import Plan
from apps.organizations.models import Organization
from apps.procurement.models import Trial
from apps.procurement.selectors import trials_visible_to
from apps.procurement.services import terms_required, trial_approve, trial_cancel, trial_convert, trial_decline
from apps.provisioning.models import Deployment, DeploymentStep
from apps.provisioning.selectors import deployments_visible_to
from apps.provisioning.services import deployment_retry
from apps.storefront.forms import TrialConvertForm, TrialDeclineForm, add_service_error, error_summary
from apps.storefront.views.organization import acting_organization
from marketplace.errors import ApplicationError
from marketplace.principal import Principal, Role, get_principal
from marketplace.tenancy import party_side

PAGE_SIZE = 25
INBOX_LIMIT = 100
D = Deployment.Status
# While these run, the page polls quickly; a decision people make takes longer, so the page asks
# less often while the vendor has not answered.
MOVING = (D.PENDING, D.PROVISIONING, D.DEPROVISIONING)
POLL_MOVING = "every 2s"
POLL_AWAITING_DECISION = "every 5s"


def _page(request: HttpRequest, queryset: Any, parameter: str) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(parameter))


def _trial_or_404(principal: Principal, public_id: UUID) -> Trial:
    return get_object_or_404(trials_visible_to(principal=principal), public_id=public_id)


# --- the list and the vendor's inbox ------------------------------------------------------


def _trials_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    *,
    status: int = 200,
    decline: tuple[UUID, TrialDeclineForm] | None = None,
    error: str = "",
) -> HttpResponse:
    visible = trials_visible_to(principal=principal)
    requested = _page(request, visible.filter(provider=organization), "page") if organization.is_provider else None
    incoming = visible.filter(vendor=organization) if organization.is_vendor else None
    inbox = []
    if incoming is not None:
        for trial in incoming.filter(status=Trial.Status.REQUESTED).order_by("created_at")[:INBOX_LIMIT]:
            form = (
                decline[1]
                if decline and decline[0] == trial.public_id
                else TrialDeclineForm(prefix=str(trial.public_id))
            )
            inbox.append({"trial": trial, "decline_form": form, "decline_open": form.is_bound})
    context = {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "can_act": principal.has_role(Role.MEMBER),
        "requested": requested,
        "inbox": inbox,
        "inbox_limit": INBOX_LIMIT,
        "incoming": _page(request, incoming, "incoming_page") if incoming is not None else None,
        "section": "trials",
        "nav": "organization",
        "notice": "",
        "error": error,
    }
    return render(request, "storefront/organization/trials.html", context, status=status)


@acting_organization
def trials_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    return _trials_response(request, principal, organization)


# --- one trial ----------------------------------------------------------------------------


def _poll_trigger(trial: Trial, deployment: Deployment | None) -> str:
    """The hx-trigger of the live region: empty once nothing will change by itself."""
    if deployment is not None and deployment.status in MOVING:
        return POLL_MOVING
    if trial.status == Trial.Status.REQUESTED:
        return POLL_AWAITING_DECISION
    return ""


def _current_step(deployment: Deployment, steps: dict[str, list[DeploymentStep]]) -> DeploymentStep | None:
    """The step running now, else the one up next: the deployment's `current_step` names the
    step last claimed, which may be done already while the next waits for a worker."""
    phase = (
        DeploymentStep.Phase.DEPROVISION if deployment.status == D.DEPROVISIONING else DeploymentStep.Phase.PROVISION
    )
    todo = [step for step in steps[phase] if step.status != DeploymentStep.Status.DONE]
    running = [step for step in todo if step.status == DeploymentStep.Status.RUNNING]
    return (running or todo or [None])[0]


def _live_context(principal: Principal, trial: Trial) -> dict[str, Any]:
    deployment = None
    if trial.deployment_id:
        deployment = deployments_visible_to(principal=principal).filter(pk=trial.deployment_id).first()
    steps: dict[str, list[DeploymentStep]] = {DeploymentStep.Phase.PROVISION: [], DeploymentStep.Phase.DEPROVISION: []}
    for step in deployment.steps.all() if deployment is not None else ():
        steps.setdefault(step.phase, []).append(step)
    moving = deployment is not None and deployment.status in MOVING
    current = _current_step(deployment, steps) if moving else None
    side = party_side(trial, principal)
    member = principal.has_role(Role.MEMBER)
    return {
        "trial": trial,
        "deployment": deployment,
        "provision_steps": steps[DeploymentStep.Phase.PROVISION],
        "deprovision_steps": steps[DeploymentStep.Phase.DEPROVISION],
        "current_step": current,
        "moving": moving,
        "poll": _poll_trigger(trial, deployment),
        "side": side,
        "can_retry": deployment is not None
        and deployment.status == D.FAILED
        and trial.status in Trial.OPEN
        and (principal.is_operator or (side is not None and member)),
    }


def _trial_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    trial: Trial,
    *,
    status: int = 200,
    decline_form: TrialDeclineForm | None = None,
    convert_form: TrialConvertForm | None = None,
    error: str = "",
) -> HttpResponse:
    live = _live_context(principal, trial)
    member = principal.has_role(Role.MEMBER)
    context = {
        **live,
        **_buy_context(principal, trial, convert_form),
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "can_decide": live["side"] == "vendor" and member and trial.status == Trial.Status.REQUESTED,
        "can_cancel": live["side"] == "provider" and member and trial.status in Trial.OPEN,
        "decline_form": decline_form or TrialDeclineForm(),
        "decline_open": decline_form is not None,
        "section": "trials",
        "nav": "organization",
        "notice": "",
        "error": error,
    }
    return render(request, "storefront/organization/trial.html", context, status=status)


def _buy_context(principal: Principal, trial: Trial, form: TrialConvertForm | None) -> dict[str, Any]:
    """What the provider sees about buying: admins buy an active trial's list-priced plan here
    (the running deployment moves to the subscription); otherwise a link requests a quote that
    follows the trial; once converted, a link to what it became."""
    provider_member = party_side(trial, principal) == "provider" and principal.has_role(Role.MEMBER)
    list_priced = trial.plan.pricing_model != Plan.PricingModel.QUOTE_ONLY
    can_convert = (
        provider_member and principal.has_role(Role.ADMIN) and trial.status == Trial.Status.ACTIVE and list_priced
    )
    if can_convert and form is None:
        form = TrialConvertForm(terms=terms_required(trial.listing))
    order = getattr(trial, "order", None)
    return {
        "can_convert": can_convert,
        "convert_form": form if can_convert else None,
        "convert_summary": error_summary(form) if can_convert else [],
        "convert_needs_admin": provider_member
        and not can_convert
        and trial.status == Trial.Status.ACTIVE
        and list_priced,
        "quote_url": reverse("storefront:listing", kwargs={"slug": trial.listing.slug})
        + f"?trial={trial.public_id}#request-quote"
        if provider_member and trial.status in Trial.OPEN and not can_convert
        else "",
        "order": order,
        "subscription": getattr(order, "subscription", None) if order is not None else None,
    }


@acting_organization
def trial_page(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    return _trial_response(request, principal, organization, _trial_or_404(principal, public_id))


def trial_live(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The live region alone, for htmx polling; it carries its own hx-trigger only while
    something is still moving, so polling stops when the trial settles.

    When the poll cannot be answered with the region (signed out meanwhile, switched to another
    organization), htmx is told to reload the page, which then says why; swapping a sign-in page
    or an error into the region would be wrong."""
    if not request.htmx:
        return redirect("storefront:trial", public_id=public_id)
    principal = get_principal(request) if request.user.is_authenticated else None
    trial = trials_visible_to(principal=principal).filter(public_id=public_id).first() if principal else None
    if trial is None:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    response = render(request, "storefront/organization/_trial_live.html", _live_context(principal, trial))
    add_never_cache_headers(response)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _back(request: HttpRequest, trial: Trial) -> HttpResponse:
    """After an action: back to the inbox when it came from there, else to the trial page."""
    if request.POST.get("from") == "inbox":
        return redirect("storefront:organization-trials")
    return redirect("storefront:trial", public_id=trial.public_id)


@require_POST
@acting_organization
def trial_approve_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    trial = _trial_or_404(principal, public_id)
    try:
        trial = trial_approve(trial=trial, actor=principal)
    except ApplicationError as exc:
        return _trial_response(request, principal, organization, trial, status=exc.status_code, error=exc.message)
    messages.success(
        request, f"The trial of {trial.listing.name} for {trial.provider.name} is approved; it is being set up."
    )
    return _back(request, trial)


@require_POST
@acting_organization
def trial_decline_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    trial = _trial_or_404(principal, public_id)
    from_inbox = request.POST.get("from") == "inbox"
    form = TrialDeclineForm(request.POST, prefix=str(trial.public_id) if from_inbox else None)
    if form.is_valid():
        try:
            trial = trial_decline(trial=trial, actor=principal, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            for name, texts in exc.fields.items():
                for text in texts:
                    form.add_error(name if name in form.fields else None, text)
            if not exc.fields:
                form.add_error(None, exc.message)
            status = exc.status_code
        else:
            messages.success(request, f"The trial of {trial.listing.name} for {trial.provider.name} is declined.")
            return _back(request, trial)
    else:
        status = 400
    if from_inbox:
        return _trials_response(request, principal, organization, status=status, decline=(trial.public_id, form))
    return _trial_response(request, principal, organization, trial, status=status, decline_form=form)


@require_POST
@acting_organization
def trial_cancel_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    trial = _trial_or_404(principal, public_id)
    try:
        trial = trial_cancel(trial=trial, actor=principal, reason=request.POST.get("reason", "")[:2000])
    except ApplicationError as exc:
        return _trial_response(request, principal, organization, trial, status=exc.status_code, error=exc.message)
    messages.success(request, f"The trial of {trial.listing.name} is cancelled; what was set up is being removed.")
    return redirect("storefront:trial", public_id=trial.public_id)


@require_POST
@acting_organization
def trial_retry_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    trial = _trial_or_404(principal, public_id)
    deployment = (
        deployments_visible_to(principal=principal).filter(pk=trial.deployment_id).first()
        if trial.deployment_id
        else None
    )
    if deployment is None:
        return _trial_response(
            request, principal, organization, trial, status=409, error="Nothing has been set up for this trial yet."
        )
    try:
        deployment_retry(deployment=deployment, actor=principal)
    except ApplicationError as exc:
        return _trial_response(request, principal, organization, trial, status=exc.status_code, error=exc.message)
    messages.success(request, "Setting up starts again from the step that failed.")
    return redirect("storefront:trial", public_id=trial.public_id)


@require_POST
@acting_organization
def trial_convert_view(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    """A provider admin buys the trial's plan, accepting the listing's terms; the subscription's
    page follows (its deployment is the trial's, still running)."""
    trial = _trial_or_404(principal, public_id)
    form = TrialConvertForm(request.POST, terms=terms_required(trial.listing))
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = trial_convert(
                trial=trial,
                actor=principal,
                accepted_terms=data["accepted_terms"],
                purchase_order_number=data["purchase_order_number"],
            )
        except ApplicationError as exc:
            if not exc.fields:
                fresh = _trial_or_404(principal, public_id)
                return _trial_response(
                    request, principal, organization, fresh, status=exc.status_code, error=exc.message
                )
            status = exc.status_code
            add_service_error(form, exc)
        else:
            messages.success(request, f"Bought: {trial.listing.name} keeps running under your new subscription.")
            return redirect("storefront:subscription", public_id=order.subscription.public_id)
    return _trial_response(request, principal, organization, trial, status=status, convert_form=form)


# --- deployments --------------------------------------------------------------------------


@acting_organization
def deployments_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    """Every deployment the organization is a party to, as provider or as vendor."""
    deployments = deployments_visible_to(principal=principal).select_related("trial", "entitlement")
    page = _page(request, deployments, "page")
    rows = []
    for deployment in page:
        trial = getattr(deployment, "trial", None)  # absent for deployments of orders
        entitlement = getattr(deployment, "entitlement", None)  # absent for trials not (yet) bought
        rows.append(
            {
                "deployment": deployment,
                "side": party_side(deployment, principal),
                # A trial's page shows its deployment; one that serves a subscription has its own page.
                "trial_url": reverse("storefront:trial", kwargs={"public_id": trial.public_id})
                if trial and entitlement is None
                else "",
                "url": reverse("storefront:deployment", kwargs={"public_id": deployment.public_id}),
                "subscription": entitlement.subscription if entitlement is not None else None,
            }
        )
    context = {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "page": page,
        "rows": rows,
        "section": "deployments",
        "nav": "organization",
    }
    return render(request, "storefront/organization/deployments.html", context)
