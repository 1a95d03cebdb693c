"""The vendor fulfillment backend: the vendor's own systems set up cloud tenants.

Every request is `POST <offering.fulfillment_url>` with the JSON body of API.md, signed with
Standard Webhooks headers and the offering's secret, through the kernel's outbound helper (https
only in production, every resolved address checked, no redirects, one deadline). The idempotency
key is derived from the deployment and the operation, so a repeated call has one effect at the
vendor. The vendor answers 200 `{"tenant_url"}` when done at once, or 202 and later calls
`POST /api/v1/deployments/{id}/activate/`.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from apps.provisioning.backends import (
    PermanentProvisioningError,
    StepResult,
    StepSpec,
    TransientProvisioningError,
)
from apps.provisioning.hooks import licensing
from apps.provisioning.models import Deployment
from marketplace.outbound import (
    OutboundError,
    OutboundRefused,
    OutboundResponseTooLarge,
    outbound_request,
)
from marketplace.signing import standard_webhook_headers

# Statuses worth retrying: the vendor is busy, rate-limits or is down for a moment.
_TRANSIENT_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
_TIMEOUT_SECONDS = 10.0


def fulfillment_body(deployment: Deployment, operation: str, idempotency_key: str) -> dict[str, Any]:
    license_for = licensing.license_for
    body: dict[str, Any] = {
        "type": operation,
        "deployment": str(deployment.public_id),
        "idempotency_key": idempotency_key,
        "listing": deployment.listing.slug,
        "offering": str(deployment.offering.public_id),
        "plan": str(deployment.plan.public_id) if deployment.plan_id else None,
        "provider": {"slug": deployment.provider.slug, "name": deployment.provider.name},
        "license": license_for(deployment) if license_for else None,
        "activate_url": f"{settings.MARKETPLACE_BASE_URL}/api/v1/deployments/{deployment.public_id}/activate/",
    }
    if deployment.site_id:
        body["site"] = {"id": str(deployment.site.public_id), "name": deployment.site.name}
    else:
        body["region"] = deployment.region
    return body


def fulfillment_call(deployment: Deployment, operation: str, idempotency_key: str) -> tuple[int, dict[str, Any]]:
    """Send one signed request; return (status, JSON body or {}). Raises Transient- or
    PermanentProvisioningError with a reason both parties can read."""
    offering = deployment.offering
    if not offering.fulfillment_url or not offering.fulfillment_secret:
        raise PermanentProvisioningError("The vendor has not configured a fulfillment endpoint for this offering.")
    body = json.dumps(fulfillment_body(deployment, operation, idempotency_key), separators=(",", ":")).encode()
    # After a rotation the previous secret signs too, while the vendor deploys the new one.
    previous = (offering.fulfillment_previous_secret,) if offering.fulfillment_previous_secret_until else ()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        **standard_webhook_headers(
            secret=offering.fulfillment_secret,
            message_id=idempotency_key,
            body=body,
            also_signed_by=previous,
        ),
    }
    try:
        response = outbound_request(
            "POST",
            offering.fulfillment_url,
            body=body,
            headers=headers,
            timeout=_TIMEOUT_SECONDS,
            max_response_bytes=64 * 1024,
        )
    except OutboundRefused as exc:
        raise PermanentProvisioningError(f"The fulfillment endpoint is not allowed: {exc}") from exc
    except OutboundResponseTooLarge as exc:
        raise PermanentProvisioningError("The fulfillment endpoint answered with too much data.") from exc
    except OutboundError as exc:
        raise TransientProvisioningError(f"The vendor's endpoint did not answer: {exc}") from exc
    if response.status in _TRANSIENT_STATUSES:
        # Also the last words of "Gave up after N retries: ...", so no "trying again" here.
        raise TransientProvisioningError(f"The vendor's endpoint answered {response.status}.")
    try:
        data = response.json() if response.body.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return response.status, data


def vendor_says(data: dict[str, Any]) -> str:
    """The vendor's own explanation of a refusal (`error`, `message` or `detail`), shortened, for
    the failure reason both parties read: ": <text>", or "" when it gave none."""
    for name in ("error", "message", "detail"):
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())[:300].rstrip(".")
            return f": {text}" if text else ""
    return ""


class VendorFulfillmentBackend:
    """Cloud tenants set up by the vendor's fulfillment endpoint."""

    name = "vendor"

    def provision_steps(self, deployment: Deployment) -> list[StepSpec]:
        return [
            StepSpec("request_tenant", "Ask the vendor to set up the tenant", 2),
            StepSpec("vendor_confirmation", "Wait for the vendor's confirmation", 30),
        ]

    def deprovision_steps(self, deployment: Deployment) -> list[StepSpec]:
        return [StepSpec("request_removal", "Ask the vendor to remove the tenant", 2)]

    def run_step(self, deployment: Deployment, step: str, *, idempotency_key: str) -> StepResult:
        if step == "request_tenant":
            status, data = fulfillment_call(deployment, "provision", f"{deployment.public_id}:provision")
            if status == 200:
                tenant_url = str(data.get("tenant_url") or "")
                if not tenant_url.startswith(("https://", "http://")):
                    raise PermanentProvisioningError("The vendor answered 200 without a tenant_url.")
                return StepResult(
                    message="The vendor set up the tenant.",
                    tenant_url=tenant_url[:200],
                    external_id=str(data.get("tenant_id") or "")[:200],
                )
            if status == 202:
                return StepResult(
                    message="The vendor accepted the request; it confirms when the tenant is ready.",
                    external_id=str(data.get("tenant_id") or "")[:200],
                )
            raise PermanentProvisioningError(
                f"The vendor's endpoint refused the request ({status}){vendor_says(data)}."
            )
        if step == "vendor_confirmation":
            if deployment.tenant_url:
                return StepResult(message="The tenant is ready.")
            return StepResult(message="Waiting for the vendor's activate call.", wait=True)
        if step == "request_removal":
            status, data = fulfillment_call(deployment, "deprovision", f"{deployment.public_id}:deprovision")
            if status in (200, 202, 204, 404, 410):
                return StepResult(message="The vendor removes the tenant.")
            raise PermanentProvisioningError(
                f"The vendor's endpoint refused the removal ({status}){vendor_says(data)}."
            )
        raise PermanentProvisioningError(f"Unknown step '{step}'.")

    def check(self, deployment: Deployment) -> bool:
        return deployment.status == Deployment.Status.ACTIVE

    def _toggle(self, deployment: Deployment, operation: str, idempotency_key: str) -> None:
        status, data = fulfillment_call(deployment, operation, idempotency_key)
        if status not in (200, 202, 204):
            raise PermanentProvisioningError(
                f"The vendor's endpoint refused {operation} ({status}){vendor_says(data)}."
            )

    def suspend(self, deployment: Deployment, *, idempotency_key: str) -> None:
        self._toggle(deployment, "suspend", idempotency_key)

    def resume(self, deployment: Deployment, *, idempotency_key: str) -> None:
        self._toggle(deployment, "resume", idempotency_key)
