"""Sign-up, e-mail confirmation, sign-in (with lock-out), sign-out and password change."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from apps.accounts.services import (
    email_confirmation_send,
    login_failed,
    login_locked_for,
    login_succeeded,
    user_confirm_email,
    user_sign_up,
)
from apps.organizations.selectors import user_memberships
from apps.storefront.forms import PasswordChangeForm, SignInForm, SignUpForm, add_service_error
from marketplace.errors import ApplicationError
from marketplace.middleware import client_address

# Set when the right password was given for an unconfirmed address: only that person may ask
# for the confirmation e-mail again, so the resend button cannot be used to spam anyone.
UNCONFIRMED_SESSION_KEY = "storefront_unconfirmed_user"
SIGNED_UP_SESSION_KEY = "storefront_signed_up_email"
RESEND_INTERVAL_SECONDS = 60
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class SignInRefused(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignInLocked(SignInRefused):
    status = 429

    def __init__(self, seconds: int) -> None:
        minutes = max(1, math.ceil(seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many failed sign-in attempts. Try again in {minutes} {unit}.")
        self.seconds = seconds


def safe_next(request: HttpRequest, fallback: str = "") -> str:
    """The `next` parameter when it points back into this site, else `fallback`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def authenticate_with_lockout(request: HttpRequest, *, email: str, password: str) -> Any:
    """The person with this e-mail address and password, counting failures per address and
    client. Raises SignInLocked while locked out and SignInRefused for wrong credentials."""
    email = email.strip().lower()
    address = client_address(request)
    locked = login_locked_for(email=email, address=address)
    if locked:
        raise SignInLocked(locked)
    user = authenticate(request, email=email, password=password)
    if user is None:
        login_failed(email=email, address=address)
        locked = login_locked_for(email=email, address=address)
        if locked:
            raise SignInLocked(locked)
        raise SignInRefused("The e-mail address or the password is wrong.")
    login_succeeded(email=email, address=address)
    return user


def sign_in(request: HttpRequest, user: Any) -> None:
    """Start a session for `user` under a new session key (login() does not rotate the key when
    the same person signs in again, so rotate explicitly)."""
    request.session.cycle_key()
    login(request, user, backend=MODEL_BACKEND)
    request.session.pop(UNCONFIRMED_SESSION_KEY, None)


# --- sign-up and confirmation -------------------------------------------------------------


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("storefront:home")
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = user_sign_up(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    full_name=form.cleaned_data["full_name"],
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                request.session[SIGNED_UP_SESSION_KEY] = user.email
                return redirect("storefront:signup-done")
        status = 400
    return render(request, "storefront/accounts/signup.html", {"form": form}, status=status)


def signup_done(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "storefront/accounts/signup_done.html",
        {
            "email": request.session.get(SIGNED_UP_SESSION_KEY, ""),
            "valid_days": settings.EMAIL_CONFIRMATION_MAX_AGE // 86400,
        },
    )


def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST confirms. Mail scanners that open links therefore neither use
    the link up nor get a session."""
    if request.method != "POST":
        return render(request, "storefront/accounts/confirm_email.html", {"token": token})
    started = timezone.now()
    try:
        user = user_confirm_email(token=token)
    except ApplicationError as exc:
        return render(
            request, "storefront/accounts/confirm_email.html", {"token": token, "error": exc.message}, status=400
        )
    if request.user.is_authenticated and request.user.pk == user.pk:
        messages.success(request, "Your e-mail address is confirmed.")
        return redirect("storefront:home")
    # Sign in only on the link's first use: the link stays valid for days and must not become
    # a reusable way into the account.
    newly_confirmed = user.email_confirmed_at is not None and user.email_confirmed_at >= started
    if not newly_confirmed or not user.is_active:
        messages.info(request, "Your e-mail address is already confirmed. Please sign in.")
        return redirect("storefront:login")
    sign_in(request, user)
    messages.success(request, "Your e-mail address is confirmed. Welcome!")
    if user_memberships(user=user).exists():
        return redirect("storefront:home")
    return redirect("storefront:organization-create")


# --- sign-in and sign-out -----------------------------------------------------------------


@sensitive_post_parameters("password")
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if request.method != "POST" and request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = SignInForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "next": next_url}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = authenticate_with_lockout(
                    request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
                )
            except SignInRefused as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                if not user.email_confirmed:
                    request.session[UNCONFIRMED_SESSION_KEY] = str(user.public_id)
                    context["unconfirmed_email"] = user.email
                    status = 403
                else:
                    sign_in(request, user)
                    return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    return render(request, "storefront/accounts/login.html", context, status=status)


@require_POST
def resend_confirmation(request: HttpRequest) -> HttpResponse:
    public_id = request.session.get(UNCONFIRMED_SESSION_KEY)
    user = (
        get_user_model()._default_manager.filter(public_id=public_id, email_confirmed_at__isnull=True).first()
        if public_id
        else None
    )
    if user is None:
        messages.info(request, "Sign in first; we then offer to send the confirmation e-mail again.")
        return redirect("storefront:login")
    if cache.add(f"storefront:confirmation-resent:{user.public_id}", 1, RESEND_INTERVAL_SECONDS):
        email_confirmation_send(user=user)
        request.session[SIGNED_UP_SESSION_KEY] = user.email
        messages.success(request, "We sent the confirmation e-mail again.")
    else:
        messages.info(request, "We sent one a moment ago; please wait a minute before asking again.")
    return redirect("storefront:signup-done")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request, reverse(settings.LOGOUT_REDIRECT_URL))
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect(next_url)


@login_required
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(user=request.user, data=request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            user = form.save()
            # Keeps this session; every other session of the person ends with the old password.
            update_session_auth_hash(request, user)
            messages.success(request, "Your password is changed.")
            return redirect("storefront:home")
        status = 400
    return render(request, "storefront/accounts/password_change.html", {"form": form}, status=status)
