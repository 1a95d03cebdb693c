"""What provisioning needs from licensing, without importing procurement (which depends on
provisioning). Procurement registers the functions when Django starts (its AppConfig.ready)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.provisioning.models import Deployment


@dataclass
class LicensingHooks:
    # The signed license a deployment runs under (its trial's or its entitlement's), or None.
    license_for: Callable[[Deployment], str | None] | None = None
    # Sign a platform document with the active license key: (payload, typ) -> compact JWS.
    sign: Callable[[dict[str, Any], str], str] | None = None
    # The JWKS that verifies licenses and manifests, and the signed revocation list.
    jwks: Callable[[], dict[str, Any]] | None = None
    revocations: Callable[[], dict[str, Any]] | None = None
    # Revoke licenses a deployment no longer runs under (a converted trial's), once its site
    # has a bundle with the new one.
    revoke_superseded: Callable[[Deployment], int] | None = None


licensing = LicensingHooks()


def require(name: str) -> Callable[..., Any]:
    hook = getattr(licensing, name)
    if hook is None:
        raise RuntimeError(f"No licensing hook '{name}' registered (is apps.procurement installed?)")
    return hook
