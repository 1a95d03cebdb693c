"""On premise and vendor fulfillment in the store.

- Sites: each site's enrollment tokens (admins make them; the token is shown once, in the answer
  that made it) and its site agents (every member reads them).
- Deployments: which target runs one; for on-premise and hybrid ones the provider's members
  download the installation bundle (for an air-gapped site) and upload the receipt its agent
  wrote; both parties read what the agents reported.
- Per offering of the vendor's listings (linked from "My listings"), its fulfillment settings:
  how it is deployed, the vendor's endpoint, and the signing secret (shown once, when made).

Lookups start from the acting organization's selectors, so another organization's object is a
404; the services decide who may do what and their errors are shown next to the fields."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from apps.catalog.models import Offering
from apps.catalog.selectors import listings_visible_to
from apps.catalog.services import PROVISIONERS_BY_MODE, offering_set_fulfillment
from apps.organizations.models import Organization, Site
from apps.organizations.selectors import organization_sites
from apps.provisioning.agents import agent_revoke, receipt_accept
from apps.provisioning.backends import backend_names
from apps.provisioning.models import AgentReport, Deployment, EnrollmentToken, SiteAgent
from apps.provisioning.onprem import BUNDLE_STATUSES, bundle_for_provider, enrollment_token_issue
from apps.provisioning.selectors import deployments_visible_to
from apps.storefront.forms import FulfillmentSettingsForm, ReceiptForm, add_service_error, error_summary
from apps.storefront.views import buying
from apps.storefront.views.organization import _done, _sites_response, acting_organization, admin_only, forbidden
from marketplace.errors import ApplicationError, Forbidden, NotFound
from marketplace.principal import Principal, Role
from marketplace.tenancy import party_side

# The provisioner backends in words, and what each does (the vendor chooses one per offering).
PROVISIONER_LABELS = {
    "sandbox": "Sandbox (simulated)",
    "vendor": "Vendor's cloud",
    "site_agent": "Site agent (on premise)",
    "hybrid": "Hybrid",
}
PROVISIONER_DESCRIPTIONS = {
    "sandbox": "nothing is installed; the steps are simulated, for demos and tests.",
    "vendor": "the marketplace asks your fulfillment endpoint to set up a tenant in your cloud.",
    "site_agent": "the marketplace builds a signed bundle that the hospital's site agent installs on premise.",
    "hybrid": "your endpoint sets up the cloud part; the hospital's site agent installs the on-site part.",
}
ON_PREMISE_BACKENDS = ("site_agent", "hybrid")
TOKENS_PER_SITE = 10
REPORTS_SHOWN = 50


def provisioner_label(name: str) -> str:
    return PROVISIONER_LABELS.get(name, name.replace("_", " ").capitalize())


def enroll_command(token: str) -> str:
    return f"marketplace-agent enroll --server {settings.MARKETPLACE_BASE_URL} --token {token}"


# --- sites: enrollment tokens and agents ------------------------------------------------------


def site_agents_overview(*, principal: Principal, organization: Organization) -> list[dict[str, Any]]:
    """Per active site of the organization: its agents (every member), and its newest enrollment
    tokens (admins only, as in the API)."""
    sites = list(organization_sites(organization=organization))
    agents: dict[int, list[SiteAgent]] = {site.pk: [] for site in sites}
    for agent in SiteAgent.objects.filter(organization=organization, site__in=sites).order_by("-created_at"):
        agents[agent.site_id].append(agent)
    tokens: dict[int, list[EnrollmentToken]] = {site.pk: [] for site in sites}
    if principal.has_role(Role.ADMIN):
        now = timezone.now()
        for token in (
            EnrollmentToken.objects.filter(organization=organization, site__in=sites)
            .select_related("agent")
            .order_by("-created_at")
        ):
            if len(tokens[token.site_id]) < TOKENS_PER_SITE:
                token.is_expired = token.used_at is None and token.expires_at <= now
                tokens[token.site_id].append(token)
    return [{"site": site, "agents": agents[site.pk], "tokens": tokens[site.pk]} for site in sites]


@require_POST
@acting_organization
@admin_only
def enrollment_token_new(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    site = get_object_or_404(organization_sites(organization=organization), public_id=public_id)
    try:
        token, raw = enrollment_token_issue(site=site, actor=principal)
    except ApplicationError as exc:
        return _sites_response(request, principal, organization, status=exc.status_code, error=exc.message)
    # Shown in this answer only (never stored in clear, in the session or in a cache), so no
    # redirect, also without htmx.
    response = _sites_response(
        request,
        principal,
        organization,
        notice=f"An enrollment token for {site.name} is created.",
        new_token={"site": site, "token": token, "raw": raw, "command": enroll_command(raw)},
    )
    add_never_cache_headers(response)
    return response


@require_POST
@acting_organization
@admin_only
def site_agent_revoke(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    agent = get_object_or_404(SiteAgent.objects.select_related("site"), organization=organization, public_id=public_id)
    try:
        agent = agent_revoke(agent=agent, actor=principal)
    except ApplicationError as exc:
        return _sites_response(request, principal, organization, status=exc.status_code, error=exc.message)
    return _done(
        request,
        principal,
        organization,
        "storefront:organization-sites",
        f"{agent.name} at {agent.site.name} is revoked: its credential no longer works.",
        _sites_response,
    )


# --- deployments: the target, the bundle, receipts and agent reports ---------------------------


def deployment_onprem_context(
    *, principal: Principal, deployment: Deployment, receipt_form: ReceiptForm | None = None
) -> dict[str, Any]:
    """What the deployment page shows about the target running it and, on premise, the bundle,
    the receipt upload and what the site's agents reported."""
    side = party_side(deployment, principal)
    context: dict[str, Any] = {
        "deployment": deployment,
        "side": side,
        "target_label": provisioner_label(deployment.backend),
        "on_premise": deployment.backend in ON_PREMISE_BACKENDS,
    }
    if not context["on_premise"]:
        return context
    bundle = deployment.bundles.order_by("-created_at").first()
    provider_member = side == "provider" and principal.has_role(Role.MEMBER)
    can_download = provider_member and bundle is not None and deployment.status in BUNDLE_STATUSES
    # The form while the deployment waits for the agent, and with its errors after any upload.
    can_upload = (
        provider_member
        and bundle is not None
        and (
            deployment.status == Deployment.Status.AWAITING_AGENT
            or (receipt_form is not None and receipt_form.is_bound)
        )
    )
    if can_upload and receipt_form is None:
        receipt_form = ReceiptForm()
    reports = (
        AgentReport.objects.filter(bundle__deployment=deployment)
        .select_related("agent", "bundle")
        .order_by("-created_at", "-id")[:REPORTS_SHOWN]
    )
    context.update(
        {
            "bundle": bundle,
            "can_download": can_download,
            "receipt_form": receipt_form if can_upload else None,
            "receipt_summary": error_summary(receipt_form) if can_upload else [],
            "reports": list(reports),
            "air_gapped": deployment.site is not None
            and deployment.site.network_posture == Site.NetworkPosture.AIR_GAPPED,
        }
    )
    return context


