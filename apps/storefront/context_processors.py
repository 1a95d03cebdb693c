import logging
from typing import Any

from django.http import HttpRequest

logger = logging.getLogger(__name__)


def active_organization(request: HttpRequest) -> dict[str, Any]:
    """The organization the signed-in person acts for, and the others they may switch to.

    Never raises: error pages render through here too, also when the database is down."""
    try:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return {}
        from apps.organizations.selectors import user_memberships
        from marketplace.principal import get_principal

        principal = get_principal(request)  # a bad X-Organization header raises Forbidden
        memberships = list(user_memberships(user=user))
    except Exception:
        logger.warning("could not resolve the active organization", exc_info=True)
        return {}
    return {
        "principal": principal,
        "active_organization": principal.organization,
        "active_role": principal.role.value if principal.role else None,
        "is_org_admin": principal.role is not None and principal.role.value == "admin",
        "memberships": memberships,
    }
