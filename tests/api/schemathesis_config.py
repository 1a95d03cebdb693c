"""Write the schemathesis.toml that tests/api/run_schemathesis.sh uses: the identifiers of the demo
data as dictionaries for every path parameter, so most generated requests reach a real object
(a trial, a listing's plan, a site...) instead of a 404, and the transitions, validations and
serializers behind them get fuzzed too. A parameter still gets a generated value now and then.

    DJANGO_SETTINGS_MODULE=config.settings.local python tests/api/schemathesis_config.py OUT.toml

The API clients the run authenticates with (the demo admin clients) are left out, so the run
cannot revoke its own credentials."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

PROBABILITY = 0.9  # how often a bound parameter takes a demo value rather than a generated one
MAX_VALUES = 25


def _ids(queryset: Any, field: str = "public_id") -> list[str]:
    return [str(value) for value in queryset.values_list(field, flat=True)[:MAX_VALUES]]


def dictionaries() -> dict[str, list[str]]:
    from apps.catalog.models import Artifact, Category, Listing, Modality, Plan, Specialty, Standard
    from apps.organizations.models import ApiClient, Invitation, Membership, Organization, Site
    from apps.procurement.models import Entitlement, License, Order, QuoteRequest, Subscription, Trial
    from apps.provisioning.models import Bundle, Deployment
    from apps.webhooks.models import WebhookDelivery, WebhookEndpoint

    rooms = list(Organization.objects.filter(slug__in=["st-marys", "radiant-ai"]).order_by("slug"))
    # The listing whose parts (offerings, plans, versions, documents, revisions, reviews) are used.
    rich = (
        Listing.objects.filter(vendor__slug="radiant-ai", status=Listing.Status.PUBLISHED, versions__isnull=False)
        .order_by("slug")
        .first()
    ) or Listing.objects.filter(status=Listing.Status.PUBLISHED).order_by("slug").first()
    values: dict[str, list[str]] = {
        "organizations": _ids(Organization.objects.order_by("slug"), "slug"),
        "rooms": [organization.slug for organization in rooms],
        "apps": _ids(Listing.objects.order_by("-vendor__slug", "slug"), "slug"),
        "categories": _ids(Category.objects.order_by("slug"), "slug"),
        "specialties": _ids(Specialty.objects.order_by("slug"), "slug"),
        "modalities": _ids(Modality.objects.order_by("slug"), "slug"),
        "standards": _ids(Standard.objects.order_by("slug"), "slug"),
        "members": _ids(Membership.objects.filter(organization__in=rooms)),
        "invitations": _ids(Invitation.objects.filter(organization__in=rooms)),
        "sites": _ids(Site.objects.filter(organization__in=rooms)),
        "api-clients": _ids(ApiClient.objects.filter(organization__in=rooms).exclude(client_id__startswith="demo-")),
        "trials": _ids(Trial.objects.order_by("-created_at")),
        "quotes": _ids(QuoteRequest.objects.order_by("-created_at")),
        "orders": _ids(Order.objects.order_by("-created_at")),
        "subscriptions": _ids(Subscription.objects.order_by("-created_at")),
        "entitlements": _ids(Entitlement.objects.order_by("-created_at")),
        "licenses": _ids(License.objects.order_by("-created_at")),
        "deployments": _ids(Deployment.objects.order_by("-created_at")),
        "bundles": _ids(Bundle.objects.order_by("-created_at")),
        "endpoints": _ids(WebhookEndpoint.objects.order_by("-created_at")),
        "deliveries": _ids(WebhookDelivery.objects.order_by("-created_at")),
    }
    if rich is not None:
        values["listing"] = [rich.slug]
        values["offerings"] = _ids(rich.offerings.all())
        values["plans"] = _ids(Plan.objects.filter(offering__listing=rich))
        values["versions"] = _ids(rich.versions.all())
        values["artifacts"] = _ids(Artifact.objects.filter(version__listing=rich))
        values["documents"] = _ids(rich.documents.all())
        values["revisions"] = _ids(rich.revisions.all())
        values["reviews"] = _ids(rich.reviews.all())
    return {name: entries for name, entries in values.items() if entries}


def binding(path: str, parameter: str, collection: str) -> str:
    """Which dictionary feeds `{parameter}`, which follows the `collection` segment of `path`."""
    if collection == "apps":
        return "apps" if path.count("{") == 1 or parameter == "slug" else "listing"
    if collection == "organizations":
        return "rooms" if "/" in path.split("}", 1)[1].strip("/") else "organizations"
    return collection


def operations(schema: dict[str, Any], names: set[str]) -> list[tuple[str, dict[str, str]]]:
    found = []
    for path in sorted(schema["paths"]):
        bound: dict[str, str] = {}
        collection = ""
        for segment in path.strip("/").split("/"):
            if segment.startswith("{"):
                parameter = segment.strip("{}")
                name = binding(path, parameter, collection)
                if name in names:
                    bound[parameter] = name
            else:
                collection = segment
        if bound:
            found.append((path, bound))
    return found


def render(values: dict[str, list[str]], schema: dict[str, Any]) -> str:
    lines = ["# Written by tests/api/schemathesis_config.py for one run; not kept.", ""]
    for name, entries in sorted(values.items()):
        lines.append(f"[dictionaries.{json.dumps(name)}]")
        lines.append(f"values = [{', '.join(json.dumps(entry) for entry in entries)}]")
        lines.append("")
    for path, bound in operations(schema, set(values)):
        lines.append("[[operations]]")
        lines.append(f"include-path = {json.dumps(path)}")
        pairs = ", ".join(
            f"{json.dumps('path.' + parameter)} = {{ dictionary = {json.dumps(name)}, probability = {PROBABILITY} }}"
            for parameter, name in bound.items()
        )
        lines.append(f"parameters = {{ {pairs} }}")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    Path(sys.argv[1]).write_text(render(dictionaries(), schema))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