def _deployment_or_404(principal: Principal, public_id: UUID) -> Deployment:
    return get_object_or_404(deployments_visible_to(principal=principal), public_id=public_id)


@acting_organization
def deployment_bundle_download(request: HttpRequest, principal: Principal, organization: Organization, public_id):
    """The installation bundle, streamed, for the provider's members only (it holds the site's
    one-time enrollment token); everyone else gets 404."""
    deployment = _deployment_or_404(principal, public_id)
    try:
        bundle = bundle_for_provider(deployment=deployment, actor=principal)
    except (Forbidden, NotFound):
        raise Http404("No bundle to download.") from None
    response = FileResponse(
        bundle.file.open("rb"), as_attachment=True, filename=bundle.filename, content_type="application/zip"
    )
    response["X-Checksum-SHA256"] = bundle.sha256
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@acting_organization
def deployment_receipt_upload(request: HttpRequest, principal: Principal, organization: Organization, public_id):
    deployment = _deployment_or_404(principal, public_id)
    if party_side(deployment, principal) != "provider" or not principal.has_role(Role.MEMBER):
        return forbidden(request, "Members of the provider organization upload receipts.")
    form = ReceiptForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        try:
            agent, bundle = receipt_accept(provider=organization, actor=principal, receipt=form.cleaned_data["receipt"])
        except ApplicationError as exc:
            add_service_error(form, exc, aliases={"receipt": form.receipt_field})
            status = exc.status_code
        else:
            # A receipt names its bundle: it may be another deployment's of this organization.
            target = bundle.deployment
            target.refresh_from_db()
            if target.status == Deployment.Status.ACTIVE:
                messages.success(
                    request,
                    f"Receipt accepted: {agent.name} at {bundle.site.name} installed "
                    f"{target.listing.name} {bundle.version}, and the deployment is active.",
                )
            else:
                messages.error(
                    request,
                    f"Receipt recorded, but {agent.name} did not install it: {target.failure_reason or target.status}",
                )
            return redirect("storefront:deployment", public_id=target.public_id)
    context = {
        **buying._base_context(principal, organization, "deployments"),
        **buying._deployment_live(principal, deployment),
        "error": "",
        "receipt_form": form,
    }
    return render(request, "storefront/organization/deployment.html", context, status=status)


