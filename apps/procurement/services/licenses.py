"""Licenses: signed, offline-verifiable documents of entitlements and trials.

A license is a compact JWS (EdDSA over Ed25519, `kid` in the header) whose keys are published as a
JWKS at /api/v1/licensing/public-key/. Rotating makes a new key active; older keys stay in the
JWKS, so what they signed still verifies. Revoked license ids are published as a signed list
that sites apply whenever they can fetch it or have it carried in.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from apps.procurement.models import Entitlement, License, LicenseSigningKey, Trial
from marketplace.audit import audit_record
from marketplace.errors import Forbidden, ValidationFailed
from marketplace.events import event_emit
from marketplace.principal import SYSTEM, Principal
from marketplace.signing import generate_ed25519_private_key_pem, jws_sign, public_jwk

LICENSE_TYP = "license+jwt"
REVOCATIONS_TYP = "revocations+jwt"


def _fernet() -> Fernet:
    secret = settings.MARKETPLACE_LICENSE_KEY_ENCRYPTION_KEY or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def signing_key_rotate(*, actor: Principal = SYSTEM) -> LicenseSigningKey:
    """Make a new signing key the active one; the previous keys stay published for verifying."""
    pem = generate_ed25519_private_key_pem()
    kid = f"lk-{timezone.now():%Y%m%d}-{uuid.uuid4().hex[:8]}"
    with transaction.atomic():
        now = timezone.now()
        previous = list(LicenseSigningKey.objects.select_for_update().filter(is_active=True))
        LicenseSigningKey.objects.filter(pk__in=[k.pk for k in previous]).update(is_active=False, retired_at=now)
        key = LicenseSigningKey.objects.create(
            kid=kid,
            public_jwk=public_jwk(pem, kid),
            private_key_encrypted=_fernet().encrypt(pem.encode()).decode(),
            is_active=True,
        )
        audit_record(
            actor=actor,
            action="procurement.license_key.rotated",
            target=key,
            organization=None,
            old={"kid": [k.kid for k in previous]},
            new={"kid": kid},
        )
    return key


def _active_key() -> tuple[LicenseSigningKey, str]:
    key = LicenseSigningKey.objects.filter(is_active=True).first()
    if key is None:
        try:
            key = signing_key_rotate()
        except IntegrityError:  # another process made the first key at the same moment
            key = LicenseSigningKey.objects.get(is_active=True)
    return key, _fernet().decrypt(key.private_key_encrypted.encode()).decode()


def licensing_jwks() -> dict[str, Any]:
    """Every key that has signed (active first): {"keys": [{kid, kty, crv, x}, ...]}."""
    if not LicenseSigningKey.objects.exists():
        _active_key()
    keys = LicenseSigningKey.objects.order_by("-is_active", "-created_at")
    return {"keys": [dict(key.public_jwk) for key in keys]}


def document_sign(payload: dict[str, Any], *, typ: str) -> tuple[str, str]:
    """Sign a platform document (license, manifest, revocation list); returns (token, kid)."""
    key, pem = _active_key()
    return jws_sign(payload, private_key_pem=pem, kid=key.kid, typ=typ), key.kid


def _issue(
    *,
    claims: dict[str, Any],
    not_before: datetime,
    expires_at: datetime,
    provider: Any,
    vendor: Any,
    listing: Any,
    entitlement: Entitlement | None = None,
    trial: Trial | None = None,
    actor: Principal,
) -> License:
    license_id = uuid.uuid4()
    payload = {
        "iss": settings.MARKETPLACE_BASE_URL,
        "jti": str(license_id),
        "sub": provider.slug,
        "iat": int(timezone.now().timestamp()),
        "nbf": int(not_before.timestamp()),
        "exp": int(expires_at.timestamp()),
        "vendor": vendor.slug,
        "listing": listing.slug,
        **claims,
    }
    token, kid = document_sign(payload, typ=LICENSE_TYP)
    license = License.objects.create(
        public_id=license_id,
        provider=provider,
        vendor=vendor,
        listing=listing,
        entitlement=entitlement,
        trial=trial,
        kid=kid,
        token=token,
        claims=payload,
        not_before=not_before,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="procurement.license.issued",
        target=license,
        organization=provider,
        counterparty=vendor,
        new={"kid": kid, "exp": expires_at.isoformat(), "kind": claims.get("kind")},
    )
    event_emit(
        type="license.issued",
        subject=license,
        organization=provider,
        counterparty=vendor,
        data={
            "license": str(license.public_id),
            "listing": listing.slug,
            **({"entitlement": str(entitlement.public_id)} if entitlement else {}),
            **({"trial": str(trial.public_id)} if trial else {}),
            "expires_at": expires_at.isoformat(),
        },
    )
    return license


def license_issue_for_entitlement(*, entitlement: Entitlement, actor: Principal = SYSTEM) -> License:
    """Sign a license for an entitlement (call inside the transaction that creates or renews it).
    An on-premise deployment that already has a bundle gets a new one with it, after commit."""
    claims = {
        "kind": "subscription",
        "entitlement": str(entitlement.public_id),
        "subscription": str(entitlement.subscription.public_id),
        "offering": str(entitlement.offering.public_id),
        "plan": str(entitlement.plan.public_id) if entitlement.plan_id else None,
        "site": str(entitlement.site.public_id) if entitlement.site_id else None,
        "region": entitlement.region or None,
        "seats": entitlement.seats,
        "features": list(entitlement.features),
    }
    license = _issue(
        claims=claims,
        not_before=entitlement.valid_from,
        expires_at=entitlement.valid_until,
        provider=entitlement.provider,
        vendor=entitlement.vendor,
        listing=entitlement.listing,
        entitlement=entitlement,
        actor=actor,
    )
    if entitlement.deployment_id:
        from apps.provisioning.onprem import bundle_refresh_dispatch

        bundle_refresh_dispatch(entitlement.deployment)
    return license


def license_issue_for_trial(*, trial: Trial, actor: Principal = SYSTEM) -> License:
    """Sign a trial's license at approval: valid for the trial's days plus the set-up allowance."""
    now = timezone.now()
    claims = {
        "kind": "trial",
        "trial": str(trial.public_id),
        "offering": str(trial.offering.public_id),
        "plan": str(trial.plan.public_id),
        "site": str(trial.site.public_id) if trial.site_id else None,
        "region": trial.region or None,
        "seats": None,
        "features": ["trial"],
    }
    days = trial.days + settings.MARKETPLACE_TRIAL_LICENSE_SETUP_DAYS
    return _issue(
        claims=claims,
        not_before=now,
        expires_at=now + timedelta(days=days),
        provider=trial.provider,
        vendor=trial.vendor,
        listing=trial.listing,
        trial=trial,
        actor=actor,
    )


def license_revoke(*, license: License, actor: Principal, reason: str) -> License:
    """Revoke a license (operators, or the system when a subscription or trial ends). Idempotent.
    Published at once in the signed revocation list."""
    if not (actor.is_operator or actor.kind.value == "system"):
        raise Forbidden("Only operators revoke licenses; cancel the subscription instead.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.for_field("reason", "Say why the license is revoked.")
    with transaction.atomic():
        license = License.objects.select_for_update().select_related("provider", "vendor", "listing").get(pk=license.pk)
        if license.revoked_at:
            return license
        license.revoked_at = timezone.now()
        license.revocation_reason = reason[:300]
        license.save(update_fields=["revoked_at", "revocation_reason", "updated_at"])
        audit_record(
            actor=actor,
            action="procurement.license.revoked",
            target=license,
            organization=license.provider,
            counterparty=license.vendor,
            old={"revoked": False},
            new={"revoked": True, "reason": reason},
        )
        event_emit(
            type="license.revoked",
            subject=license,
            organization=license.provider,
            counterparty=license.vendor,
            data={"license": str(license.public_id), "listing": license.listing.slug, "reason": reason},
        )
    return license


def licenses_revoke_where(*, reason: str, actor: Principal = SYSTEM, **filters: Any) -> int:
    """Revoke every unrevoked license matching `filters` (inside the caller's transaction)."""
    count = 0
    for license in License.objects.filter(revoked_at__isnull=True, **filters):
        license_revoke(license=license, actor=actor, reason=reason)
        count += 1
    return count


def revocation_list() -> dict[str, Any]:
    """The signed list of revoked license ids: {"token", "kid", "iat", "revoked"}. Revoked
    licenses stay listed until they would have expired anyway."""
    now = timezone.now()
    revoked = [
        str(public_id)
        for public_id in License.objects.filter(revoked_at__isnull=False, expires_at__gt=now)
        .order_by("revoked_at", "id")
        .values_list("public_id", flat=True)
    ]
    payload = {"iss": settings.MARKETPLACE_BASE_URL, "iat": int(now.timestamp()), "revoked": revoked}
    token, kid = document_sign(payload, typ=REVOCATIONS_TYP)
    return {"token": token, "kid": kid, "iat": payload["iat"], "revoked": revoked}


def license_token_for_deployment(deployment: Any) -> str | None:
    """The newest unrevoked license a deployment runs under: its entitlement's, else its trial's."""
    found = (
        License.objects.filter(revoked_at__isnull=True)
        .filter(models.Q(entitlement__deployment=deployment) | models.Q(trial__deployment=deployment))
        .order_by("-created_at")
        .values_list("token", flat=True)
        .first()
    )
    return found


def licenses_revoke_superseded(deployment: Any) -> int:
    """Revoke the licenses of converted trials whose deployment now runs under a subscription."""
    return licenses_revoke_where(
        trial__deployment=deployment,
        trial__status=Trial.Status.CONVERTED,
        reason="The trial was converted to a subscription.",
    )
