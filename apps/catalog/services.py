"""Writes for the catalog: listings, their facts and files, the review workflow, revisions.

Every transition locks the row, is a no-op when already in the target state, checks the
allowed-transition table, saves, audits and emits its event in one transaction."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count
from django.utils import timezone
from django.utils.text import slugify

from apps.catalog.files import ARTIFACT_POLICY, DOCUMENT_POLICY, IMAGE_POLICY, store_upload
from apps.catalog.freshness import catalog_changed
from apps.catalog.models import (
    Artifact,
    Category,
    Document,
    Listing,
    ListingFacet,
    ListingRevision,
    Modality,
    Offering,
    Plan,
    RegulatoryClearance,
    Review,
    Screenshot,
    Specialty,
    Standard,
    Version,
)
from apps.organizations.models import Organization
from marketplace.audit import audit_record
from marketplace.errors import Conflict, Forbidden, NotFound, ValidationFailed
from marketplace.events import event_emit
from marketplace.principal import Principal, Role
from marketplace.transitions import transition_check

S = Listing.Status
FACT_FIELDS = (
    "name",
    "tagline",
    "description",
    "intended_use",
    "processes_patient_data",
    "deidentified_before_leaving_site",
    "data_residency",
    "security_certifications",
    "support_email",
    "support_url",
    "eula_version",
)
TERM_MODELS: dict[str, type] = {
    "categories": Category,
    "specialties": Specialty,
    "modalities": Modality,
    "standards": Standard,
}
TERM_FACETS = {"categories": "category", "specialties": "specialty", "modalities": "modality", "standards": "standard"}
LISTING_TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.IN_REVIEW},
    S.CHANGES_REQUESTED: {S.IN_REVIEW},
    S.IN_REVIEW: {S.PUBLISHED, S.CHANGES_REQUESTED},
    S.PUBLISHED: {S.SUSPENDED, S.RETIRED},
    S.SUSPENDED: {S.PUBLISHED, S.RETIRED},
    S.RETIRED: set(),
}
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
R = ListingRevision.Status
REVISION_TRANSITIONS: dict[str, set[str]] = {
    R.DRAFT: {R.IN_REVIEW, R.WITHDRAWN},
    R.CHANGES_REQUESTED: {R.IN_REVIEW, R.WITHDRAWN},
    R.IN_REVIEW: {R.APPROVED, R.CHANGES_REQUESTED, R.WITHDRAWN},
    R.APPROVED: set(),
    R.WITHDRAWN: set(),
}
OPEN_REVISION = (R.DRAFT, R.IN_REVIEW, R.CHANGES_REQUESTED)


# --- who may -------------------------------------------------------------------------------


def _require_vendor_side(listing_or_vendor: Listing | Organization, actor: Principal, role: Role = Role.MEMBER) -> None:
    vendor = listing_or_vendor.vendor if isinstance(listing_or_vendor, Listing) else listing_or_vendor
    if actor.organization is None or actor.organization.pk != vendor.pk:
        raise Forbidden("Only the listing's vendor may do this.")
    if not actor.has_role(role):
        raise Forbidden(f"This needs the {role.value} role in {vendor.name}.")


def _require_operator(actor: Principal) -> None:
    if not actor.is_operator:
        raise Forbidden("Only operators may do this.")


def _require_editable(listing: Listing) -> None:
    if listing.status not in EDITABLE:
        raise Conflict(
            f"A {listing.status} listing cannot be edited directly; create a revision instead."
            if listing.status in (S.PUBLISHED, S.SUSPENDED)
            else f"A {listing.status} listing cannot be edited.",
            code="invalid_transition",
            extra={"current_status": listing.status},
        )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.for_field("reason", "A reason is required.")
    if len(reason) > 4000:
        raise ValidationFailed.for_field("reason", "Keep the reason under 4000 characters.")
    return reason


# --- facts ---------------------------------------------------------------------------------


def _terms(field: str, slugs: Iterable[str]) -> list[Any]:
    model = TERM_MODELS[field]
    wanted = list(dict.fromkeys(slugs))
    found = {term.slug: term for term in model.objects.filter(slug__in=wanted)}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise ValidationFailed.for_field(field, f"Unknown {field}: {', '.join(unknown)}.")
    return [found[slug] for slug in wanted]


def _validate_clearances(clearances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for index, item in enumerate(clearances):
        authority = item.get("authority")
        if authority not in RegulatoryClearance.Authority.values:
            raise ValidationFailed.for_field(
                f"clearances.{index}.authority", f"Choose one of: {', '.join(RegulatoryClearance.Authority.values)}."
            )
        cleared_on = item.get("cleared_on")
        if isinstance(cleared_on, str) and cleared_on:
            try:
                cleared_on = datetime.date.fromisoformat(cleared_on)
            except ValueError:
                raise ValidationFailed.for_field(f"clearances.{index}.cleared_on", "Use YYYY-MM-DD.") from None
        cleaned.append(
            {
                "authority": authority,
                "device_class": str(item.get("device_class") or "")[:20],
                "identifier": str(item.get("identifier") or "")[:60],
                "cleared_on": cleared_on or None,
            }
        )
    return cleaned


def _apply_facts(listing: Listing, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set facts, terms and clearances from `data`; return (old, new) of what changed."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for field in FACT_FIELDS:
        if field in data and getattr(listing, field) != data[field]:
            old[field], new[field] = getattr(listing, field), data[field]
            setattr(listing, field, data[field])
    listing.full_clean(exclude=["logo", "vendor", "slug"])
    listing.save()
    for field in TERM_MODELS:
        if field in data:
            terms = _terms(field, data[field])
            before = sorted(getattr(listing, field).values_list("slug", flat=True))
            after = sorted(term.slug for term in terms)
            if before != after:
                getattr(listing, field).set(terms)
                old[field], new[field] = before, after
    if "clearances" in data:
        cleaned = _validate_clearances(data["clearances"])
        before = clearances_snapshot(listing)
        listing.clearances.all().delete()
        RegulatoryClearance.objects.bulk_create(RegulatoryClearance(listing=listing, **item) for item in cleaned)
        after = clearances_snapshot(listing)
        if before != after:
            old["clearances"], new["clearances"] = before, after
    return old, new


def clearances_snapshot(listing: Listing) -> list[dict[str, Any]]:
    return [
        {
            "authority": c.authority,
            "device_class": c.device_class,
            "identifier": c.identifier,
            "cleared_on": c.cleared_on.isoformat() if c.cleared_on else None,
        }
        for c in listing.clearances.all().order_by("authority", "identifier")
    ]


def listing_facts_snapshot(listing: Listing) -> dict[str, Any]:
    """The facts a revision copies and reviewers compare, its logo and screenshots included."""
    snapshot: dict[str, Any] = {field: getattr(listing, field) for field in FACT_FIELDS}
    for field in TERM_MODELS:
        snapshot[field] = sorted(getattr(listing, field).values_list("slug", flat=True))
    snapshot["clearances"] = clearances_snapshot(listing)
    snapshot.update(_media_snapshot(listing))
    return snapshot


def _screenshot_entry(screenshot: Screenshot) -> dict[str, Any]:
    return {
        "id": str(screenshot.public_id),
        "caption": screenshot.caption,
        "file": screenshot.file.name,
        "filename": screenshot.filename,
        "content_type": screenshot.content_type,
        "size": screenshot.size,
        "sha256": screenshot.sha256,
    }


def _media_snapshot(listing: Listing) -> dict[str, Any]:
    """The logo (its stored name) and the screenshots in order, as a revision records them: a
    revision's proposed screenshots live only in its data until it is approved."""
    return {
        "logo": listing.logo.name or "",
        "screenshots": [_screenshot_entry(screenshot) for screenshot in listing.screenshots.all()],
    }


