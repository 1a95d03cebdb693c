from django.db.models import QuerySet

from apps.procurement.models import Trial
from marketplace.principal import Principal
from marketplace.tenancy import scope_queryset


def trials_visible_to(*, principal: Principal) -> QuerySet[Trial]:
    """Trials the caller's organization is a party to (provider or vendor); operators all."""
    return scope_queryset(
        Trial.objects.select_related("provider", "vendor", "listing", "offering", "plan", "site", "deployment"),
        principal,
    )
