"""Tasks that exist only for the real-worker tests (loaded with `celery worker --include`)."""

import time

from celery import shared_task


@shared_task(name="tests.slow_mark", acks_late=True, reject_on_worker_lost=True, time_limit=120)
def slow_mark(*, marker: str, seconds: float) -> str:
    """Sleep, then record `marker` once: a redelivered copy finds it recorded."""
    from marketplace.models import Event

    time.sleep(seconds)
    Event.objects.get_or_create(type="tests.slow_mark", subject_type="tests", subject_id=marker)
    return marker