def _apply_media(listing: Listing, changes: dict[str, dict[str, Any]]) -> None:
    """Make an approved revision's logo and screenshots the live ones (inside its transaction)."""
    if "logo" in changes:
        listing.logo.name = changes["logo"]["new"] or ""
        listing.save(update_fields=["logo", "updated_at"])
    if "screenshots" not in changes:
        return
    wanted = changes["screenshots"]["new"] or []
    live = {str(screenshot.public_id): screenshot for screenshot in listing.screenshots.all()}
    kept = {entry["id"] for entry in wanted}
    for public_id, screenshot in live.items():
        if public_id not in kept:
            screenshot.delete()
    for position, entry in enumerate(wanted):
        screenshot = live.get(entry["id"])
        if screenshot is None:
            Screenshot.objects.create(
                public_id=entry["id"],
                listing=listing,
                caption=entry["caption"],
                position=position,
                file=entry["file"],
                filename=entry["filename"],
                content_type=entry["content_type"],
                size=entry["size"],
                sha256=entry["sha256"],
            )
        elif (screenshot.caption, screenshot.position) != (entry["caption"], position):
            screenshot.caption, screenshot.position = entry["caption"], position
            screenshot.save(update_fields=["caption", "position", "updated_at"])


def listing_refresh_index(*, listing: Listing) -> None:
    """Recompute the search columns and facet rows of one listing."""
    listing = Listing.objects.select_related("vendor").get(pk=listing.pk)
    offerings = list(listing.offerings.filter(is_active=True).prefetch_related("plans"))
    # Only offerings someone can actually get (an active plan) count for the facet.
    modes = sorted({o.mode for o in offerings if any(plan.is_active for plan in o.plans.all())})
    pricing = sorted({plan.pricing_model for o in offerings for plan in o.plans.all() if plan.is_active})
    term_names: list[str] = []
    rows: list[ListingFacet] = []
    for field, facet in TERM_FACETS.items():
        for term in getattr(listing, field).all():
            term_names.append(term.name)
            rows.append(ListingFacet(listing=listing, facet=facet, value=term.slug, label=term.name))
    authorities = dict(RegulatoryClearance.Authority.choices)
    for authority in sorted(set(listing.clearances.values_list("authority", flat=True))):
        rows.append(ListingFacet(listing=listing, facet="regulatory", value=authority, label=authorities[authority]))
    mode_labels = dict(Offering.Mode.choices)
    rows += [ListingFacet(listing=listing, facet="deployment_mode", value=m, label=mode_labels[m]) for m in modes]
    price_labels = dict(Plan.PricingModel.choices)
    rows += [ListingFacet(listing=listing, facet="pricing_model", value=p, label=price_labels[p]) for p in pricing]
    rows.append(ListingFacet(listing=listing, facet="vendor", value=listing.vendor.slug, label=listing.vendor.name))
    Listing.objects.filter(pk=listing.pk).update(
        search_vendor=listing.vendor.name,
        search_terms=" ".join(term_names),
        deployment_modes=",".join(modes),
        pricing_models=",".join(pricing),
    )
    ListingFacet.objects.filter(listing=listing).delete()
    ListingFacet.objects.bulk_create(rows)
    catalog_changed()  # bulk writes send no save signal; cached search counts read these rows


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "app"
    slug, counter = base, 2
    while Listing.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def listing_create(*, vendor: Organization, actor: Principal, data: dict[str, Any]) -> Listing:
    """A vendor creates a draft listing. Raises ValidationFailed naming bad fields."""
    _require_vendor_side(vendor, actor)
    if not vendor.is_vendor:
        raise Forbidden("Only vendor organizations publish listings.", code="not_a_vendor")
    with transaction.atomic():
        slug = data.get("slug") or _unique_slug(data.get("name", ""))
        if len(slug) > 80 or not re.fullmatch(r"[-a-zA-Z0-9_]+", slug):
            raise ValidationFailed.for_field("slug", "Use at most 80 letters, digits, hyphens or underscores.")
        if Listing.objects.filter(slug=slug).exists():
            raise ValidationFailed.for_field("slug", "This slug is taken.")
        listing = Listing(vendor=vendor, slug=slug, name=data.get("name", ""))
        try:
            with transaction.atomic():
                _, new = _apply_facts(listing, data)
        except IntegrityError:
            raise ValidationFailed.for_field("slug", "This slug is taken.") from None
        listing_refresh_index(listing=listing)
        audit_record(actor=actor, action="catalog.listing.created", target=listing, organization=vendor, new=new)
        event_emit(type="listing.draft", subject=listing, organization=vendor, data={"slug": listing.slug})
    return listing


