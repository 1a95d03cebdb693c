import logging
from typing import Any

from django.dispatch import receiver

from marketplace.events import events_sequenced

logger = logging.getLogger(__name__)


@receiver(events_sequenced, dispatch_uid="webhooks.fan_out_after_sequencing")
def _events_sequenced(sender: type, count: int, **kwargs: Any) -> None:
    from apps.webhooks.tasks import fan_out

    try:
        fan_out.apply_async(queue="webhooks")
    except Exception:  # the broker is down: beat's fan-out runs it later
        logger.warning("could not queue webhooks.fan_out; beat will run it", exc_info=True)
