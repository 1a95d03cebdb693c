"""Site agents: enrollment with a one-time token, heartbeats, the bundles a site is entitled to,
reports, and the signed receipts of air-gapped sites.

An agent authenticates with `Authorization: Agent <credential>` (the credential it received at
enrollment; only its SHA-256 is stored). It sees only its own site's bundles.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.organizations.models import Organization
from apps.provisioning.models import AgentReport, Bundle, Deployment, EnrollmentToken, SiteAgent
from apps.provisioning.onprem import token_hash
from apps.provisioning.services import deployment_activate, deployment_fail
from marketplace.audit import audit_record
from marketplace.context import current_request_context
from marketplace.errors import ApplicationError, Forbidden, NotFound, ValidationFailed
from marketplace.limits import failure_limit_check, failure_record
from marketplace.principal import Principal, PrincipalKind, Role
from marketplace.signing import SignatureError, jws_unverified_header, jws_unverified_payload, jws_verify

ENROLL_LIMIT = "failed_enrollments_per_hour"
RECEIPT_TYP = "receipt+jwt"
# Bundles an agent is shown: deployments waiting for it or running at its site.
_VISIBLE = (Deployment.Status.AWAITING_AGENT, Deployment.Status.ACTIVE, Deployment.Status.SUSPENDED)
_REPORT_KINDS = {kind.value for kind in AgentReport.Kind}


class AgentNotAuthenticated(ApplicationError):
    status_code = 401
    default_code = "not_authenticated"


def agent_principal(agent: SiteAgent) -> Principal:
    return Principal(
        kind=PrincipalKind.SITE_AGENT,
        label=f"site agent {agent.name} at {agent.site.name}",
        organization=agent.organization,
        role=None,
        agent=agent,
    )


def agent_authenticate(authorization: str) -> SiteAgent:
    """The enrolled, unrevoked agent named by an `Agent <credential>` header, else 401."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme != "Agent" or not credential.strip():
        raise AgentNotAuthenticated("Send the agent's credential as 'Authorization: Agent <credential>'.")
    agent = (
        SiteAgent.objects.select_related("site", "organization")
        .filter(credential_hash=token_hash(credential.strip()), revoked_at__isnull=True)
        .first()
    )
    if agent is None or agent.site.archived_at is not None:
        raise AgentNotAuthenticated("Unknown or revoked agent credential; enroll the agent again.")
    return agent


def _redeem(raw_token: str) -> EnrollmentToken:
    """Lock and return a usable enrollment token, else Forbidden (no hint which part failed).
    Failed attempts are counted per address and per site; over the limit: 429."""
    address = current_request_context().client_address or "unknown"
    failure_limit_check(name=ENROLL_LIMIT, keys=[f"addr:{address}"])
    token = (
        EnrollmentToken.objects.select_for_update()
        .select_related("site", "organization")
        .filter(token_hash=token_hash((raw_token or "").strip()))
        .first()
    )
    if token is not None:
        failure_limit_check(name=ENROLL_LIMIT, keys=[f"site:{token.site_id}"])
    if token is None or token.used_at is not None or token.expires_at <= timezone.now() or token.site.archived_at:
        failure_record(name=ENROLL_LIMIT, keys=[f"addr:{address}", *([f"site:{token.site_id}"] if token else [])])
        raise Forbidden(
            "This enrollment token is not valid (unknown, used or expired).", code="invalid_enrollment_token"
        )
    return token


def agent_enroll(
    *, token: str, name: str, hostname: str = "", agent_version: str = "", public_key: dict | None = None
) -> tuple[SiteAgent, str]:
    """Exchange a one-time enrollment token for agent credentials (returned once)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "Name the agent, e.g. the host it runs on.")
    if public_key is not None:
        _check_public_key(public_key, field="public_key")
    credential = "mag_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        enrollment = _redeem(token)
        agent = SiteAgent.objects.create(
            organization=enrollment.organization,
            site=enrollment.site,
            name=name[:120],
            credential_hash=token_hash(credential),
            public_key=public_key,
            hostname=hostname[:200],
            agent_version=agent_version[:40],
            last_seen_at=timezone.now(),
        )
        enrollment.used_at = timezone.now()
        enrollment.agent = agent
        enrollment.save(update_fields=["used_at", "agent", "updated_at"])
        audit_record(
            actor=agent_principal(agent),
            action="provisioning.agent.enrolled",
            target=agent,
            organization=agent.organization,
            new={"site": agent.site.name, "name": agent.name, "token": enrollment.hint},
        )
    return agent, credential


def agent_revoke(*, agent: SiteAgent, actor: Principal) -> SiteAgent:
    """A provider admin revokes one site agent (its server was retired, lost or compromised): its
    credential stops working at once and it can enroll again only with a new token. What it
    installed keeps running under its licenses. Idempotent; audited once. Raises Forbidden for
    anyone but an admin of the agent's organization (operators read)."""
    if actor.organization is None or actor.organization.pk != agent.organization_id or not actor.has_role(Role.ADMIN):
        raise Forbidden("Organization admins revoke site agents.")
    with transaction.atomic():
        agent = SiteAgent.objects.select_for_update(of=("self",)).select_related("site").get(pk=agent.pk)
        if agent.revoked_at is None:
            agent.revoked_at = timezone.now()
            agent.save(update_fields=["revoked_at", "updated_at"])
            audit_record(
                actor=actor,
                action="provisioning.agent.revoked",
                target=agent,
                organization=agent.site.organization,
                old={"revoked_at": None},
                new={"revoked_at": agent.revoked_at, "site": agent.site.name, "name": agent.name},
            )
    return agent