def listing_update(*, listing: Listing, actor: Principal, data: dict[str, Any]) -> Listing:
    """The vendor edits a draft (or a listing sent back with changes requested)."""
    _require_vendor_side(listing, actor)
    with transaction.atomic():
        listing = Listing.objects.select_for_update().select_related("vendor").get(pk=listing.pk)
        _require_editable(listing)
        old, new = _apply_facts(listing, data)
        if new:
            listing_refresh_index(listing=listing)
            audit_record(
                actor=actor,
                action="catalog.listing.updated",
                target=listing,
                organization=listing.vendor,
                old=old,
                new=new,
            )
    return listing


SCREENSHOTS_MAX = 20


def _require_media_editable(listing: Listing) -> None:
    """A draft's logo and screenshots change at once; a live listing's only through a reviewed
    revision (what the store shows has been reviewed)."""
    if listing.status == S.RETIRED:
        raise Conflict("A retired listing cannot change.", code="invalid_transition")
    _require_not_in_review(listing)
    if listing.status in (S.PUBLISHED, S.SUSPENDED):
        raise Conflict(
            "The logo and screenshots of a live listing change through a revision: create one "
            f"(POST /api/v1/apps/{listing.slug}/revisions/), upload to it and submit it for review.",
            code="revision_required",
            extra={"current_status": listing.status},
        )


def _caption(caption: str | None) -> str:
    caption = (caption or "").strip()
    if len(caption) > 200:
        raise ValidationFailed.for_field("caption", "Keep the caption to 200 characters.")
    from marketplace.patient_data import guard_patient_data

    guard_patient_data({"caption": caption})
    return caption


def _require_room_for_screenshot(count: int) -> None:
    if count >= SCREENSHOTS_MAX:
        raise ValidationFailed.for_field(
            "file", f"A listing shows at most {SCREENSHOTS_MAX} screenshots; remove one first."
        )


def listing_set_logo(*, listing: Listing, actor: Principal, upload: UploadedFile | None) -> Listing:
    """The vendor sets a draft's logo (a live listing's changes through a revision)."""
    _require_vendor_side(listing, actor)
    _require_media_editable(listing)
    stored = store_upload(upload=upload, policy=IMAGE_POLICY, field="file", folder="listings/logos")
    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=listing.pk)
        old = listing.logo.name
        listing.logo.name = stored.name
        listing.save(update_fields=["logo", "updated_at"])
        audit_record(
            actor=actor,
            action="catalog.listing.logo_changed",
            target=listing,
            organization=listing.vendor,
            old={"logo": old},
            new={"logo": stored.name, "sha256": stored.sha256},
        )
    return listing


# --- the review workflow ---------------------------------------------------------------------


def _transition(
    *,
    listing: Listing,
    actor: Principal,
    target: str,
    action: str,
    event: str | None,
    reason: str = "",
    extra_fields: dict[str, Any] | None = None,
    before_save: Any = None,
    from_states: Collection[str] | None = None,
) -> Listing:
    """Move the listing to `target` (a no-op when it is there already). `from_states` narrows
    the table for verbs that share a target: only `in_review` is approved, only `suspended`
    reinstated."""
    with transaction.atomic():
        listing = Listing.objects.select_for_update().select_related("vendor").get(pk=listing.pk)
        if listing.status == target:
            return listing
        allowed = LISTING_TRANSITIONS
        if from_states is not None:
            allowed = {state: targets for state, targets in LISTING_TRANSITIONS.items() if state in from_states}
        transition_check(what="the listing", current=listing.status, target=target, allowed=allowed)
        if before_save is not None:
            before_save(listing)
        old_status = listing.status
        listing.status = target
        fields = ["status", "updated_at"]
        if reason or target in (S.IN_REVIEW, S.PUBLISHED):
            listing.review_reason = reason
            fields.append("review_reason")
        for name, value in (extra_fields or {}).items():
            setattr(listing, name, value)
            fields.append(name)
        listing.save(update_fields=fields)
        audit_record(
            actor=actor,
            action=action,
            target=listing,
            organization=listing.vendor,
            old={"status": old_status},
            new={"status": target, **({"reason": reason} if reason else {})},
        )
        if event:
            event_emit(
                type=event,
                subject=listing,
                organization=listing.vendor,
                data={"slug": listing.slug, **({"reason": reason} if reason else {})},
            )
    return listing


def _check_ready_for_review(listing: Listing) -> None:
    missing: dict[str, list[str]] = {}
    if not listing.tagline:
        missing["tagline"] = ["Required before review."]
    if not listing.description:
        missing["description"] = ["Required before review."]
    if not listing.intended_use:
        missing["intended_use"] = ["Required before review."]
    if not listing.categories.exists():
        missing["categories"] = ["Choose at least one category."]
    if not Plan.objects.filter(offering__listing=listing, offering__is_active=True, is_active=True).exists():
        missing["offerings"] = ["Add at least one offering with a plan."]
    if missing:
        raise ValidationFailed("The listing is not ready for review.", fields=missing)


def listing_submit(*, listing: Listing, actor: Principal) -> Listing:
    """The vendor submits a draft for review. Only verified vendors may."""
    _require_vendor_side(listing, actor)
    if not listing.vendor.is_verified:
        raise Forbidden(
            "Your organization must be verified by an operator before it submits listings.", code="vendor_unverified"
        )

    def check(current: Listing) -> None:
        _check_ready_for_review(current)

    return _transition(
        listing=listing,
        actor=actor,
        target=S.IN_REVIEW,
        action="catalog.listing.submitted",
        event="listing.in_review",
        extra_fields={"submitted_at": timezone.now()},
        before_save=check,
    )


def listing_approve(*, listing: Listing, actor: Principal) -> Listing:
    """An operator publishes a listing in review: it is searchable at once."""
    _require_operator(actor)
    return _transition(
        listing=listing,
        actor=actor,
        target=S.PUBLISHED,
        action="catalog.listing.published",
        event="listing.published",
        extra_fields={"published_at": listing.published_at or timezone.now()},
        from_states=(S.IN_REVIEW,),
    )


def listing_request_changes(*, listing: Listing, actor: Principal, reason: str) -> Listing:
    _require_operator(actor)
    return _transition(
        listing=listing,
        actor=actor,
        target=S.CHANGES_REQUESTED,
        action="catalog.listing.changes_requested",
        event="listing.changes_requested",
        reason=_reason(reason),
    )


