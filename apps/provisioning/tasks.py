"""Provisioning tasks: thin wrappers around the services; ids only."""

import random

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from django.db import OperationalError

from apps.provisioning.backends import TransientProvisioningError
from apps.provisioning.services import (
    deployment_advance,
    deployment_backend_call,
    deployment_fail,
    deployment_reconcile,
    deployments_advance,
)


@shared_task(
    bind=True,
    name="provisioning.advance_deployment",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=6,
    soft_time_limit=120,
    time_limit=150,
)
def advance_deployment(self, *, deployment_id: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return deployment_advance(deployment_id=deployment_id)
    except TransientProvisioningError as exc:
        try:
            # Exponential back-off with jitter, well under the broker's visibility timeout.
            raise self.retry(countdown=min(2**self.request.retries, 60) + random.uniform(0, 1)) from exc  # noqa: S311
        except MaxRetriesExceededError:
            deployment_fail(deployment_id=deployment_id, reason=f"Gave up after {self.max_retries} retries: {exc}")
            return "failed"


@shared_task(
    name="provisioning.advance_deployments",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),  # the database went away mid-round: the round runs again
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=300,
    time_limit=330,
)
def advance_deployments(*, deployment_ids: list[int]) -> dict[str, int]:
    return deployments_advance(deployment_ids=deployment_ids)


@shared_task(name="provisioning.reconcile", acks_late=True, soft_time_limit=50, time_limit=60)
def reconcile() -> dict[str, int]:
    return deployment_reconcile()


@shared_task(
    bind=True,
    name="provisioning.backend_call",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def backend_call(self, *, deployment_id: int, operation: str, idempotency_key: str) -> str:  # type: ignore[no-untyped-def]
    try:
        return deployment_backend_call(
            deployment_id=deployment_id, operation=operation, idempotency_key=idempotency_key
        )
    except TransientProvisioningError as exc:
        raise self.retry(countdown=min(2**self.request.retries, 60) + random.uniform(0, 1)) from exc  # noqa: S311


@shared_task(
    name="provisioning.refresh_bundle", acks_late=True, reject_on_worker_lost=True, soft_time_limit=600, time_limit=660
)
def refresh_bundle(*, deployment_id: int) -> str:
    from apps.provisioning.onprem import bundle_refresh

    return bundle_refresh(deployment_id=deployment_id)
