"""Provisioning fixtures: the procurement ones (a second vendor), and eager task retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.procurement.conftest import orbit
from tests.workers import celery_conf

__all__ = ["eager_retries", "orbit"]


@pytest.fixture
def eager_retries() -> Iterator[None]:
    """Run a task's retries inline, as a worker runs them after the back-off.

    The test settings make eager tasks propagate their exceptions, and Celery then re-raises the
    `Retry` of `self.retry()` out of `apply_async` instead of applying the retry: the outbox takes
    it for a broker failure and leaves the message for its reconciler. Without propagation an
    eager task applies its retries at once (the countdown is skipped)."""
    with celery_conf(task_eager_propagates=False):
        yield