def listing_suspend(*, listing: Listing, actor: Principal, reason: str) -> Listing:
    _require_operator(actor)
    return _transition(
        listing=listing,
        actor=actor,
        target=S.SUSPENDED,
        action="catalog.listing.suspended",
        event="listing.suspended",
        reason=_reason(reason),
    )


def listing_reinstate(*, listing: Listing, actor: Principal) -> Listing:
    _require_operator(actor)
    return _transition(
        listing=listing,
        actor=actor,
        target=S.PUBLISHED,
        action="catalog.listing.reinstated",
        event="listing.reinstated",
        from_states=(S.SUSPENDED,),
    )


def listing_retire(*, listing: Listing, actor: Principal, reason: str = "") -> Listing:
    """The vendor's admins or an operator take a listing off the store for good."""
    if not actor.is_operator:
        _require_vendor_side(listing, actor, Role.ADMIN)
    return _transition(
        listing=listing,
        actor=actor,
        target=S.RETIRED,
        action="catalog.listing.retired",
        event="listing.retired",
        reason=(reason or "").strip()[:4000],
    )


# --- offerings, plans, versions, documents ---------------------------------------------------

OFFERING_FIELDS = (
    "mode",
    "name",
    "regions",
    "requirement_os",
    "requirement_cpu_cores",
    "requirement_memory_gb",
    "requirement_gpu",
    "requirement_disk_gb",
)
PLAN_FIELDS = (
    "name",
    "pricing_model",
    "price",
    "currency",
    "billing_period",
    "usage_unit",
    "trial_days",
    "trial_auto_approve",
)


def _require_catalog_edit(listing: Listing, actor: Principal) -> Listing:
    _require_vendor_side(listing, actor)
    return Listing.objects.select_for_update().select_related("vendor").get(pk=listing.pk)


def _require_structure_editable(listing: Listing) -> None:
    """Offerings and plans change freely in drafts; once live, only additions and retirements."""
    if listing.status == S.RETIRED:
        raise Conflict("A retired listing cannot change.", code="invalid_transition")
    _require_not_in_review(listing)


def _require_not_in_review(listing: Listing) -> None:
    """What operators review holds still while they review it: the vendor changes a listing
    before submitting it or after the decision, not during the review."""
    if listing.status == S.IN_REVIEW:
        raise Conflict(
            "This listing is being reviewed and cannot change until the review ends; "
            "an operator can request changes to hand it back.",
            code="in_review",
            extra={"current_status": listing.status},
        )


def _validate_offering(offering: Offering) -> None:
    if offering.mode == Offering.Mode.CLOUD and not offering.regions:
        raise ValidationFailed.for_field("regions", "A cloud offering names at least one region.")
    if not isinstance(offering.regions, list) or not all(isinstance(r, str) and r for r in offering.regions):
        raise ValidationFailed.for_field("regions", 'A list of region codes, e.g. ["eu-central"].')
    offering.full_clean(exclude=["listing"])


def offering_create(*, listing: Listing, actor: Principal, data: dict[str, Any]) -> Offering:
    with transaction.atomic():
        listing = _require_catalog_edit(listing, actor)
        _require_structure_editable(listing)
        offering = Offering(listing=listing, **{k: data[k] for k in OFFERING_FIELDS if k in data})
        _validate_offering(offering)
        offering.save()
        listing_refresh_index(listing=listing)
        audit_record(
            actor=actor,
            action="catalog.offering.created",
            target=offering,
            organization=listing.vendor,
            new={k: getattr(offering, k) for k in OFFERING_FIELDS},
        )
    return offering


def _ensure_still_buyable(listing: Listing) -> None:
    """A live listing keeps at least one active plan on an active offering (raised inside the
    transaction, so the deactivation is rolled back)."""
    if (
        listing.status in (S.PUBLISHED, S.SUSPENDED)
        and not Plan.objects.filter(offering__listing=listing, offering__is_active=True, is_active=True).exists()
    ):
        raise Conflict(
            "A live listing keeps at least one active plan; add another before deactivating this one.",
            code="last_plan",
        )


def offering_update(*, offering: Offering, actor: Principal, data: dict[str, Any]) -> Offering:
    with transaction.atomic():
        listing = _require_catalog_edit(offering.listing, actor)
        _require_not_in_review(listing)
        offering = Offering.objects.select_for_update().get(pk=offering.pk)
        changes = {k: data[k] for k in OFFERING_FIELDS if k in data and getattr(offering, k) != data[k]}
        if "is_active" in data and data["is_active"] != offering.is_active:
            changes["is_active"] = data["is_active"]
        if not changes:
            return offering
        if listing.status not in EDITABLE and set(changes) - {"is_active"}:
            raise Conflict(
                "A live offering cannot be changed; add a new offering and deactivate this one.",
                code="invalid_transition",
            )
        old = {k: getattr(offering, k) for k in changes}
        for key, value in changes.items():
            setattr(offering, key, value)
        _validate_offering(offering)
        offering.save()
        _ensure_still_buyable(listing)
        listing_refresh_index(listing=listing)
        audit_record(
            actor=actor,
            action="catalog.offering.updated",
            target=offering,
            organization=listing.vendor,
            old=old,
            new=changes,
        )
    return offering


def _validate_plan(plan: Plan) -> None:
    model = plan.pricing_model
    if model == Plan.PricingModel.SUBSCRIPTION:
        if plan.price is None:
            raise ValidationFailed.for_field("price", "A subscription plan has a price.")
        if not plan.billing_period:
            raise ValidationFailed.for_field("billing_period", "A subscription plan has a billing period.")
    if model == Plan.PricingModel.USAGE:
        if plan.price is None:
            raise ValidationFailed.for_field("price", "A usage-based plan has a price per unit.")
        if not plan.usage_unit:
            raise ValidationFailed.for_field("usage_unit", "A usage-based plan names its unit, e.g. 'study'.")
    if model in (Plan.PricingModel.FREE, Plan.PricingModel.QUOTE_ONLY):
        plan.price = Decimal("0") if model == Plan.PricingModel.FREE else None
    if plan.price is not None and model != Plan.PricingModel.FREE and not plan.currency:
        raise ValidationFailed.for_field("currency", "A priced plan names its currency (ISO 4217).")
    if model in (Plan.PricingModel.FREE, Plan.PricingModel.QUOTE_ONLY):
        plan.billing_period = ""
        plan.usage_unit = ""
    if plan.trial_auto_approve and plan.trial_days <= 0:
        raise ValidationFailed.for_field("trial_auto_approve", "Auto-approved trials need trial days.")
    if plan.trial_days > 365:
        raise ValidationFailed.for_field("trial_days", "A trial lasts at most 365 days.")
    plan.full_clean(exclude=["offering"])


