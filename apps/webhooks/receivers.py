from typing import Any

from django.dispatch import receiver

from marketplace.events import events_sequenced


@receiver(events_sequenced, dispatch_uid="webhooks.fan_out_after_sequencing")
def _events_sequenced(sender: type, count: int, **kwargs: Any) -> None:
    from apps.webhooks.services import webhooks_request_fan_out

    webhooks_request_fan_out()
