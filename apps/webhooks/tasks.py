"""Webhook tasks (queue `webhooks`, its own worker with prefetch 1): thin wrappers, ids only."""

from celery import shared_task

from apps.webhooks import services


@shared_task(name="webhooks.deliver", acks_late=True, reject_on_worker_lost=True, soft_time_limit=30, time_limit=45)
def deliver(*, delivery_id: int) -> str:
    return services.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="webhooks.fan_out", acks_late=True, soft_time_limit=50, time_limit=60)
def fan_out() -> int:
    services.webhooks_fan_out_started()  # before reading: events sequenced from now on queue another
    return services.webhooks_fan_out()


@shared_task(name="webhooks.sweep", acks_late=True, soft_time_limit=50, time_limit=60)
def sweep() -> int:
    return services.webhooks_sweep()


@shared_task(name="webhooks.deliveries_purge", acks_late=True, soft_time_limit=540, time_limit=600)
def deliveries_purge() -> int:
    return services.webhooks_deliveries_purge()