def plan_create(*, offering: Offering, actor: Principal, data: dict[str, Any]) -> Plan:
    with transaction.atomic():
        listing = _require_catalog_edit(offering.listing, actor)
        _require_structure_editable(listing)
        plan = Plan(offering=offering, **{k: data[k] for k in PLAN_FIELDS if k in data})
        _validate_plan(plan)
        plan.save()
        listing_refresh_index(listing=listing)
        audit_record(
            actor=actor,
            action="catalog.plan.created",
            target=plan,
            organization=listing.vendor,
            new={k: getattr(plan, k) for k in PLAN_FIELDS},
        )
    return plan


def plan_update(*, plan: Plan, actor: Principal, data: dict[str, Any]) -> Plan:
    with transaction.atomic():
        listing = _require_catalog_edit(plan.offering.listing, actor)
        _require_not_in_review(listing)
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        changes = {k: data[k] for k in PLAN_FIELDS if k in data and getattr(plan, k) != data[k]}
        if "is_active" in data and data["is_active"] != plan.is_active:
            changes["is_active"] = data["is_active"]
        if not changes:
            return plan
        if listing.status not in EDITABLE and set(changes) - {"is_active"}:
            raise Conflict(
                "A live plan cannot be changed; add a new plan and deactivate this one.", code="invalid_transition"
            )
        old = {k: getattr(plan, k) for k in changes}
        for key, value in changes.items():
            setattr(plan, key, value)
        _validate_plan(plan)
        plan.save()
        _ensure_still_buyable(listing)
        listing_refresh_index(listing=listing)
        audit_record(
            actor=actor, action="catalog.plan.updated", target=plan, organization=listing.vendor, old=old, new=changes
        )
    return plan


def version_create(*, listing: Listing, actor: Principal, data: dict[str, Any]) -> Version:
    """A release of the listing; vendors' pipelines add versions to live listings too."""
    with transaction.atomic():
        listing = _require_catalog_edit(listing, actor)
        _require_structure_editable(listing)
        if Version.objects.filter(listing=listing, version=data.get("version")).exists():
            raise ValidationFailed.for_field("version", "This version already exists.")
        version = Version(
            listing=listing,
            version=data.get("version", ""),
            release_notes=data.get("release_notes", ""),
            released_on=data.get("released_on") or timezone.now().date(),
        )
        version.full_clean(exclude=["listing"])
        version.save()
        audit_record(
            actor=actor,
            action="catalog.version.created",
            target=version,
            organization=listing.vendor,
            new={"version": version.version},
        )
        if listing.status == S.PUBLISHED:
            event_emit(
                type="listing.version_released",
                subject=listing,
                organization=listing.vendor,
                data={"slug": listing.slug, "version": version.version},
            )
    return version


def artifact_add(*, version: Version, actor: Principal, kind: str, upload: UploadedFile | None) -> Artifact:
    _require_vendor_side(version.listing, actor)
    _require_not_in_review(version.listing)
    if kind not in Artifact.Kind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(Artifact.Kind.values)}.")
    stored = store_upload(upload=upload, policy=ARTIFACT_POLICY, field="file", folder="artifacts")
    with transaction.atomic():
        artifact = Artifact.objects.create(
            version=version,
            kind=kind,
            file=stored.name,
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
        )
        audit_record(
            actor=actor,
            action="catalog.artifact.added",
            target=artifact,
            organization=version.listing.vendor,
            new={"version": version.version, "filename": stored.filename, "sha256": stored.sha256},
        )
    return artifact


def document_add(
    *, listing: Listing, actor: Principal, kind: str, title: str, visibility: str, upload: UploadedFile | None
) -> Document:
    _require_vendor_side(listing, actor)
    if listing.status == S.RETIRED:
        raise Conflict("A retired listing cannot change.", code="invalid_transition")
    _require_not_in_review(listing)
    if kind not in Document.Kind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(Document.Kind.values)}.")
    if visibility not in Document.Visibility.values:
        raise ValidationFailed.for_field("visibility", f"Choose one of: {', '.join(Document.Visibility.values)}.")
    title = (title or "").strip() or dict(Document.Kind.choices)[kind]
    stored = store_upload(upload=upload, policy=DOCUMENT_POLICY, field="file", folder="documents")
    with transaction.atomic():
        document = Document.objects.create(
            listing=listing,
            kind=kind,
            title=title[:200],
            visibility=visibility,
            file=stored.name,
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
        )
        audit_record(
            actor=actor,
            action="catalog.document.added",
            target=document,
            organization=listing.vendor,
            new={"kind": kind, "visibility": visibility, "filename": stored.filename, "sha256": stored.sha256},
        )
    return document


def document_remove(*, document: Document, actor: Principal) -> None:
    _require_vendor_side(document.listing, actor)
    _require_not_in_review(document.listing)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="catalog.document.removed",
            target=document,
            organization=document.listing.vendor,
            old={"kind": document.kind, "filename": document.filename},
        )
        document.delete()


def screenshot_add(*, listing: Listing, actor: Principal, caption: str, upload: UploadedFile | None) -> Screenshot:
    """The vendor adds a screenshot to a draft, after the others (a live listing's screenshots
    change through a revision)."""
    _require_vendor_side(listing, actor)
    _require_media_editable(listing)
    caption = _caption(caption)
    _require_room_for_screenshot(listing.screenshots.count())
    stored = store_upload(upload=upload, policy=IMAGE_POLICY, field="file", folder="listings/screenshots")
    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=listing.pk)  # positions are counted under it
        _require_media_editable(listing)
        position = listing.screenshots.count()
        _require_room_for_screenshot(position)
        screenshot = Screenshot.objects.create(
            listing=listing,
            caption=caption,
            position=position,
            file=stored.name,
            filename=stored.filename,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
        )
        audit_record(
            actor=actor,
            action="catalog.screenshot.added",
            target=screenshot,
            organization=listing.vendor,
            new={"filename": stored.filename},
        )
    return screenshot


