"""The organization a person acts for: create, switch, profile, members, invitations, sites and
API clients.

Every object is looked up from the acting organization's selectors, so another organization's
object is a 404. Admin actions answer htmx requests with the panel they change and other
requests with a redirect (or the page with the form's errors)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from apps.organizations.models import Invitation, Organization
from apps.organizations.principals import ACTIVE_ORGANIZATION_SESSION_KEY
from apps.organizations.selectors import (
    organization_api_clients,
    organization_invitations,
    organization_members,
    organization_sites,
    user_memberships,
)
from apps.organizations.services import (
    PARTNER_TERMS_VERSION,
    api_client_create,
    api_client_revoke,
    invitation_create,
    invitation_revoke,
    membership_change_role,
    membership_remove,
    organization_create,
    organization_update,
    site_archive,
    site_create,
)
from apps.storefront.forms import (
    ApiClientForm,
    InvitationForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationProfileForm,
    OrganizationSwitchForm,
    SiteForm,
    add_service_error,
)
from apps.storefront.views.accounts import safe_next
from marketplace.errors import ApplicationError
from marketplace.principal import Principal, Role, get_principal

OrganizationView = Callable[..., HttpResponse]


def acting_organization(view: OrganizationView) -> OrganizationView:
    """Pass the principal and the organization it acts for; people without one are sent to
    create one, operators to their console."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        principal = get_principal(request)
        if principal.organization is None:
            if principal.is_operator:
                messages.info(request, "Operators work in the operator console, not for an organization.")
                return redirect("storefront:home")
            messages.info(request, "Create an organization first, or accept an invitation to one.")
            return redirect("storefront:organization-create")
        return view(request, principal, principal.organization, *args, **kwargs)

    return wrapper


def forbidden(request: HttpRequest, message: str = "Only admins of this organization may do this.") -> HttpResponse:
    return render(request, "storefront/errors/403.html", {"message": message}, status=403)


def admin_only(view: OrganizationView) -> OrganizationView:
    """For admin actions: members get 403 before any form is read (the services check again)."""

    @wraps(view)
    def wrapper(request: HttpRequest, principal: Principal, organization: Organization, *args: Any, **kwargs: Any):
        if not principal.has_role(Role.ADMIN):
            return forbidden(request)
        return view(request, principal, organization, *args, **kwargs)

    return wrapper


# --- create and switch --------------------------------------------------------------------


