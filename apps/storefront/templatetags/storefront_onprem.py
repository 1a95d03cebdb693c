"""Template helpers for on premise: the site agents part of the sites page, the target and
installation part of the deployment page, and provisioner backends in words."""

from __future__ import annotations

from typing import Any

from django import template

from apps.storefront.views.onprem import deployment_onprem_context, provisioner_label, site_agents_overview
from marketplace.principal import get_principal

register = template.Library()


@register.simple_tag(takes_context=True)
def site_agents(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Per site of the page's organization: its agents and (for admins) enrollment tokens."""
    return site_agents_overview(principal=get_principal(context["request"]), organization=context["organization"])


@register.inclusion_tag("storefront/organization/_deployment_onprem.html", takes_context=True)
def deployment_onprem(context: dict[str, Any]) -> dict[str, Any]:
    """The deployment's target and, on premise, its bundle, the receipt upload and agent reports
    (a receipt form with errors comes from the page's context)."""
    return deployment_onprem_context(
        principal=get_principal(context["request"]),
        deployment=context["deployment"],
        receipt_form=context.get("receipt_form"),
    )


@register.filter
def provisioner(name: str) -> str:
    """`site_agent` -> `Site agent (on premise)`."""
    return provisioner_label(str(name))
