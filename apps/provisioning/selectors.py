from django.db.models import Prefetch, QuerySet

from apps.provisioning.models import Deployment, DeploymentStep
from marketplace.principal import Principal
from marketplace.tenancy import scope_queryset


def deployments_visible_to(*, principal: Principal) -> QuerySet[Deployment]:
    """Deployments the caller's organization is a party to (provider or vendor); operators all."""
    return scope_queryset(
        Deployment.objects.select_related("provider", "vendor", "listing", "offering", "plan", "site").prefetch_related(
            Prefetch("steps", queryset=DeploymentStep.objects.order_by("phase", "position"))
        ),
        principal,
    )
