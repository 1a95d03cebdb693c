"""Provisioner backends: one small interface, registered in one place, chosen by the offering.

A backend runs named steps. Each step call carries an idempotency key derived from the
deployment and the step, so a call repeated after a killed worker has no second effect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.provisioning.models import Deployment, SandboxCall


class ProvisioningError(Exception):
    """A step failed."""


class TransientProvisioningError(ProvisioningError):
    """Worth retrying with back-off (a timeout, a 503, a dropped connection)."""


class PermanentProvisioningError(ProvisioningError):
    """Retrying cannot help (refused, invalid configuration); the deployment fails with the reason."""


@dataclass(frozen=True)
class StepSpec:
    name: str
    title: str
    seconds: float  # the expected duration, for the progress estimate


@dataclass(frozen=True)
class StepResult:
    message: str = ""
    external_id: str = ""
    tenant_url: str = ""
    # The step waits for someone outside (the vendor's activate call, the site agent's report):
    # it stays running and nothing is dispatched; `deployment_activate` finishes it.
    wait: bool = False
    # With `wait`, the deployment status to wait in (on premise: awaiting_agent).
    wait_in: str = ""


class ProvisionerBackend(Protocol):
    name: str

    def provision_steps(self, deployment: Deployment) -> list[StepSpec]: ...

    def deprovision_steps(self, deployment: Deployment) -> list[StepSpec]: ...

    def run_step(self, deployment: Deployment, step: str, *, idempotency_key: str) -> StepResult: ...

    def check(self, deployment: Deployment) -> bool: ...

    def suspend(self, deployment: Deployment, *, idempotency_key: str) -> None: ...

    def resume(self, deployment: Deployment, *, idempotency_key: str) -> None: ...


def _sandbox_count_call(deployment: Deployment, step: str, idempotency_key: str) -> int:
    """Record one call of a sandbox step; returns how many calls with its key came before.

    One atomic statement on both databases (PostgreSQL, SQLite >= 3.35): concurrent duplicates
    queue on the row and each sees the other counted."""
    table = connection.ops.quote_name(SandboxCall._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (created_at, idempotency_key, operation, deployment_id, attempts) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, 1) ON CONFLICT (idempotency_key) "
            f"DO UPDATE SET attempts = {table}.attempts + 1 RETURNING attempts",
            [connection.ops.adapt_datetimefield_value(timezone.now()), idempotency_key, step, deployment.pk],
        )
        (attempts,) = cursor.fetchone()
    return int(attempts) - 1


class SandboxBackend:
    """Simulates provisioning with real waits, records each effective call once per key, and
    injects failures for tests and demos (settings.MARKETPLACE_SANDBOX)."""

    name = "sandbox"

    def _config(self) -> dict:
        return {
            "step_seconds": 1.0,
            "fail_step": "",
            "transient_failures": 0,
            "latency_seconds": 0.0,
            **settings.MARKETPLACE_SANDBOX,
        }

    def provision_steps(self, deployment: Deployment) -> list[StepSpec]:
        seconds = float(self._config()["step_seconds"])
        if deployment.site_id:
            names = [
                ("validate", "Check the site and the order"),
                ("build_bundle", "Build the installation bundle"),
                ("sign_license", "Sign the license"),
                ("install_on_site", "Install at the site (simulated agent)"),
            ]
        else:
            names = [
                ("validate", "Check the region and the order"),
                ("allocate_tenant", "Create the tenant"),
                ("configure", "Configure integrations"),
                ("health_check", "Check the tenant answers"),
            ]
        return [StepSpec(name, title, seconds) for name, title in names]

    def deprovision_steps(self, deployment: Deployment) -> list[StepSpec]:
        seconds = float(self._config()["step_seconds"])
        return [StepSpec("revoke_access", "Revoke access", seconds), StepSpec("remove_tenant", "Remove", seconds)]

    def run_step(self, deployment: Deployment, step: str, *, idempotency_key: str) -> StepResult:
        config = self._config()
        seen = _sandbox_count_call(deployment, step, idempotency_key)
        created = seen == 0
        if not created and seen >= int(config["transient_failures"]) + 1:
            return self._result(deployment, step)  # already done: no second effect
        if config["fail_step"] == step:
            SandboxCall.objects.filter(idempotency_key=idempotency_key).delete()
            raise PermanentProvisioningError(f"The sandbox refuses step '{step}' (failure injected).")
        if seen < int(config["transient_failures"]):
            raise TransientProvisioningError(f"The sandbox is busy at step '{step}' (transient failure injected).")
        wait = float(config["step_seconds"]) + float(config["latency_seconds"])
        if wait > 0:  # sleep(0) still gives up the CPU: not at zero delay
            time.sleep(wait)
        return self._result(deployment, step)

    @staticmethod
    def _result(deployment: Deployment, step: str) -> StepResult:
        if step == "allocate_tenant":
            return StepResult(
                message="Tenant created.",
                external_id=f"sandbox-{deployment.public_id.hex[:12]}",
                tenant_url=f"https://{deployment.public_id.hex[:12]}.sandbox.marketplace.invalid/",
            )
        if step == "build_bundle":
            return StepResult(message="Bundle built.", external_id=f"bundle-{deployment.public_id.hex[:12]}")
        return StepResult(message="Done.")

    def check(self, deployment: Deployment) -> bool:
        return deployment.status == Deployment.Status.ACTIVE

    def suspend(self, deployment: Deployment, *, idempotency_key: str) -> None:
        SandboxCall.objects.get_or_create(
            idempotency_key=idempotency_key, defaults={"operation": "suspend", "deployment": deployment}
        )

    def resume(self, deployment: Deployment, *, idempotency_key: str) -> None:
        SandboxCall.objects.get_or_create(
            idempotency_key=idempotency_key, defaults={"operation": "resume", "deployment": deployment}
        )


_BACKENDS: dict[str, ProvisionerBackend] = {"sandbox": SandboxBackend()}


def register_backend(backend: ProvisionerBackend) -> None:
    _BACKENDS[backend.name] = backend


def backend_for(name: str) -> ProvisionerBackend:
    """The one registry of backends; an offering names its backend."""
    try:
        return _BACKENDS[name]
    except KeyError:
        raise PermanentProvisioningError(f"No provisioner backend named '{name}'.") from None


def backend_names() -> list[str]:
    return sorted(_BACKENDS)
