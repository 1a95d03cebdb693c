"""The no-op task bench/provisioning.py measures the workers with; loaded only by the benchmark's
workers (`celery -A config worker --include bench.provisioning_tasks`), never by production."""

from celery import shared_task


@shared_task(name="bench.noop", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def noop() -> None:
    """Nothing: what one task costs the broker and the worker, without any work."""


@shared_task(name="bench.noop_hop", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def noop_hop(*, remaining: int) -> None:
    """One hop of a no-op chain: sends the next hop, as each step of a deployment sends the next
    step's task, and does nothing else."""
    if remaining > 1:
        noop_hop.apply_async(kwargs={"remaining": remaining - 1}, queue="provisioning")
