"""Catalog serializers: inputs never carry status, vendor or ids; outputs say what each side may see."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.catalog.models import (
    Artifact,
    Document,
    Listing,
    ListingRevision,
    Offering,
    Plan,
    RegulatoryClearance,
    Review,
    Screenshot,
    Version,
)
from apps.catalog.search import FACETS, ORDERINGS
from apps.catalog.services import revision_diff, revision_media
from marketplace.markdown import render_markdown


class TermSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class TermWithCountSerializer(TermSerializer):
    description = serializers.CharField()
    listing_count = serializers.IntegerField()


class VendorSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    verified = serializers.BooleanField(source="is_verified")


class ClearanceSerializer(serializers.ModelSerializer):
    authority_label = serializers.CharField(source="get_authority_display", read_only=True)

    class Meta:
        model = RegulatoryClearance
        fields = ("authority", "authority_label", "device_class", "identifier", "cleared_on")


class ClearanceInputSerializer(serializers.Serializer):
    authority = serializers.ChoiceField(choices=RegulatoryClearance.Authority.choices)
    device_class = serializers.CharField(max_length=20, required=False, allow_blank=True)
    identifier = serializers.CharField(max_length=60, required=False, allow_blank=True)
    cleared_on = serializers.DateField(required=False, allow_null=True)


def _csv(value: str) -> list[str]:
    return [item for item in value.split(",") if item]


class ListingSummarySerializer(serializers.ModelSerializer):
    """One search result: enough to compare, without the heavy parts."""

    vendor = VendorSummarySerializer()
    categories = TermSerializer(many=True)
    deployment_modes = serializers.SerializerMethodField()
    pricing_models = serializers.SerializerMethodField()
    regulatory = serializers.SerializerMethodField()
    logo_url = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()

    class Meta:
        model = Listing
        fields = (
            "slug",
            "name",
            "tagline",
            "status",
            "vendor",
            "categories",
            "deployment_modes",
            "pricing_models",
            "regulatory",
            "processes_patient_data",
            "logo_url",
            "rating",
            "published_at",
        )

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "average": {"type": "string", "nullable": True, "description": "1.00-5.00; null without reviews"},
                "count": {"type": "integer"},
            },
        }
    )
    def get_rating(self, listing: Listing) -> dict[str, Any]:
        average = listing.rating_average
        return {"average": f"{average:.2f}" if average is not None else None, "count": listing.rating_count}

    def get_deployment_modes(self, listing: Listing) -> list[str]:
        return _csv(listing.deployment_modes)

    def get_pricing_models(self, listing: Listing) -> list[str]:
        return _csv(listing.pricing_models)

    def get_regulatory(self, listing: Listing) -> list[str]:
        return sorted({clearance.authority for clearance in listing.clearances.all()})

    def get_logo_url(self, listing: Listing) -> str | None:
        return listing.logo.url if listing.logo else None


# The columns listing_summaries reads, for `queryset.values(*SUMMARY_VALUES)`.
SUMMARY_VALUES = (
    "pk",
    "slug",
    "name",
    "tagline",
    "status",
    "vendor__slug",
    "vendor__name",
    "vendor__verified_at",
    "deployment_modes",
    "pricing_models",
    "processes_patient_data",
    "logo",
    "rating_average",
    "rating_count",
    "published_at",
)


def listing_summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ListingSummarySerializer gives, for rows of `listings.values(*SUMMARY_VALUES)`, with
    two queries for the categories and clearances of all of them: no model instances, no prefetch
    machinery, no per-field serializers. The search page builds 25 per request and this was most
    of its Python time; keep both in step (same fields, order and formats)."""
    ids = [row["pk"] for row in rows]
    categories: dict[int, list[dict[str, str]]] = {pk: [] for pk in ids}
    authorities: dict[int, set[str]] = {pk: set() for pk in ids}
    if ids:
        links = Listing.categories.through.objects.filter(listing_id__in=ids).order_by("category__name", "category_id")
        for listing_id, slug, name in links.values_list("listing_id", "category__slug", "category__name"):
            categories[listing_id].append({"slug": slug, "name": name})
        clearances = RegulatoryClearance.objects.filter(listing_id__in=ids).values_list("listing_id", "authority")
        for listing_id, authority in clearances:
            authorities[listing_id].add(authority)
    logo = Listing._meta.get_field("logo")
    moment = serializers.DateTimeField()
    return [
        {
            "slug": row["slug"],
            "name": row["name"],
            "tagline": row["tagline"],
            "status": row["status"],
            "vendor": {
                "slug": row["vendor__slug"],
                "name": row["vendor__name"],
                "verified": row["vendor__verified_at"] is not None,
            },
            "categories": categories[row["pk"]],
            "deployment_modes": _csv(row["deployment_modes"]),
            "pricing_models": _csv(row["pricing_models"]),
            "regulatory": sorted(authorities[row["pk"]]),
            "processes_patient_data": row["processes_patient_data"],
            "logo_url": logo.storage.url(row["logo"]) if row["logo"] else None,
            "rating": {
                "average": f"{row['rating_average']:.2f}" if row["rating_average"] is not None else None,
                "count": row["rating_count"],
            },
            "published_at": moment.to_representation(row["published_at"]),
        }
        for row in rows
    ]


class PlanSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    offering = serializers.UUIDField(source="offering.public_id", read_only=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, coerce_to_string=True)

    class Meta:
        model = Plan
        fields = (
            "id",
            "offering",
            "name",
            "pricing_model",
            "price",
            "currency",
            "billing_period",
            "usage_unit",
            "trial_days",
            "trial_auto_approve",
            "is_active",
            "created_at",
        )


class OfferingSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    plans = serializers.SerializerMethodField()
    requirements = serializers.SerializerMethodField()

    class Meta:
        model = Offering
        fields = ("id", "mode", "name", "regions", "requirements", "is_active", "plans", "created_at")

    @extend_schema_field(PlanSerializer(many=True))
    def get_plans(self, offering: Offering) -> list[dict[str, Any]]:
        plans = offering.plans.all()
        if not self.context.get("show_inactive"):
            plans = [plan for plan in plans if plan.is_active]
        return PlanSerializer(plans, many=True).data

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "os": {"type": "string"},
                "cpu_cores": {"type": "integer", "nullable": True},
                "memory_gb": {"type": "integer", "nullable": True},
                "gpu": {"type": "string"},
                "disk_gb": {"type": "integer", "nullable": True},
            },
        }
    )
    def get_requirements(self, offering: Offering) -> dict[str, Any]:
        return {
            "os": offering.requirement_os,
            "cpu_cores": offering.requirement_cpu_cores,
            "memory_gb": offering.requirement_memory_gb,
            "gpu": offering.requirement_gpu,
            "disk_gb": offering.requirement_disk_gb,
        }


class OfferingInputSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Offering.Mode.choices)
    name = serializers.CharField(max_length=120)
    regions = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=50)
    requirement_os = serializers.CharField(max_length=120, required=False, allow_blank=True)
    requirement_cpu_cores = serializers.IntegerField(min_value=1, max_value=1024, required=False, allow_null=True)
    requirement_memory_gb = serializers.IntegerField(min_value=1, max_value=65535, required=False, allow_null=True)
    requirement_gpu = serializers.CharField(max_length=120, required=False, allow_blank=True)
    requirement_disk_gb = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)


class PlanInputSerializer(serializers.Serializer):
    offering = serializers.UUIDField(help_text="The offering's id.")
    name = serializers.CharField(max_length=120)
    pricing_model = serializers.ChoiceField(choices=Plan.PricingModel.choices)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True, max_length=3)
    billing_period = serializers.ChoiceField(choices=Plan.BillingPeriod.choices, required=False, allow_blank=True)
    usage_unit = serializers.CharField(max_length=60, required=False, allow_blank=True)
    trial_days = serializers.IntegerField(min_value=0, max_value=365, required=False)
    trial_auto_approve = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class ArtifactSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Artifact
        fields = ("id", "kind", "filename", "content_type", "size", "sha256", "created_at")


class VersionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    artifacts = ArtifactSerializer(many=True, read_only=True)

    class Meta:
        model = Version
        fields = ("id", "version", "release_notes", "released_on", "artifacts", "created_at")


class VersionInputSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=60)
    release_notes = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    released_on = serializers.DateField(required=False, allow_null=True)


class ArtifactInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Artifact.Kind.choices, default=Artifact.Kind.INSTALLER)
    file = serializers.FileField(allow_empty_file=False)


class DocumentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = (
            "id",
            "kind",
            "title",
            "visibility",
            "filename",
            "content_type",
            "size",
            "sha256",
            "download_url",
            "created_at",
        )

    def get_download_url(self, document: Document) -> str:
        return reverse(
            "api:listing-document-download",
            kwargs={"listing_slug": document.listing.slug, "id": document.public_id},
        )


class DocumentInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Document.Kind.choices)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Document.Visibility.choices, default=Document.Visibility.PUBLIC)
    file = serializers.FileField(allow_empty_file=False)


class ScreenshotSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Screenshot
        fields = ("id", "caption", "position", "url", "sha256")

    def get_url(self, screenshot: Screenshot) -> str:
        return screenshot.file.url


class ScreenshotInputSerializer(serializers.Serializer):
    caption = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(allow_empty_file=False)


class ProposedScreenshotSerializer(serializers.Serializer):
    """A screenshot as a revision proposes it (a live one kept, or a new one)."""

    id = serializers.UUIDField()
    caption = serializers.CharField()
    url = serializers.SerializerMethodField()
    sha256 = serializers.CharField()

    def get_url(self, entry: dict[str, Any]) -> str:
        return Screenshot._meta.get_field("file").storage.url(entry["file"])


class ListingDetailSerializer(ListingSummarySerializer):
    description_html = serializers.SerializerMethodField()
    specialties = TermSerializer(many=True)
    modalities = TermSerializer(many=True)
    standards = TermSerializer(many=True)
    clearances = ClearanceSerializer(many=True)
    offerings = serializers.SerializerMethodField()
    versions = VersionSerializer(many=True)
    documents = serializers.SerializerMethodField()
    screenshots = ScreenshotSerializer(many=True)
    review_reason = serializers.SerializerMethodField()
    terms = serializers.SerializerMethodField()

    class Meta(ListingSummarySerializer.Meta):
        fields = (
            *ListingSummarySerializer.Meta.fields,
            "description",
            "description_html",
            "intended_use",
            "specialties",
            "modalities",
            "standards",
            "clearances",
            "deidentified_before_leaving_site",
            "data_residency",
            "security_certifications",
            "support_email",
            "support_url",
            "eula_version",
            "terms",
            "offerings",
            "versions",
            "documents",
            "screenshots",
            "review_reason",
            "submitted_at",
            "created_at",
            "updated_at",
        )

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"kind": {"type": "string"}, "title": {"type": "string"}, "version": {"type": "string"}},
            },
        }
    )
    def get_terms(self, listing: Listing) -> list[dict[str, str]]:
        """The agreements a buyer accepts (send them back as `accepted_terms` when buying)."""
        from apps.procurement.services import terms_required

        return terms_required(listing)

    def get_description_html(self, listing: Listing) -> str:
        return render_markdown(listing.description)

    @extend_schema_field(OfferingSerializer(many=True))
    def get_offerings(self, listing: Listing) -> list[dict[str, Any]]:
        show_all = self.context.get("vendor_side", False)
        offerings = [o for o in listing.offerings.all() if show_all or o.is_active]
        return OfferingSerializer(offerings, many=True, context={"show_inactive": show_all}).data

    @extend_schema_field(DocumentSerializer(many=True))
    def get_documents(self, listing: Listing) -> list[dict[str, Any]]:
        return DocumentSerializer(self.context.get("documents", []), many=True).data

    def get_review_reason(self, listing: Listing) -> str | None:
        return listing.review_reason if self.context.get("vendor_side") else None


class ListingInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=80, required=False, help_text="Only when creating; derived from the name.")
    tagline = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    intended_use = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    categories = serializers.ListField(child=serializers.SlugField(), required=False, max_length=20)
    specialties = serializers.ListField(child=serializers.SlugField(), required=False, max_length=20)
    modalities = serializers.ListField(child=serializers.SlugField(), required=False, max_length=20)
    standards = serializers.ListField(child=serializers.SlugField(), required=False, max_length=30)
    clearances = ClearanceInputSerializer(many=True, required=False)
    processes_patient_data = serializers.BooleanField(required=False)
    deidentified_before_leaving_site = serializers.BooleanField(required=False)
    data_residency = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=20)
    security_certifications = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=20
    )
    support_email = serializers.EmailField(required=False, allow_blank=True)
    support_url = serializers.URLField(required=False, allow_blank=True)
    eula_version = serializers.RegexField(
        r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,19}$",
        required=False,
        help_text="The version of your end-user license agreement buyers accept, e.g. 2.1.",
    )


class ListingUpdateSerializer(ListingInputSerializer):
    name = serializers.CharField(max_length=120, required=False)
    slug = None  # type: ignore[assignment]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4000, allow_blank=False)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4000, required=False, allow_blank=True)


class RevisionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    listing = serializers.SlugField(source="listing.slug", read_only=True)
    changes = serializers.SerializerMethodField()
    logo_url = serializers.SerializerMethodField(help_text="The logo the listing shows once the revision is approved.")
    screenshots = serializers.SerializerMethodField(
        help_text="The screenshots, in order, the listing shows once the revision is approved."
    )

    class Meta:
        model = ListingRevision
        fields = (
            "id",
            "listing",
            "status",
            "data",
            "changes",
            "logo_url",
            "screenshots",
            "review_reason",
            "submitted_at",
            "reviewed_at",
            "created_at",
            "updated_at",
        )

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
    def get_changes(self, revision: ListingRevision) -> dict[str, Any]:
        return revision_diff(revision)

    def get_logo_url(self, revision: ListingRevision) -> str | None:
        logo = revision_media(revision)["logo"]
        return Listing._meta.get_field("logo").storage.url(logo) if logo else None

    @extend_schema_field(ProposedScreenshotSerializer(many=True))
    def get_screenshots(self, revision: ListingRevision) -> list[dict[str, Any]]:
        return ProposedScreenshotSerializer(revision_media(revision)["screenshots"], many=True).data


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class SearchQuerySerializer(serializers.Serializer):
    """The query string of GET /api/v1/apps/ (repeat a filter for OR)."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False)
    status = serializers.ListField(child=serializers.ChoiceField(choices=Listing.Status.choices), required=False)


FACET_NAMES = FACETS


class ReviewSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    listing = serializers.SlugField(source="listing.slug", read_only=True)
    organization = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = ("id", "listing", "organization", "rating", "title", "body", "author", "created_at")

    @extend_schema_field({"type": "object", "properties": {"slug": {"type": "string"}, "name": {"type": "string"}}})
    def get_organization(self, review: Review) -> dict[str, str]:
        return {"slug": review.organization.slug, "name": review.organization.name}


class ReviewInputSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True)
    body = serializers.CharField(max_length=4000, required=False, allow_blank=True)


class FulfillmentSettingsSerializer(serializers.Serializer):
    provisioner = serializers.CharField(
        help_text="sandbox (simulated), vendor (your fulfillment endpoint), site_agent (bundles for the "
        "hospital's site agent), hybrid (both)."
    )
    fulfillment_url = serializers.CharField(allow_blank=True)
    secret_set = serializers.BooleanField()
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then the secret before the last rotation signs requests too."
    )
    fulfillment_secret = serializers.CharField(
        required=False, help_text="Only in the answer that made it (`whsec_...`); it signs every request."
    )


class FulfillmentSettingsInputSerializer(serializers.Serializer):
    provisioner = serializers.CharField(max_length=40, required=False)
    fulfillment_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    rotate_secret = serializers.BooleanField(default=False)
    overlap_hours = serializers.IntegerField(
        min_value=0,
        max_value=168,
        default=24,
        help_text="After a rotation, how long the previous secret keeps signing requests too.",
    )