@login_required
def organization_new(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                organization = organization_create(
                    user=request.user,
                    actor=get_principal(request),
                    name=data.pop("name"),
                    kind=data.pop("kind"),
                    **data,
                )
            except (ApplicationError, DjangoValidationError) as exc:
                add_service_error(form, exc)
            else:
                request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = organization.slug
                messages.success(request, f"{organization.name} is created; you are its admin.")
                return redirect("storefront:organization")
        status = 400
    return render(request, "storefront/organization/new.html", {"form": form}, status=status)


@login_required
@require_POST
def organization_switch(request: HttpRequest) -> HttpResponse:
    form = OrganizationSwitchForm(request.POST)
    membership = (
        user_memberships(user=request.user).filter(organization__slug=form.cleaned_data["organization"]).first()
        if form.is_valid()
        else None
    )
    if membership is None:
        messages.error(request, "You are not a member of that organization.")
        return redirect("storefront:home")
    request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization.slug
    messages.success(request, f"You now act for {membership.organization.name}.")
    return redirect(safe_next(request, "/"))


# --- profile ------------------------------------------------------------------------------


def _verification_status(organization: Organization) -> str:
    if not organization.is_vendor:
        return "not_applicable"
    if organization.is_verified:
        return "verified"
    details = (organization.legal_name, organization.registration_number, organization.contact_email)
    if all(details) and organization.partner_terms_accepted_at:
        return "pending"
    return "incomplete"


@acting_organization
def organization_profile(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    is_admin = principal.has_role(Role.ADMIN)
    form = None
    status = 200
    if is_admin:
        # A copy: the form writes into its instance while validating, and the page must keep
        # showing the saved values when the input is refused.
        form = OrganizationProfileForm(request.POST or None, instance=copy.copy(organization))
        if request.method == "POST":
            if form.is_valid():
                try:
                    organization_update(organization=organization, actor=principal, data=form.service_data())
                except (ApplicationError, DjangoValidationError) as exc:
                    add_service_error(form, exc)
                else:
                    messages.success(request, "The profile is saved.")
                    return redirect("storefront:organization")
            status = 400
    elif request.method == "POST":
        return forbidden(request)
    context = {
        "organization": organization,
        "is_admin": is_admin,
        "form": form,
        "section": "profile",
        "nav": "organization",
        "verification": _verification_status(organization),
        "terms_version": PARTNER_TERMS_VERSION,
    }
    return render(request, "storefront/organization/profile.html", context, status=status)


# --- members and invitations --------------------------------------------------------------


def _members_context(principal: Principal, organization: Organization, **extra: Any) -> dict[str, Any]:
    is_admin = principal.has_role(Role.ADMIN)
    members = list(organization_members(organization=organization))
    pending = (
        [
            invitation
            for invitation in organization_invitations(organization=organization)
            if invitation.status == Invitation.Status.PENDING
        ]
        if is_admin
        else []
    )
    context = {
        "organization": organization,
        "is_admin": is_admin,
        "me": principal.user,
        "members": members,
        "pending_invitations": pending,
        "invite_form": InvitationForm(),
        "role_choices": MemberRoleForm.base_fields["role"].choices,
        "section": "members",
        "nav": "organization",
        "notice": "",
        "error": "",
    }
    context.update(extra)
    return context


def _members_response(
    request: HttpRequest, principal: Principal, organization: Organization, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = _members_context(principal, organization, **extra)
    if request.htmx:
        # htmx swaps only 2xx answers; errors are shown inside the panel.
        return render(request, "storefront/organization/_members_panel.html", context)
    return render(request, "storefront/organization/members.html", context, status=status)


def _done(
    request: HttpRequest,
    principal: Principal,
    organization: Organization,
    page: str,
    notice: str,
    respond: Callable[..., HttpResponse],
) -> HttpResponse:
    if request.htmx:
        return respond(request, principal, organization, notice=notice)
    messages.success(request, notice)
    return redirect(page)


@acting_organization
def organization_members_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    return _members_response(request, principal, organization)


@require_POST
@acting_organization
@admin_only
def member_role(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    membership = get_object_or_404(organization_members(organization=organization), public_id=public_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_response(request, principal, organization, status=400, error="Choose a valid role.")
    try:
        membership = membership_change_role(membership=membership, role=form.cleaned_data["role"], actor=principal)
    except ApplicationError as exc:
        return _members_response(request, principal, organization, status=exc.status_code, error=exc.message)
    notice = f"{membership.user.email} is now {membership.get_role_display().lower()}."
    return _done(request, principal, organization, "storefront:organization-members", notice, _members_response)


@require_POST
@acting_organization
@admin_only
def member_remove(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    membership = get_object_or_404(organization_members(organization=organization), public_id=public_id)
    email = membership.user.email
    try:
        membership_remove(membership=membership, actor=principal)
    except ApplicationError as exc:
        return _members_response(request, principal, organization, status=exc.status_code, error=exc.message)
    notice = f"{email} is removed from {organization.name}."
    return _done(request, principal, organization, "storefront:organization-members", notice, _members_response)


@require_POST
@acting_organization
@admin_only
def invitation_new(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, _token = invitation_create(
                organization=organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=principal,
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            notice = f"Invitation sent to {invitation.email}."
            return _done(request, principal, organization, "storefront:organization-members", notice, _members_response)
    return _members_response(request, principal, organization, status=400, invite_form=form)


@require_POST
@acting_organization
@admin_only
def invitation_cancel(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    invitation = get_object_or_404(organization_invitations(organization=organization), public_id=public_id)
    try:
        invitation = invitation_revoke(invitation=invitation, actor=principal)
    except ApplicationError as exc:
        return _members_response(request, principal, organization, status=exc.status_code, error=exc.message)
    notice = f"The invitation for {invitation.email} is revoked."
    return _done(request, principal, organization, "storefront:organization-members", notice, _members_response)


# --- sites --------------------------------------------------------------------------------


def _sites_response(
    request: HttpRequest, principal: Principal, organization: Organization, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "organization": organization,
        "is_admin": principal.has_role(Role.ADMIN),
        "sites": list(organization_sites(organization=organization)) if organization.is_provider else [],
        "site_form": SiteForm(initial={"country": organization.country}),
        "section": "sites",
        "nav": "organization",
        "notice": "",
        "error": "",
        **extra,
    }
    if request.htmx:
        return render(request, "storefront/organization/_sites_panel.html", context)
    return render(request, "storefront/organization/sites.html", context, status=status)


@acting_organization
def organization_sites_page(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    return _sites_response(request, principal, organization)


@require_POST
@acting_organization
@admin_only
def site_new(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    form = SiteForm(request.POST)
    if form.is_valid():
        try:
            site = site_create(organization=organization, actor=principal, data=form.cleaned_data)
        except (ApplicationError, DjangoValidationError) as exc:
            add_service_error(form, exc)
        else:
            return _done(
                request,
                principal,
                organization,
                "storefront:organization-sites",
                f"{site.name} is added.",
                _sites_response,
            )
    return _sites_response(request, principal, organization, status=400, site_form=form)


@require_POST
@acting_organization
@admin_only
def site_remove(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    site = get_object_or_404(organization_sites(organization=organization), public_id=public_id)
    try:
        site = site_archive(site=site, actor=principal)
    except ApplicationError as exc:
        return _sites_response(request, principal, organization, status=exc.status_code, error=exc.message)
    return _done(
        request, principal, organization, "storefront:organization-sites", f"{site.name} is archived.", _sites_response
    )


# --- API clients --------------------------------------------------------------------------


def _api_clients_response(
    request: HttpRequest, principal: Principal, organization: Organization, *, status: int = 200, **extra: Any
) -> HttpResponse:
    is_admin = principal.has_role(Role.ADMIN)
    context = {
        "organization": organization,
        "is_admin": is_admin,
        # Admins only, as in the API (ApiClientViewSet.read_role).
        "clients": list(organization_api_clients(organization=organization)) if is_admin else [],
        "client_form": ApiClientForm(),
        "section": "api-clients",
        "nav": "organization",
        "notice": "",
        "error": "",
        "new_client": None,
        "new_secret": "",
        **extra,
    }
    if request.htmx:
        response = render(request, "storefront/organization/_api_clients_panel.html", context)
    else:
        response = render(request, "storefront/organization/api_clients.html", context, status=status)
    if context["new_secret"]:
        add_never_cache_headers(response)  # the secret must not linger in any cache
    return response


@acting_organization
def organization_api_clients_page(request: HttpRequest, principal: Principal, organization: Organization):
    return _api_clients_response(request, principal, organization)


@require_POST
@acting_organization
@admin_only
def api_client_new(request: HttpRequest, principal: Principal, organization: Organization) -> HttpResponse:
    form = ApiClientForm(request.POST)
    if form.is_valid():
        try:
            client, secret = api_client_create(
                organization=organization,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                actor=principal,
                created_by=request.user,
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            # Shown in this answer only (never stored in the session or shown again), so no
            # redirect even without htmx.
            return _api_clients_response(
                request,
                principal,
                organization,
                new_client=client,
                new_secret=secret,
                notice=f"The API client {client.name} is created.",
            )
    return _api_clients_response(request, principal, organization, status=400, client_form=form)


@require_POST
@acting_organization
@admin_only
def api_client_remove(request: HttpRequest, principal: Principal, organization: Organization, public_id: UUID):
    client = get_object_or_404(organization_api_clients(organization=organization), public_id=public_id)
    try:
        client = api_client_revoke(client=client, actor=principal)
    except ApplicationError as exc:
        return _api_clients_response(request, principal, organization, status=exc.status_code, error=exc.message)
    return _done(
        request,
        principal,
        organization,
        "storefront:organization-api-clients",
        f"The API client {client.name} is revoked; its tokens no longer work.",
        _api_clients_response,
    )