# --- the fulfillment settings of the vendor's offerings -------------------------------------------


def _offering_or_404(principal: Principal, organization: Organization, public_id: UUID) -> Offering:
    """One of the acting vendor's own offerings (another organization's is a 404)."""
    return get_object_or_404(
        Offering.objects.select_related("listing", "listing__vendor").filter(
            listing__in=listings_visible_to(principal=principal).filter(vendor=organization)
        ),
        public_id=public_id,
    )


def _provisioner_choices(offering: Offering) -> list[tuple[str, str]]:
    fits = PROVISIONERS_BY_MODE.get(offering.mode, frozenset()) & set(backend_names())
    order = list(PROVISIONER_LABELS)
    names = sorted(fits, key=lambda name: order.index(name) if name in order else len(order))
    return [(name, f"{provisioner_label(name)} — {PROVISIONER_DESCRIPTIONS[name]}") for name in names]


def _fulfillment_form(offering: Offering, data: Any = None) -> FulfillmentSettingsForm:
    return FulfillmentSettingsForm(
        data,
        provisioners=_provisioner_choices(offering),
        with_url=offering.mode != Offering.Mode.ON_PREMISE,
        initial={"provisioner": offering.provisioner, "fulfillment_url": offering.fulfillment_url},
    )


def _fulfillment_response(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    offering: Offering,
    *,
    form: FulfillmentSettingsForm | None = None,
    new_secret: str = "",
    status: int = 200,
    error: str = "",
    notice: str = "",
) -> HttpResponse:
    is_admin = principal.has_role(Role.ADMIN)
    form = form or (_fulfillment_form(offering) if is_admin else None)
    context = {
        "organization": organization,
        "is_admin": is_admin,
        "offering": offering,
        "listing": offering.listing,
        "form": form,
        "summary": error_summary(form) if form is not None else [],
        "target_label": provisioner_label(offering.provisioner),
        "uses_endpoint": offering.mode != Offering.Mode.ON_PREMISE,
        "new_secret": new_secret,
        "previous_secret_until": offering.fulfillment_previous_secret_until,
        "error": error,
        "notice": notice,
        "section": "vendor-listings",
        "nav": "organization",
    }
    response = render(request, "storefront/organization/fulfillment/offering.html", context, status=status)
    if new_secret:
        add_never_cache_headers(response)  # the secret must not linger in any cache
    return response


@acting_organization
def offering_fulfillment_page(request: HttpRequest, principal: Principal, organization: Organization, public_id):
    offering = _offering_or_404(principal, organization, public_id)
    if request.method != "POST":
        return _fulfillment_response(request, principal, organization, offering)
    if not principal.has_role(Role.ADMIN):
        return forbidden(request, "Only admins of this organization change how its offerings are deployed.")
    form = _fulfillment_form(offering, request.POST)
    if form.is_valid():
        try:
            offering, secret = offering_set_fulfillment(
                offering=offering,
                actor=principal,
                provisioner=form.cleaned_data["provisioner"],
                fulfillment_url=form.cleaned_data.get("fulfillment_url") if "fulfillment_url" in form.fields else None,
                allowed_provisioners=backend_names(),
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
            return _fulfillment_response(request, principal, organization, offering, form=form, status=400)
        if secret:
            # Made now (the first endpoint): shown in this answer only, so no redirect.
            notice = f"The settings of {offering.name} are saved, and its signing secret is made."
            return _fulfillment_response(request, principal, organization, offering, new_secret=secret, notice=notice)
        messages.success(request, f"The settings of {offering.name} are saved.")
        return redirect("storefront:offering-fulfillment", public_id=offering.public_id)
    return _fulfillment_response(request, principal, organization, offering, form=form, status=400)


@require_POST
@acting_organization
@admin_only
def offering_secret_rotate(request: HttpRequest, principal: Principal, organization: Organization, public_id):
    offering = _offering_or_404(principal, organization, public_id)
    try:
        offering, secret = offering_set_fulfillment(
            offering=offering, actor=principal, rotate_secret=True, allowed_provisioners=backend_names()
        )
    except ApplicationError as exc:
        return _fulfillment_response(
            request, principal, organization, offering, status=exc.status_code, error=exc.message
        )
    notice = (
        "A new signing secret is made: requests to your endpoint are signed with it from now on, "
        "and with the previous one too for 24 hours."
    )
    return _fulfillment_response(request, principal, organization, offering, new_secret=secret, notice=notice)