def screenshot_remove(*, screenshot: Screenshot, actor: Principal) -> None:
    """The vendor removes a draft's screenshot; the ones after it move up."""
    _require_vendor_side(screenshot.listing, actor)
    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=screenshot.listing_id)
        _require_media_editable(listing)
        audit_record(
            actor=actor,
            action="catalog.screenshot.removed",
            target=screenshot,
            organization=listing.vendor,
            old={"filename": screenshot.filename, "caption": screenshot.caption},
        )
        screenshot.delete()
        for position, remaining in enumerate(listing.screenshots.all()):
            if remaining.position != position:
                remaining.position = position
                remaining.save(update_fields=["position", "updated_at"])


# --- revisions of live listings --------------------------------------------------------------


def revision_diff(revision: ListingRevision) -> dict[str, dict[str, Any]]:
    """What the revision changes: {field: {"old", "new"}} against the live facts it was made from."""
    return {
        field: {"old": revision.base.get(field), "new": value}
        for field, value in revision.data.items()
        if revision.base.get(field) != value
    }


def _normalize_revision_data(listing: Listing, data: dict[str, Any]) -> dict[str, Any]:
    """Validate proposed facts without touching the live listing."""
    cleaned: dict[str, Any] = {}
    probe = Listing(vendor=listing.vendor, slug=listing.slug, name=listing.name)
    for field in FACT_FIELDS:
        if field in data:
            setattr(probe, field, data[field])
            cleaned[field] = data[field]
    probe.full_clean(exclude=["logo", "vendor", "slug"], validate_unique=False)
    for field in TERM_MODELS:
        if field in data:
            cleaned[field] = sorted(term.slug for term in _terms(field, data[field]))
    if "clearances" in data:
        cleaned["clearances"] = [
            {**item, "cleared_on": item["cleared_on"].isoformat() if item["cleared_on"] else None}
            for item in _validate_clearances(data["clearances"])
        ]
    return cleaned


def revision_create(*, listing: Listing, actor: Principal, data: dict[str, Any]) -> ListingRevision:
    """The vendor proposes changes to a live listing; the live version stays until approved."""
    _require_vendor_side(listing, actor)
    with transaction.atomic():
        listing = Listing.objects.select_for_update().select_related("vendor").get(pk=listing.pk)
        if listing.status not in (S.PUBLISHED, S.SUSPENDED):
            raise Conflict(
                "Only a published or suspended listing is changed through a revision; edit the draft directly.",
                code="invalid_transition",
                extra={"current_status": listing.status},
            )
        existing = listing.revisions.filter(status__in=OPEN_REVISION).first()
        if existing is not None:
            raise Conflict(
                "This listing already has an open revision.",
                code="open_revision",
                extra={"revision": str(existing.public_id)},
            )
        base = listing_facts_snapshot(listing)
        proposed = {**base, **_normalize_revision_data(listing, data)}
        revision = ListingRevision.objects.create(listing=listing, data=proposed, base=base)
        audit_record(
            actor=actor,
            action="catalog.revision.created",
            target=revision,
            organization=listing.vendor,
            new={"changes": sorted(revision_diff(revision))},
        )
    return revision


def revision_update(*, revision: ListingRevision, actor: Principal, data: dict[str, Any]) -> ListingRevision:
    _require_vendor_side(revision.listing, actor)
    with transaction.atomic():
        revision = ListingRevision.objects.select_for_update().select_related("listing__vendor").get(pk=revision.pk)
        if revision.status not in (R.DRAFT, R.CHANGES_REQUESTED):
            raise Conflict(f"A {revision.status} revision cannot be edited.", code="invalid_transition")
        cleaned = _normalize_revision_data(revision.listing, data)
        old = {k: revision.data.get(k) for k in cleaned if revision.data.get(k) != cleaned[k]}
        if not old:
            return revision
        revision.data = {**revision.data, **cleaned}
        revision.save(update_fields=["data", "updated_at"])
        audit_record(
            actor=actor,
            action="catalog.revision.updated",
            target=revision,
            organization=revision.listing.vendor,
            old=old,
            new={k: cleaned[k] for k in old},
        )
    return revision


def _lock_editable_revision(revision: ListingRevision, actor: Principal) -> ListingRevision:
    """The revision locked for a change of its media; 409 unless it is a draft or has changes
    requested. Revisions made before media were part of revisions get the live media first."""
    _require_vendor_side(revision.listing, actor)
    revision = ListingRevision.objects.select_for_update().select_related("listing__vendor").get(pk=revision.pk)
    if revision.status not in (R.DRAFT, R.CHANGES_REQUESTED):
        raise Conflict(
            f"A {revision.status} revision cannot be edited.",
            code="invalid_transition",
            extra={"current_status": revision.status},
        )
    if "logo" not in revision.base or "screenshots" not in revision.base:
        live = _media_snapshot(revision.listing)
        revision.base = {**live, **revision.base}
        revision.data = {**live, **revision.data}
    return revision


def _save_media(revision: ListingRevision, actor: Principal, *, action: str, old: Any, new: Any) -> None:
    revision.save(update_fields=["base", "data", "updated_at"])
    audit_record(
        actor=actor, action=action, target=revision, organization=revision.listing.vendor, old=old, new=new
    )


def revision_set_logo(*, revision: ListingRevision, actor: Principal, upload: UploadedFile | None) -> ListingRevision:
    """Propose a new logo for a live listing; the store shows it once the revision is approved."""
    _require_vendor_side(revision.listing, actor)
    stored = store_upload(upload=upload, policy=IMAGE_POLICY, field="file", folder="listings/logos")
    with transaction.atomic():
        revision = _lock_editable_revision(revision, actor)
        old = revision.data["logo"]
        revision.data = {**revision.data, "logo": stored.name}
        _save_media(
            revision,
            actor,
            action="catalog.revision.logo_changed",
            old={"logo": old},
            new={"logo": stored.name, "sha256": stored.sha256},
        )
    return revision