def agent_heartbeat(*, agent: SiteAgent, agent_version: str = "", hostname: str = "") -> SiteAgent:
    SiteAgent.objects.filter(pk=agent.pk).update(
        last_seen_at=timezone.now(),
        agent_version=(agent_version or agent.agent_version)[:40],
        hostname=(hostname or agent.hostname)[:200],
    )
    agent.refresh_from_db()
    return agent


def bundles_for_agent(*, agent: SiteAgent) -> list[Bundle]:
    """The newest bundle of every deployment at the agent's site that waits for it or runs."""
    bundles = (
        Bundle.objects.filter(site=agent.site, deployment__status__in=_VISIBLE)
        .select_related("deployment", "deployment__listing")
        .order_by("deployment_id", "-created_at")
    )
    newest: dict[int, Bundle] = {}
    for bundle in bundles:
        newest.setdefault(bundle.deployment_id, bundle)
    return list(newest.values())


def bundle_for_agent(*, agent: SiteAgent, bundle_id: Any) -> Bundle:
    bundle = next((b for b in bundles_for_agent(agent=agent) if str(b.public_id) == str(bundle_id)), None)
    if bundle is None:
        raise NotFound("No such bundle for this site.")
    return bundle


def _apply_report(*, agent: SiteAgent, bundle: Bundle, kind: str, reason: str, via_receipt: bool) -> AgentReport:
    report = AgentReport.objects.create(
        agent=agent, bundle=bundle, kind=kind, reason=reason[:2000], via_receipt=via_receipt
    )
    actor = agent_principal(agent)
    audit_record(
        actor=actor,
        action=f"provisioning.agent.{kind}",
        target=bundle.deployment,
        organization=bundle.provider,
        counterparty=bundle.vendor,
        new={"bundle": str(bundle.public_id), "kind": kind, **({"reason": reason} if reason else {})},
    )
    if kind == AgentReport.Kind.INSTALLED:
        deployment_activate(deployment=bundle.deployment, actor=actor, by_site_agent=True)
    elif kind == AgentReport.Kind.FAILED:
        deployment_fail(deployment_id=bundle.deployment_id, reason=f"The site agent reports: {reason}", actor=actor)
    return report


def agent_report(*, agent: SiteAgent, bundle_id: Any, kind: str, reason: str = "") -> AgentReport:
    """Record what the agent did with a bundle; `installed` activates the deployment, `failed`
    (reason required) fails it. Repeating `installed` is harmless."""
    if kind not in _REPORT_KINDS:
        raise ValidationFailed.for_field("kind", f"One of: {', '.join(sorted(_REPORT_KINDS))}.")
    reason = (reason or "").strip()
    if kind == AgentReport.Kind.FAILED and not reason:
        raise ValidationFailed.for_field("reason", "Say what failed, so the vendor and the hospital can act.")
    from marketplace.patient_data import guard_patient_data

    guard_patient_data({"reason": reason})
    bundle = bundle_for_agent(agent=agent, bundle_id=bundle_id)
    with transaction.atomic():
        return _apply_report(agent=agent, bundle=bundle, kind=kind, reason=reason, via_receipt=False)


# --- air-gapped receipts -----------------------------------------------------------------------


def _check_public_key(jwk: Any, *, field: str) -> dict[str, str]:
    if not (
        isinstance(jwk, dict)
        and jwk.get("kty") == "OKP"
        and jwk.get("crv") == "Ed25519"
        and isinstance(jwk.get("x"), str)
        and "d" not in jwk
    ):
        raise ValidationFailed.for_field(field, "An Ed25519 public key as a JWK {kty: OKP, crv: Ed25519, x}.")
    return {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}


