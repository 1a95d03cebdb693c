"""The page an invitation e-mail links to: accept, or sign in / create the account and accept."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters

from apps.accounts.services import user_sign_up
from apps.organizations.models import Invitation
from apps.organizations.principals import ACTIVE_ORGANIZATION_SESSION_KEY
from apps.organizations.services import invitation_accept, invitation_by_token
from apps.storefront.forms import InvitationSignInForm, InvitationSignUpForm, add_service_error
from apps.storefront.views.accounts import SignInRefused, authenticate_with_lockout, sign_in
from marketplace.errors import ApplicationError
from marketplace.principal import Principal, PrincipalKind, get_principal


def _person(user: Any) -> Principal:
    """The person who has just proven who they are on this page, acting for themselves (they
    are not signed in yet, so the request's principal is still anonymous)."""
    return Principal(kind=PrincipalKind.MEMBER, label=user.email, user=user)


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = invitation.organization.slug
    messages.success(request, f"Welcome to {invitation.organization.name}.")
    return redirect("storefront:organization")


@sensitive_post_parameters("password", "password1", "password2")
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_by_token(token=token)
    if invitation is None:
        return render(request, "storefront/invitations/invalid.html", status=404)
    user = request.user
    is_pending = invitation.status == Invitation.Status.PENDING
    account_exists = (
        not user.is_authenticated and get_user_model()._default_manager.filter(email__iexact=invitation.email).exists()
    )
    context: dict[str, Any] = {
        "invitation": invitation,
        "token": token,
        "is_pending": is_pending,
        "account_exists": account_exists,
        "is_invitee": user.is_authenticated and user.email.lower() == invitation.email.lower(),
        "signup_form": InvitationSignUpForm(),
        "signin_form": InvitationSignInForm(),
        "error": "",
    }
    if request.method != "POST":
        return render(request, "storefront/invitations/detail.html", context)

    action = request.POST.get("action")
    status = 400
    try:
        if action == "accept" and user.is_authenticated:
            invitation_accept(token=token, user=user, actor=get_principal(request))
            return _joined(request, invitation)
        if action == "signup" and not user.is_authenticated and not account_exists:
            form = context["signup_form"] = InvitationSignUpForm(request.POST)
            if form.is_valid():
                try:
                    # One transaction: a failed acceptance leaves no account behind.
                    with transaction.atomic():
                        person = user_sign_up(
                            email=invitation.email,
                            password=form.cleaned_data["password1"],
                            full_name=form.cleaned_data["full_name"],
                        )
                        invitation_accept(token=token, user=person, actor=_person(person))
                except ApplicationError as exc:
                    add_service_error(form, exc)
                else:
                    sign_in(request, person)
                    return _joined(request, invitation)
        elif action == "signin" and not user.is_authenticated and account_exists:
            form = context["signin_form"] = InvitationSignInForm(request.POST)
            if form.is_valid():
                try:
                    person = authenticate_with_lockout(
                        request, email=invitation.email, password=form.cleaned_data["password"]
                    )
                except SignInRefused as exc:
                    form.add_error(None, exc.message)
                    status = exc.status
                else:
                    # Accepting confirms the address: the invitation link proves it.
                    invitation_accept(token=token, user=person, actor=_person(person))
                    sign_in(request, person)
                    return _joined(request, invitation)
        else:
            context["error"] = "This action is not available here."
    except ApplicationError as exc:
        context["error"] = exc.message
    return render(request, "storefront/invitations/detail.html", context, status=status)
