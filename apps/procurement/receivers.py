from typing import Any

from django.dispatch import receiver

from apps.provisioning.signals import deployments_status_changed


@receiver(deployments_status_changed, dispatch_uid="procurement.trials_follow_deployments")
def _deployments_changed(
    sender: type, deployments: list[Any], new_status: str, actor: Any = None, **kwargs: Any
) -> None:
    from apps.procurement.services import subscriptions_follow_deployments, trials_follow_deployments
    from marketplace.principal import SYSTEM

    trials_follow_deployments(deployments=deployments, new_status=new_status, actor=actor or SYSTEM)
    subscriptions_follow_deployments(deployments=deployments, new_status=new_status)