def receipt_accept(*, provider: Organization, actor: Principal, receipt: str) -> tuple[SiteAgent, Bundle]:
    """A provider member uploads the signed receipt an air-gapped site's agent wrote: it proves the
    agent (its own Ed25519 key, carried in the receipt) installed the bundle, using the bundle's
    one-time enrollment token. Accepting a good one enrolls the agent, spends the token and marks
    the deployment active; one that reports a failure fails the deployment and leaves the token
    for the same agent's receipt after a retry. Raises ValidationFailed on `receipt` for anything
    forged, malformed or not this organization's (or a token not shipped in this bundle);
    Forbidden (invalid_enrollment_token) when the token is unknown, already used or expired, and
    (agent_revoked) for a receipt of a revoked agent."""
    if actor.organization is None or actor.organization.pk != provider.pk or not actor.has_role(Role.MEMBER):
        raise Forbidden("Members of the provider organization upload receipts.")
    try:
        header = jws_unverified_header(receipt)
        # The receipt carries the key that signed it: read it, then verify with it.
        claimed = jws_unverified_payload(receipt)
        key = _check_public_key(claimed.get("public_key"), field="receipt")
        payload = jws_verify(receipt, jwks={"keys": [{**key, "kid": str(header.get("kid") or "")}]})
    except (SignatureError, ValueError) as exc:
        raise ValidationFailed.for_field("receipt", f"Not a valid signed receipt: {exc}") from None
    if payload.get("type") != "installation_receipt":
        raise ValidationFailed.for_field("receipt", "Not an installation receipt.")
    bundle = (
        Bundle.objects.select_related("deployment", "enrollment_token", "site", "provider", "vendor")
        .filter(public_id=_uuid_or_none(payload.get("bundle")), provider=provider)
        .first()
    )
    if bundle is None:
        raise ValidationFailed.for_field("receipt", "The receipt names no bundle of your organization.")
    results = payload.get("results") if isinstance(payload.get("results"), dict) else {}
    agent_info = payload.get("agent") if isinstance(payload.get("agent"), dict) else {}
    passed = all(results.get(check) is True for check in ("manifest", "license", "checksums", "not_revoked"))
    installed = passed and payload.get("installed") is True
    with transaction.atomic():
        enrollment = _redeem(str(payload.get("enrollment_token") or ""))
        if bundle.enrollment_token_id != enrollment.pk:
            raise ValidationFailed.for_field("receipt", "The enrollment token is not the one shipped in this bundle.")
        # The same agent (its key) may write several receipts for this bundle: a failed
        # installation, then, after the deployment's retry, a good one.
        known = SiteAgent.objects.filter(site=bundle.site, air_gapped=True, public_key=key).order_by("created_at")
        if known.filter(revoked_at__isnull=False).exists():
            raise Forbidden("This site agent was revoked; enroll it again.", code="agent_revoked")
        agent = known.first() or SiteAgent.objects.create(
            organization=provider,
            site=bundle.site,
            name=str(agent_info.get("name") or "air-gapped agent")[:120],
            public_key=key,
            air_gapped=True,
        )
        agent.hostname = str(agent_info.get("hostname") or agent.hostname)[:200]
        agent.agent_version = str(agent_info.get("version") or agent.agent_version)[:40]
        agent.last_seen_at = timezone.now()
        agent.save(update_fields=["hostname", "agent_version", "last_seen_at", "updated_at"])
        if installed:
            # Spent only by a good installation: after a failed one, the bundle (which a retry of
            # the deployment hands out again, with the same token) can still report success.
            enrollment.used_at = timezone.now()
            enrollment.agent = agent
            enrollment.save(update_fields=["used_at", "agent", "updated_at"])
        audit_record(
            actor=actor,
            action="provisioning.agent.receipt_accepted",
            target=agent,
            organization=provider,
            new={"bundle": str(bundle.public_id), "results": results},
        )
        if installed:
            _apply_report(agent=agent, bundle=bundle, kind=AgentReport.Kind.INSTALLED, reason="", via_receipt=True)
        else:
            failed = ", ".join(sorted(k for k, v in results.items() if v is not True)) or "installation"
            _apply_report(
                agent=agent,
                bundle=bundle,
                kind=AgentReport.Kind.FAILED,
                reason=f"The air-gapped agent's checks failed: {failed}.",
                via_receipt=True,
            )
    return agent, bundle


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
