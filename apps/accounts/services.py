"""Sign-up, e-mail confirmation, sign-in lock-out and ending sessions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from marketplace.errors import ValidationFailed
from marketplace.notifications import email_queue

CONFIRMATION_SALT = "accounts.email-confirmation"


def user_sign_up(*, email: str, password: str, full_name: str = "") -> User:
    """Create a person who must confirm the e-mail address before signing in.

    Raises ValidationFailed naming `email` (taken) or `password` (too weak)."""
    email = User.objects.normalize_email(email.strip()).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed.for_field("email", "An account with this e-mail address already exists.")
    candidate = User(email=email, full_name=full_name.strip())
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed("The password is too weak.", fields={"password": list(exc.messages)}) from None
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
        email_confirmation_send(user=user)
    return user


def email_confirmation_token(*, user: User) -> str:
    return signing.dumps({"user": str(user.public_id), "email": user.email}, salt=CONFIRMATION_SALT)


def email_confirmation_send(*, user: User) -> None:
    link = settings.MARKETPLACE_BASE_URL + reverse(
        "storefront:confirm-email", kwargs={"token": email_confirmation_token(user=user)}
    )
    email_queue(
        to=user.email,
        subject="Confirm your e-mail address",
        body=f"Welcome to the marketplace.\n\nConfirm your address to sign in:\n{link}\n\n"
        f"The link is valid for {settings.EMAIL_CONFIRMATION_MAX_AGE // 86400} days.",
    )


def user_confirm_email(*, token: str) -> User:
    """Mark the address confirmed. Raises ValidationFailed(token) when invalid or expired."""
    try:
        data = signing.loads(token, salt=CONFIRMATION_SALT, max_age=settings.EMAIL_CONFIRMATION_MAX_AGE)
        user = User.objects.get(public_id=data["user"], email=data["email"])
    except (signing.BadSignature, User.DoesNotExist, KeyError, ValueError):
        raise ValidationFailed.for_field("token", "This confirmation link is invalid or has expired.") from None
    if user.email_confirmed_at is None:
        user.email_confirmed_at = timezone.now()
        user.save(update_fields=["email_confirmed_at"])
    return user


def user_end_sessions(*, user: User) -> None:
    """End every session of this person at their next request."""
    user.session_stamp = uuid.uuid4()
    user.save(update_fields=["session_stamp"])


# --- sign-in lock-out ------------------------------------------------------------------


def _failure_key(email: str, address: str | None) -> str:
    return f"login-failures:{email.strip().lower()}:{address or '-'}"


def login_locked_for(*, email: str, address: str | None) -> int:
    """Seconds left of a lock-out for this e-mail address from this client address, or 0."""
    state = cache.get(_failure_key(email, address))
    if not state or state["count"] < settings.LOGIN_FAILURE_LIMIT:
        return 0
    remaining = int(state["until"] - timezone.now().timestamp())
    return max(remaining, 0)


def login_failed(*, email: str, address: str | None) -> None:
    key = _failure_key(email, address)
    state = cache.get(key) or {"count": 0}
    state["count"] += 1
    state["until"] = timezone.now().timestamp() + settings.LOGIN_LOCKOUT_SECONDS
    cache.set(key, state, settings.LOGIN_LOCKOUT_SECONDS)


def login_succeeded(*, email: str, address: str | None) -> None:
    cache.delete(_failure_key(email, address))
