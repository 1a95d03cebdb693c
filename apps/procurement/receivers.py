from typing import Any

from django.dispatch import receiver

from apps.provisioning.signals import deployment_status_changed


@receiver(deployment_status_changed, dispatch_uid="procurement.trial_follows_deployment")
def _deployment_changed(sender: type, deployment: Any, new_status: str, actor: Any = None, **kwargs: Any) -> None:
    from apps.procurement.services import subscription_follow_deployment, trial_follow_deployment
    from marketplace.principal import SYSTEM

    trial_follow_deployment(deployment=deployment, new_status=new_status, actor=actor or SYSTEM)
    subscription_follow_deployment(deployment=deployment, new_status=new_status)