def revision_screenshot_add(
    *, revision: ListingRevision, actor: Principal, caption: str, upload: UploadedFile | None
) -> ListingRevision:
    """Propose a screenshot for a live listing, after the others."""
    _require_vendor_side(revision.listing, actor)
    caption = _caption(caption)
    stored = store_upload(upload=upload, policy=IMAGE_POLICY, field="file", folder="listings/screenshots")
    with transaction.atomic():
        revision = _lock_editable_revision(revision, actor)
        screenshots = list(revision.data["screenshots"])
        _require_room_for_screenshot(len(screenshots))
        entry = {
            "id": str(uuid.uuid4()),
            "caption": caption,
            "file": stored.name,
            "filename": stored.filename,
            "content_type": stored.content_type,
            "size": stored.size,
            "sha256": stored.sha256,
        }
        revision.data = {**revision.data, "screenshots": [*screenshots, entry]}
        _save_media(
            revision,
            actor,
            action="catalog.revision.screenshot_added",
            old=None,
            new={"screenshot": entry["id"], "filename": stored.filename},
        )
    return revision


def revision_screenshot_remove(*, revision: ListingRevision, actor: Principal, screenshot_id: str) -> ListingRevision:
    """Propose to remove a screenshot (a live one, or one this revision added)."""
    with transaction.atomic():
        revision = _lock_editable_revision(revision, actor)
        screenshots = list(revision.data["screenshots"])
        removed = next((entry for entry in screenshots if entry["id"] == str(screenshot_id)), None)
        if removed is None:
            raise NotFound("This revision has no such screenshot.")
        revision.data = {**revision.data, "screenshots": [entry for entry in screenshots if entry is not removed]}
        _save_media(
            revision,
            actor,
            action="catalog.revision.screenshot_removed",
            old={"screenshot": removed["id"], "filename": removed["filename"]},
            new=None,
        )
    return revision


def revision_media(revision: ListingRevision) -> dict[str, Any]:
    """The logo and screenshots the listing shows once the revision is approved (those of the
    live listing for a revision that proposes none)."""
    media = {key: revision.data[key] for key in ("logo", "screenshots") if key in revision.data}
    if len(media) < 2:
        media = {**_media_snapshot(revision.listing), **media}
    return media


def _revision_transition(
    *, revision: ListingRevision, actor: Principal, target: str, action: str, event: str | None, reason: str = ""
) -> ListingRevision:
    with transaction.atomic():
        revision = ListingRevision.objects.select_for_update().select_related("listing__vendor").get(pk=revision.pk)
        if revision.status == target:
            return revision
        transition_check(what="the revision", current=revision.status, target=target, allowed=REVISION_TRANSITIONS)
        listing = Listing.objects.select_for_update().select_related("vendor").get(pk=revision.listing_id)
        if target in (R.IN_REVIEW, R.APPROVED) and listing.status not in (S.PUBLISHED, S.SUSPENDED):
            raise Conflict(
                f"The listing is {listing.status}; its revision can only be withdrawn.",
                code="invalid_transition",
                extra={"current_status": revision.status, "listing_status": listing.status},
            )
        old_status = revision.status
        revision.status = target
        revision.review_reason = reason
        fields = ["status", "review_reason", "updated_at"]
        if target == R.IN_REVIEW:
            if not revision_diff(revision):
                raise ValidationFailed.for_field("data", "The revision changes nothing.")
            revision.submitted_at = timezone.now()
            fields.append("submitted_at")
        if target in (R.APPROVED, R.CHANGES_REQUESTED):
            revision.reviewed_at = timezone.now()
            fields.append("reviewed_at")
        if target == R.APPROVED:
            changes = revision_diff(revision)
            _apply_facts(listing, {field: change["new"] for field, change in changes.items()})
            _apply_media(listing, changes)
            listing_refresh_index(listing=listing)
        revision.save(update_fields=fields)
        audit_record(
            actor=actor,
            action=action,
            target=revision,
            organization=listing.vendor,
            old={"status": old_status},
            new={"status": target, **({"reason": reason} if reason else {})},
        )
        if event:
            event_emit(
                type=event,
                subject=listing,
                organization=listing.vendor,
                data={
                    "slug": listing.slug,
                    "revision": str(revision.public_id),
                    **({"reason": reason} if reason else {}),
                },
            )
    return revision


def revision_submit(*, revision: ListingRevision, actor: Principal) -> ListingRevision:
    _require_vendor_side(revision.listing, actor)
    return _revision_transition(
        revision=revision,
        actor=actor,
        target=R.IN_REVIEW,
        action="catalog.revision.submitted",
        event="listing.revision_submitted",
    )


def revision_approve(*, revision: ListingRevision, actor: Principal) -> ListingRevision:
    """An operator approves a revision: its facts replace the live ones at once."""
    _require_operator(actor)
    return _revision_transition(
        revision=revision,
        actor=actor,
        target=R.APPROVED,
        action="catalog.revision.approved",
        event="listing.revision_approved",
    )


def revision_request_changes(*, revision: ListingRevision, actor: Principal, reason: str) -> ListingRevision:
    _require_operator(actor)
    return _revision_transition(
        revision=revision,
        actor=actor,
        target=R.CHANGES_REQUESTED,
        action="catalog.revision.changes_requested",
        event="listing.revision_changes_requested",
        reason=_reason(reason),
    )


def revision_withdraw(*, revision: ListingRevision, actor: Principal) -> ListingRevision:
    _require_vendor_side(revision.listing, actor)
    return _revision_transition(
        revision=revision, actor=actor, target=R.WITHDRAWN, action="catalog.revision.withdrawn", event=None
    )


def vendor_renamed(*, vendor: Organization) -> None:
    """Keep search text and vendor facet labels current when a vendor changes its name."""
    Listing.objects.filter(vendor=vendor).update(search_vendor=vendor.name)
    ListingFacet.objects.filter(facet="vendor", value=vendor.slug).update(label=vendor.name)
    catalog_changed()  # .update() sends no save signal: move ETags and cached search counts ourselves


def term_renamed(*, term: Any) -> None:
    """Re-index the listings of a vocabulary term after its name changed."""
    field = next(name for name, model in TERM_MODELS.items() if isinstance(term, model))
    for listing in Listing.objects.filter(**{field: term}).only("pk"):
        listing_refresh_index(listing=listing)


