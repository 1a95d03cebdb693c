"""What the procurement services share: party checks, mails to an organization, links, terms."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.conf import settings

from apps.catalog.models import Listing
from apps.organizations.models import Membership, Organization
from marketplace.errors import Forbidden, ValidationFailed
from marketplace.notifications import emails_queue
from marketplace.principal import Principal, Role
from marketplace.tenancy import party_side


def notify_members(organization: Organization, *, subject: str, body: str) -> None:
    """E-mail every active member of an organization (ids and links only, never patient data)."""
    notify_members_many([(organization, subject, body)])


def notify_members_many(notices: list[tuple[Organization, str, str]]) -> None:
    """`notify_members` for many (organization, subject, body): one query for the members, one
    insert for the e-mails."""
    if not notices:
        return
    members: dict[int, set[str]] = defaultdict(set)
    for organization_id, email in Membership.objects.filter(
        organization_id__in={organization.pk for organization, _, _ in notices}, user__is_active=True
    ).values_list("organization_id", "user__email"):
        members[organization_id].add(email)
    emails_queue(
        [
            (email, subject, body)
            for organization, subject, body in notices
            for email in sorted(members[organization.pk])
        ]
    )


def refuse_own_listing(*, provider: Organization, listing: Listing, doing: str) -> None:
    """An organization that is vendor and provider does not trial, quote or buy its own app: the
    two parties of a trial, quote or order must differ (the store offers it no such button)."""
    if listing.vendor_id == provider.pk:
        raise ValidationFailed.for_field(
            "listing", f"Your organization is this app's vendor; it cannot {doing} its own app.", code="own_listing"
        )


def store_link(path: str) -> str:
    return f"{settings.MARKETPLACE_BASE_URL}/organization/{path.lstrip('/')}"


def require_party(obj: Any, actor: Principal, side: str, role: Role, *, operator_may: bool = False) -> None:
    """Raise Forbidden unless the actor is on `side` of a two-party object with `role` or above
    (or is an operator, where the domain lets operators act)."""
    if actor.is_operator and operator_may:
        return
    if party_side(obj, actor) != side or not actor.has_role(role):
        what = type(obj).__name__.lower()
        raise Forbidden(f"Only the {what}'s {side} ({role.value} role or above) may do this.")


def require_provider_member(*, provider: Organization, actor: Principal, role: Role, doing: str) -> None:
    """Raise Forbidden unless the actor acts for `provider`, a provider organization, with `role`."""
    if actor.organization is None or actor.organization.pk != provider.pk or not actor.has_role(role):
        raise Forbidden(f"Only {role.value}s of the provider organization may {doing}.")
    if not provider.is_provider:
        raise Forbidden("Only provider organizations buy.", code="not_a_provider")


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the last day of a shorter month)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def terms_required(listing: Listing) -> list[dict[str, str]]:
    """The agreements a buyer of this listing accepts, with their current versions: the vendor's
    EULA, the platform's data processing agreement, and a business associate agreement where the
    listing processes patient data."""
    versions = settings.MARKETPLACE_TERMS_VERSIONS
    terms = [
        {"kind": "eula", "title": f"{listing.name} end-user license agreement", "version": listing.eula_version},
        {"kind": "dpa", "title": "Data processing agreement", "version": versions["dpa"]},
    ]
    if listing.processes_patient_data:
        terms.append({"kind": "baa", "title": "Business associate agreement", "version": versions["baa"]})
    return terms


def terms_check(*, listing: Listing, accepted: list[dict[str, Any]], actor: Principal, when: datetime) -> list[dict]:
    """Check that every required agreement is accepted in its current version; return what the
    order records. Raises ValidationFailed on `accepted_terms` naming what is missing or outdated."""
    given = {str(item.get("kind")): str(item.get("version")) for item in accepted if isinstance(item, dict)}
    problems = []
    for term in terms_required(listing):
        if term["kind"] not in given:
            problems.append(f"Accept the {term['title']} (kind '{term['kind']}', version {term['version']}).")
        elif given[term["kind"]] != term["version"]:
            problems.append(
                f"The {term['title']} is now version {term['version']}, not {given[term['kind']]}; read and accept it."
            )
    if problems:
        raise ValidationFailed(
            "Accept the current terms.", code="terms_not_accepted", fields={"accepted_terms": problems}
        )
    return [
        {**term, "accepted_by": actor.label[:200], "accepted_at": when.isoformat()} for term in terms_required(listing)
    ]
