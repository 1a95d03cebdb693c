"""Procurement beat tasks: thin wrappers around the sweeps."""

from celery import shared_task

from apps.procurement import services


@shared_task(name="procurement.trials_sweep", acks_late=True, soft_time_limit=240, time_limit=300)
def trials_sweep() -> dict[str, int]:
    return services.trials_sweep()


@shared_task(name="procurement.quotes_sweep", acks_late=True, soft_time_limit=240, time_limit=300)
def quotes_sweep() -> dict[str, int]:
    return services.quotes_sweep()


@shared_task(name="procurement.subscriptions_sweep", acks_late=True, soft_time_limit=240, time_limit=300)
def subscriptions_sweep() -> dict[str, int]:
    return services.subscriptions_sweep()
