"""Trial helpers: a published listing with trial terms, principals, payloads, and trials (and
their deployments) brought into each state through the real services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Organization, Site
from apps.procurement import services
from apps.procurement.models import Trial
from apps.provisioning.services import deployment_advance
from marketplace.principal import Principal, PrincipalKind, Role
from tests.catalog.factories import publish_listing

TRIAL_DAYS = 14
REGION = "eu-central"
# Patient identifiers the guard must refuse, one of each kind the brief names.
PATIENT_DATA = {
    "ssn": "Call about 123-45-6789 please",
    "mrn": "The study of MRN 00482913 failed",
    "dob": "Patient DOB 03/14/1961 was scanned",
    "nhs": "NHS number 943 476 5919 needs it",
}

CaptureOnCommit = Callable[..., AbstractContextManager[Any]]


def trial_listing(
    vendor: Organization,
    *,
    mode: str = Offering.Mode.CLOUD,
    auto: bool = False,
    trial_days: int = TRIAL_DAYS,
    slug: str = "",
) -> Listing:
    """A published listing of `vendor` with one offering (`mode`) and one plan with trial terms.
    The same slug answers the same listing."""
    slug = slug or f"{vendor.slug}-{mode.replace('_', '-')}-{'auto' if auto else 'manual'}"
    existing = Listing.objects.filter(slug=slug).first()
    if existing is not None:
        return existing
    listing = publish_listing(
        vendor=vendor, name=slug.replace("-", " ").title(), slug=slug, offerings=[(mode, "subscription")]
    )
    Plan.objects.filter(offering__listing=listing).update(trial_days=trial_days, trial_auto_approve=auto)
    return listing


def offering_of(listing: Listing) -> Offering:
    return listing.offerings.get()


def plan_of(listing: Listing) -> Plan:
    return offering_of(listing).plans.get()


def principal_of(organization: Organization, role: Role = Role.MEMBER) -> Principal:
    """A principal acting for `organization` as a member with `role`, for calling services."""
    label = f"test {role.value} of {organization.slug}"
    return Principal(kind=PrincipalKind.MEMBER, label=label, organization=organization, role=role)


def trial_payload(listing: Listing, *, site: Site | None = None, **extra: Any) -> dict[str, Any]:
    """The body of POST /api/v1/trials/ for `listing` (a region for cloud, else `site`)."""
    offering = offering_of(listing)
    payload: dict[str, Any] = {
        "listing": listing.slug,
        "offering": str(offering.public_id),
        "plan": str(plan_of(listing).public_id),
    }
    if site is not None:
        payload["site"] = str(site.public_id)
    elif offering.mode == Offering.Mode.CLOUD:
        payload["region"] = REGION
    payload.update(extra)
    return payload


def request_trial(provider: Organization, listing: Listing, *, site: Site | None = None, notes: str = "") -> Trial:
    """A trial requested through the service by a member of `provider`."""
    offering = offering_of(listing)
    return services.trial_request(
        provider=provider,
        actor=principal_of(provider),
        listing=listing,
        offering=offering,
        plan=plan_of(listing),
        site=site,
        region=REGION if site is None and offering.mode == Offering.Mode.CLOUD else "",
        notes=notes,
    )


def approve(trial: Trial) -> Trial:
    return services.trial_approve(trial=trial, actor=principal_of(trial.vendor))


def trial_in_state(
    state: str,
    *,
    provider: Organization,
    vendor: Organization,
    capture: CaptureOnCommit | None = None,
    settings: Any = None,
) -> Trial:
    """A trial brought to `state` (an open one: requested, approved, provisioning, active,
    failed) the way it happens in production. `capture` is pytest-django's
    `django_capture_on_commit_callbacks`; work queued without it never runs."""
    listing = trial_listing(vendor)
    trial = request_trial(provider, listing)
    if state == Trial.Status.REQUESTED:
        return _fresh(trial)
    if state == Trial.Status.APPROVED:  # the worker has not started yet
        return _fresh(approve(trial))
    if state == Trial.Status.PROVISIONING:  # one step done, the next not yet sent
        trial = approve(trial)
        assert trial.deployment is not None
        deployment_advance(deployment_id=trial.deployment.pk)
        return _fresh(trial)
    assert capture is not None, "pass pytest-django's django_capture_on_commit_callbacks to run the worker"
    if state == Trial.Status.FAILED:
        assert settings is not None, "pass pytest-django's settings to inject a failure"
        with sandbox(settings, fail_step="allocate_tenant"), capture(execute=True):
            approve(trial)
        return _fresh(trial)
    assert state == Trial.Status.ACTIVE, state
    with capture(execute=True):
        approve(trial)
    return _fresh(trial)


def _fresh(trial: Trial) -> Trial:
    return Trial.objects.select_related("deployment", "provider", "vendor", "listing").get(pk=trial.pk)


@contextmanager
def sandbox(settings: Any, **values: Any) -> Iterator[None]:
    """`with sandbox(settings, fail_step="configure"): ...`: the sandbox backend's failure
    injection changed for the block."""
    before = dict(settings.MARKETPLACE_SANDBOX)
    settings.MARKETPLACE_SANDBOX = {**before, **values}
    try:
        yield
    finally:
        settings.MARKETPLACE_SANDBOX = before

