from typing import Any

from django.http import HttpRequest


def active_organization(request: HttpRequest) -> dict[str, Any]:
    """The organization the signed-in person acts for, and the others they may switch to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from apps.organizations.selectors import user_memberships
    from marketplace.principal import get_principal

    try:
        principal = get_principal(request)
    except Exception:  # a bad X-Organization header must not break page rendering
        return {}
    return {
        "principal": principal,
        "active_organization": principal.organization,
        "active_role": principal.role.value if principal.role else None,
        "memberships": list(user_memberships(user=user)),
    }
