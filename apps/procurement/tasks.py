from celery import shared_task

from apps.procurement.services import trials_sweep as _trials_sweep


@shared_task(name="procurement.trials_sweep", acks_late=True, soft_time_limit=240, time_limit=300)
def trials_sweep() -> dict[str, int]:
    return _trials_sweep()
