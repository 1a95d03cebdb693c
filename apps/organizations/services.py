"""Writes for organizations, members, invitations, sites and API clients.

Every change runs in one transaction with its audit entry; e-mails and events go out on commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from oauth2_provider.generators import generate_client_id

from apps.accounts.models import User
from apps.accounts.services import user_end_sessions
from apps.organizations.models import ApiClient, Invitation, MemberRole, Membership, Organization, Site
from marketplace.audit import audit_record
from marketplace.errors import Conflict, Forbidden, ValidationFailed
from marketplace.events import event_emit
from marketplace.limits import daily_limit_check
from marketplace.notifications import email_queue
from marketplace.principal import Principal, Role

PARTNER_TERMS_VERSION = "2026-01"
PROFILE_FIELDS = ("name", "sector", "description", "country", "website", "partnership_offer", "kind")
VERIFICATION_FIELDS = ("legal_name", "registration_number", "contact_email")


def _require_admin(actor: Principal, organization: Organization) -> None:
    if actor.organization is None or actor.organization.pk != organization.pk or not actor.has_role(Role.ADMIN):
        raise Forbidden("Only admins of this organization may do this.")


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "organization"
    slug, counter = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


# --- organizations ------------------------------------------------------------------------


def organization_create(
    *, user: User, actor: Principal, name: str, kind: str, slug: str = "", **profile: Any
) -> Organization:
    """Create an organization; the person creating it becomes its admin."""
    if not user.email_confirmed:
        raise Forbidden("Confirm your e-mail address before creating an organization.", code="email_unconfirmed")
    with transaction.atomic():
        if slug and Organization.objects.filter(slug=slug).exists():
            raise ValidationFailed.for_field("slug", "This slug is taken.")
        organization = Organization(name=name.strip(), kind=kind, slug=slug or _unique_slug(name), **profile)
        organization.full_clean()
        try:
            with transaction.atomic():
                organization.save()
        except IntegrityError:
            raise ValidationFailed.for_field("slug", "This slug is taken.") from None
        membership = Membership.objects.create(user=user, organization=organization, role=MemberRole.ADMIN)
        audit_record(
            actor=actor,
            action="organizations.organization.created",
            target=organization,
            organization=organization,
            new={"name": organization.name, "kind": organization.kind, "sector": organization.sector},
        )
        audit_record(
            actor=actor,
            action="organizations.member.added",
            target=membership,
            organization=organization,
            new={"user": user.email, "role": membership.role},
        )
        event_emit(type="organization.created", subject=organization, organization=organization)
    return organization


def organization_update(*, organization: Organization, actor: Principal, data: dict[str, Any]) -> Organization:
    """Change the profile and (vendors) the verification details. Org admins only.

    `accept_partner_terms: true` records acceptance of the current partner terms. Changing
    verification details of a verified vendor sends it back to verification."""
    _require_admin(actor, organization)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for field in (*PROFILE_FIELDS, *VERIFICATION_FIELDS):
            if field in data and getattr(organization, field) != data[field]:
                old[field], new[field] = getattr(organization, field), data[field]
                setattr(organization, field, data[field])
        # Accepting the terms already accepted changes nothing: the recorded time stays that of
        # the first acceptance (setting it here without saving made the answer disagree with the row).
        if data.get("accept_partner_terms") and organization.partner_terms_version != PARTNER_TERMS_VERSION:
            old["partner_terms_version"] = organization.partner_terms_version
            new["partner_terms_version"] = PARTNER_TERMS_VERSION
            organization.partner_terms_version = PARTNER_TERMS_VERSION
            organization.partner_terms_accepted_at = timezone.now()
        if organization.verified_at and any(field in new for field in VERIFICATION_FIELDS):
            old["verified_at"], new["verified_at"] = organization.verified_at, None
            organization.verified_at = None
            organization.verified_by = None
        if not new:
            return organization
        organization.full_clean()
        organization.save()
        audit_record(
            actor=actor,
            action="organizations.organization.updated",
            target=organization,
            organization=organization,
            old=old,
            new=new,
        )
    return organization


def organization_verify(*, organization: Organization, actor: Principal) -> Organization:
    """An operator verifies an organization: a vendor before it may submit listings, a provider
    before it may see documents vendors share "on request". Idempotent.

    Raises ValidationFailed naming each missing verification detail."""
    if not actor.is_operator:
        raise Forbidden("Only operators verify organizations.")
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        if organization.verified_at:
            return organization
        missing = {
            field: ["Required before verification."]
            for field in VERIFICATION_FIELDS
            if not getattr(organization, field)
        }
        if organization.partner_terms_accepted_at is None:
            missing["accept_partner_terms"] = ["The partner terms must be accepted before verification."]
        if missing:
            raise ValidationFailed("The organization's verification details are incomplete.", fields=missing)
        organization.verified_at = timezone.now()
        organization.verified_by = actor.user
        organization.save(update_fields=["verified_at", "verified_by", "updated_at"])
        audit_record(
            actor=actor,
            action="organizations.organization.verified",
            target=organization,
            organization=organization,
            old={"verified": False},
            new={"verified": True},
        )
        event_emit(type="organization.verified", subject=organization, organization=organization)
    return organization


# --- members ------------------------------------------------------------------------------


def _other_admins_exist(membership: Membership) -> bool:
    return (
        Membership.objects.filter(organization_id=membership.organization_id, role=MemberRole.ADMIN)
        .exclude(pk=membership.pk)
        .exists()
    )


def membership_change_role(*, membership: Membership, role: str, actor: Principal) -> Membership:
    _require_admin(actor, membership.organization)
    if role not in MemberRole.values:
        raise ValidationFailed.for_field("role", f"Choose one of: {', '.join(MemberRole.values)}.")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("organization", "user").get(pk=membership.pk)
        if membership.role == role:
            return membership
        if membership.role == MemberRole.ADMIN and not _other_admins_exist(membership):
            raise Conflict("An organization needs at least one admin.", code="last_admin")
        old_role, membership.role = membership.role, role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            actor=actor,
            action="organizations.member.role_changed",
            target=membership,
            organization=membership.organization,
            old={"role": old_role},
            new={"role": role},
        )
    return membership


def membership_remove(*, membership: Membership, actor: Principal) -> None:
    """Remove a member and end their sessions, so nothing they had open keeps working."""
    _require_admin(actor, membership.organization)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("organization", "user").get(pk=membership.pk)
        if membership.role == MemberRole.ADMIN and not _other_admins_exist(membership):
            raise Conflict("An organization needs at least one admin.", code="last_admin")
        audit_record(
            actor=actor,
            action="organizations.member.removed",
            target=membership,
            organization=membership.organization,
            old={"user": membership.user.email, "role": membership.role},
        )
        user = membership.user
        membership.delete()
        user_end_sessions(user=user)


# --- invitations --------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(*, organization: Organization, email: str, role: str, actor: Principal) -> tuple[Invitation, str]:
    """Invite a person by e-mail. Returns the invitation and its one-time token (also e-mailed)."""
    _require_admin(actor, organization)
    email = email.strip().lower()
    if role not in MemberRole.values:
        raise ValidationFailed.for_field("role", f"Choose one of: {', '.join(MemberRole.values)}.")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict(
            "This person is already a member.", code="already_member", fields={"email": ["Already a member."]}
        )
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=organization.pk)  # the daily limit is exact
        daily_limit_check(
            name="invitations_per_day", recent=Invitation.objects.filter(organization=organization), what="invitations"
        )
        # A new invitation replaces any pending one for the same address.
        Invitation.objects.filter(
            organization=organization, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=_token_hash(token),
            invited_by=actor.user,
            expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
        )
        audit_record(
            actor=actor,
            action="organizations.invitation.created",
            target=invitation,
            organization=organization,
            new={"email": email, "role": role},
        )
        link = settings.MARKETPLACE_BASE_URL + reverse("storefront:invitation", kwargs={"token": token})
        email_queue(
            to=email,
            subject=f"You are invited to join {organization.name} on the marketplace",
            body=f"{actor.label} invited you to join {organization.name} as {role}.\n\n"
            f"Accept the invitation:\n{link}\n\nThe link is valid for {settings.INVITATION_VALID_DAYS} days.",
        )
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor: Principal) -> Invitation:
    _require_admin(actor, invitation.organization)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
        if invitation.revoked_at:
            return invitation
        if invitation.accepted_at:
            raise Conflict("This invitation was already accepted.", code="invalid_transition")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            actor=actor,
            action="organizations.invitation.revoked",
            target=invitation,
            organization=invitation.organization,
            new={"email": invitation.email},
        )
    return invitation


def invitation_by_token(*, token: str) -> Invitation | None:
    return Invitation.objects.select_related("organization").filter(token_hash=_token_hash(token)).first()


def invitation_accept(*, token: str, user: User, actor: Principal) -> Membership:
    """The invited person (signed in with the invited address) joins the organization."""
    with transaction.atomic():
        invitation = invitation_by_token(token=token)
        if invitation is None:
            raise ValidationFailed.for_field("token", "This invitation link is invalid.")
        invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
        if invitation.status == Invitation.Status.ACCEPTED and invitation.accepted_by_id == user.pk:
            return Membership.objects.get(user=user, organization=invitation.organization)
        if invitation.status != Invitation.Status.PENDING:
            raise ValidationFailed.for_field("token", f"This invitation is {invitation.status}.")
        if invitation.email.lower() != user.email.lower():
            raise ValidationFailed.for_field(
                "email", f"This invitation is for {invitation.email}; sign in with that address to accept it."
            )
        membership, _ = Membership.objects.get_or_create(
            user=user, organization=invitation.organization, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        if not user.email_confirmed:  # the invitation link proves the address
            user.email_confirmed_at = timezone.now()
            user.save(update_fields=["email_confirmed_at"])
        audit_record(
            actor=actor,
            action="organizations.member.added",
            target=membership,
            organization=invitation.organization,
            new={"user": user.email, "role": membership.role},
        )
    return membership


# --- sites --------------------------------------------------------------------------------

SITE_FIELDS = ("name", "kind", "network_posture", "country", "city")


def site_create(*, organization: Organization, actor: Principal, data: dict[str, Any]) -> Site:
    _require_admin(actor, organization)
    if not organization.is_provider:
        raise ValidationFailed.for_field("organization", "Only provider organizations have sites.")
    with transaction.atomic():
        if Site.objects.filter(organization=organization, name=data.get("name", "")).exists():
            raise ValidationFailed.for_field("name", "A site with this name already exists.")
        site = Site(organization=organization, **{key: data[key] for key in SITE_FIELDS if key in data})
        site.full_clean()
        site.save()
        audit_record(
            actor=actor,
            action="organizations.site.created",
            target=site,
            organization=organization,
            new={key: getattr(site, key) for key in SITE_FIELDS},
        )
    return site


def site_update(*, site: Site, actor: Principal, data: dict[str, Any]) -> Site:
    _require_admin(actor, site.organization)
    with transaction.atomic():
        site = Site.objects.select_for_update().select_related("organization").get(pk=site.pk)
        old, new = {}, {}
        for key in SITE_FIELDS:
            if key in data and getattr(site, key) != data[key]:
                old[key], new[key] = getattr(site, key), data[key]
                setattr(site, key, data[key])
        if not new:
            return site
        same_name = Site.objects.filter(organization=site.organization, name=new.get("name")).exclude(pk=site.pk)
        if "name" in new and same_name.exists():
            raise ValidationFailed.for_field("name", "A site with this name already exists.")
        site.full_clean()
        site.save()
        audit_record(
            actor=actor,
            action="organizations.site.updated",
            target=site,
            organization=site.organization,
            old=old,
            new=new,
        )
    return site


def site_archive(*, site: Site, actor: Principal) -> Site:
    """Sites are archived, not deleted: deployments and licenses keep naming them."""
    _require_admin(actor, site.organization)
    with transaction.atomic():
        site = Site.objects.select_for_update().select_related("organization").get(pk=site.pk)
        if site.archived_at:
            return site
        site.archived_at = timezone.now()
        site.save(update_fields=["archived_at", "updated_at"])
        audit_record(actor=actor, action="organizations.site.archived", target=site, organization=site.organization)
    return site


# --- API clients --------------------------------------------------------------------------


def api_client_create(
    *, organization: Organization, name: str, role: str, actor: Principal, created_by: User | None = None
) -> tuple[ApiClient, str]:
    """Create a client-credentials client. Returns it and its secret, which is stored hashed and
    never shown again."""
    if not actor.is_operator and actor.kind.value != "system":
        _require_admin(actor, organization)
    if role not in ApiClient.Role.values:
        raise ValidationFailed.for_field("role", f"Choose one of: {', '.join(ApiClient.Role.values)}.")
    name = name.strip()
    if not name:
        raise ValidationFailed.for_field("name", "A name is required.")
    secret = secrets.token_urlsafe(40)
    with transaction.atomic():
        client = ApiClient.objects.create(
            name=name[:255],
            organization=organization,
            role=role,
            client_id=generate_client_id(),
            client_secret=secret,  # hashed on save by django-oauth-toolkit
            client_type=ApiClient.CLIENT_CONFIDENTIAL,
            authorization_grant_type=ApiClient.GRANT_CLIENT_CREDENTIALS,
            created_by=created_by or actor.user,
        )
        audit_record(
            actor=actor,
            action="organizations.api_client.created",
            target=client,
            organization=organization,
            new={"name": client.name, "role": role, "client_id": client.client_id},
        )
    return client, secret


def api_client_revoke(*, client: ApiClient, actor: Principal) -> ApiClient:
    """Revoke a client: its tokens stop working at once and it can get no new ones."""
    if not actor.is_operator:
        _require_admin(actor, client.organization)
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().select_related("organization").get(pk=client.pk)
        if client.revoked_at:
            return client
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        client.accesstoken_set.all().delete()
        audit_record(
            actor=actor,
            action="organizations.api_client.revoked",
            target=client,
            organization=client.organization,
            old={"revoked": False},
            new={"revoked": True},
        )
    return client