# --- reviews -----------------------------------------------------------------------------------


def review_post(*, listing: Listing, actor: Principal, rating: int, title: str = "", body: str = "") -> Review:
    """A customer organization (member+) rates a listing it had a trial or a subscription of,
    once. The listing's average and count are recomputed under its row lock, so concurrent
    reviews never lose one. Raises Forbidden (never used it), Conflict (already reviewed)."""
    from apps.procurement.selectors import organization_has_used_listing
    from marketplace.patient_data import guard_patient_data

    organization = actor.organization
    if organization is None or not actor.has_role(Role.MEMBER):
        raise Forbidden("Members of a customer organization review apps.")
    if organization.pk == listing.vendor_id:
        raise Forbidden("Vendors do not review their own apps.", code="own_listing")
    if not organization_has_used_listing(organization_id=organization.pk, listing_id=listing.pk):
        raise Forbidden(
            "Only organizations that had a trial or a subscription of this app may review it.", code="not_a_customer"
        )
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationFailed.for_field("rating", "A rating from 1 to 5.")
    guard_patient_data({"title": title, "body": body})
    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=listing.pk)
        if Review.objects.filter(listing=listing, organization=organization).exists():
            raise Conflict("Your organization has already reviewed this app.", code="already_reviewed")
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    listing=listing,
                    organization=organization,
                    rating=rating,
                    title=title.strip(),
                    body=body.strip(),
                    author=f"{actor.label} ({organization.name})"[:200],
                )
        except IntegrityError:
            raise Conflict("Your organization has already reviewed this app.", code="already_reviewed") from None
        figures = Review.objects.filter(listing=listing).aggregate(average=Avg("rating"), count=Count("id"))
        listing.rating_average = Decimal(str(figures["average"])).quantize(Decimal("0.01"))
        listing.rating_count = figures["count"]
        listing.save(update_fields=["rating_average", "rating_count", "updated_at"])
        audit_record(
            actor=actor,
            action="catalog.review.posted",
            target=review,
            organization=organization,
            counterparty=listing.vendor,
            new={"rating": rating, "listing": listing.slug},
        )
        event_emit(
            type="review.posted",
            subject=review,
            organization=organization,
            counterparty=listing.vendor,
            data={"review": str(review.public_id), "listing": listing.slug, "rating": rating},
        )
    return review


# --- fulfillment settings --------------------------------------------------------------------


# Which provisioner backends may deploy an offering of each mode (the store offers only these).
PROVISIONERS_BY_MODE: dict[str, frozenset[str]] = {
    Offering.Mode.CLOUD: frozenset({"sandbox", "vendor"}),
    Offering.Mode.ON_PREMISE: frozenset({"sandbox", "site_agent"}),
    Offering.Mode.HYBRID: frozenset({"sandbox", "hybrid", "site_agent"}),
}


def offering_set_fulfillment(
    *,
    offering: Offering,
    actor: Principal,
    provisioner: str | None = None,
    fulfillment_url: str | None = None,
    rotate_secret: bool = False,
    overlap_hours: int = 24,
    allowed_provisioners: Collection[str] = (),
) -> tuple[Offering, str]:
    """A vendor admin chooses how an offering is deployed (also on live offerings: these are
    operations, not listing facts) and its fulfillment endpoint. Returns the offering and the new
    secret when one was made (shown once). The URL is checked against the outbound rules at once,
    so a vendor learns about a private or plain-http address now, not at the first order. After
    a rotation the previous secret keeps signing too for `overlap_hours` (0-168)."""
    from marketplace.outbound import OutboundRefused, check_outbound_url
    from marketplace.signing import generate_webhook_secret

    _require_vendor_side(offering.listing, actor, Role.ADMIN)
    if not 0 <= overlap_hours <= 168:
        raise ValidationFailed.for_field("overlap_hours", "From 0 to 168 hours.")
    new_secret = ""
    with transaction.atomic():
        offering = Offering.objects.select_for_update().select_related("listing__vendor").get(pk=offering.pk)
        old = {"provisioner": offering.provisioner, "fulfillment_url": offering.fulfillment_url}
        if provisioner is not None:
            if provisioner not in allowed_provisioners:
                raise ValidationFailed.for_field(
                    "provisioner", f"Choose one of: {', '.join(sorted(allowed_provisioners))}."
                )
            fits = PROVISIONERS_BY_MODE[offering.mode]
            if provisioner not in fits:
                raise ValidationFailed.for_field(
                    "provisioner", f"A {offering.mode} offering is deployed by: {', '.join(sorted(fits))}."
                )
            offering.provisioner = provisioner
        if fulfillment_url is not None:
            url = fulfillment_url.strip()
            if url:
                try:
                    check_outbound_url(url)
                except OutboundRefused as exc:
                    raise ValidationFailed.for_field("fulfillment_url", str(exc)) from None
            offering.fulfillment_url = url
        if rotate_secret or (offering.fulfillment_url and not offering.fulfillment_secret):
            new_secret = generate_webhook_secret()
            keep_previous = bool(offering.fulfillment_secret) and overlap_hours > 0
            offering.fulfillment_previous_secret = offering.fulfillment_secret if keep_previous else ""
            offering.fulfillment_previous_secret_expires_at = (
                timezone.now() + datetime.timedelta(hours=overlap_hours) if keep_previous else None
            )
            offering.fulfillment_secret = new_secret
        if offering.provisioner in ("vendor", "hybrid") and not offering.fulfillment_url:
            raise ValidationFailed.for_field("fulfillment_url", "This provisioner calls your fulfillment endpoint.")
        offering.save(
            update_fields=[
                "provisioner",
                "fulfillment_url",
                "fulfillment_secret",
                "fulfillment_previous_secret",
                "fulfillment_previous_secret_expires_at",
                "updated_at",
            ]
        )
        new = {"provisioner": offering.provisioner, "fulfillment_url": offering.fulfillment_url}
        audit_record(
            actor=actor,
            action="catalog.offering.fulfillment_changed",
            target=offering,
            organization=offering.listing.vendor,
            old=old,
            new={
                **new,
                "secret_rotated": bool(new_secret),
                "previous_secret_signs_until": offering.fulfillment_previous_secret_expires_at if new_secret else None,
            },
        )
    return offering, new_secret
