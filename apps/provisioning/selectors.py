from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from apps.provisioning.models import Deployment, DeploymentStep
from marketplace.principal import Principal
from marketplace.tenancy import scope_queryset

# The step log in the order things happen: setting up first, removal after (the phase names
# sort the other way round).
STEP_LOG_ORDER = Case(
    When(phase=DeploymentStep.Phase.PROVISION, then=Value(0)), default=Value(1), output_field=IntegerField()
)


def deployments_visible_to(*, principal: Principal) -> QuerySet[Deployment]:
    """Deployments the caller's organization is a party to (provider or vendor); operators all."""
    return scope_queryset(
        Deployment.objects.select_related(
            "provider", "vendor", "listing", "offering", "plan", "site", "trial", "entitlement__subscription"
        ).prefetch_related(Prefetch("steps", queryset=DeploymentStep.objects.order_by(STEP_LOG_ORDER, "position"))),
        principal,
    )
