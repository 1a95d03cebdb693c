"""Listings (the apps of the store) and what hangs off them: offerings, plans, versions,
artifacts, documents, regulatory clearances, and the facet vocabularies."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from apps.organizations.models import Organization
from marketplace.currencies import validate_currency
from marketplace.models import PublicIdModel, TimeStampedModel

SEMVER = RegexValidator(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$",
    "Use a semantic version such as 2.4.1 or 3.0.0-rc.1.",
)


class Term(TimeStampedModel):
    """A facet value people browse by (a category, a specialty, a modality, a standard)."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        abstract = True
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Category(Term):
    class Meta(Term.Meta):
        verbose_name_plural = "categories"


class Specialty(Term):
    class Meta(Term.Meta):
        verbose_name_plural = "specialties"


class Modality(Term):
    class Meta(Term.Meta):
        verbose_name_plural = "modalities"


class Standard(Term):
    """Interoperability standards and profiles: FHIR R4, DICOM, HL7 v2, IHE XDS-I, SMART on FHIR."""


class Listing(PublicIdModel):
    """An application as presented in the store; belongs to one vendor."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        IN_REVIEW = "in_review"
        CHANGES_REQUESTED = "changes_requested"
        PUBLISHED = "published"
        SUSPENDED = "suspended"
        RETIRED = "retired"

    tenant_fields: ClassVar[tuple[str, ...]] = ("vendor",)

    vendor = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="listings")
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    tagline = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, max_length=20000, help_text="Markdown; rendered safely.")
    intended_use = models.TextField(blank=True, max_length=4000)
    categories = models.ManyToManyField(Category, blank=True, related_name="listings")
    specialties = models.ManyToManyField(Specialty, blank=True, related_name="listings")
    modalities = models.ManyToManyField(Modality, blank=True, related_name="listings")
    standards = models.ManyToManyField(Standard, blank=True, related_name="listings")
    # Data handling.
    processes_patient_data = models.BooleanField(default=False)
    deidentified_before_leaving_site = models.BooleanField(default=False)
    data_residency = models.JSONField(default=list, blank=True, help_text="Regions where data lives, e.g. ['EU'].")
    security_certifications = models.JSONField(default=list, blank=True, help_text="e.g. ['ISO 27001', 'SOC 2']")
    support_email = models.EmailField(blank=True)
    support_url = models.URLField(blank=True)
    logo = models.ImageField(upload_to="listings/logos/", blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    review_reason = models.TextField(blank=True, max_length=4000)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Denormalized for search (kept current by services and the vendor-rename signal); on
    # PostgreSQL a generated, GIN-indexed tsvector is built from these columns (migration 0002).
    search_vendor = models.CharField(max_length=200, blank=True, editable=False)
    search_terms = models.TextField(blank=True, editable=False)
    # Denormalized facet values of the offerings and plans, for filters without joins.
    deployment_modes = models.CharField(max_length=60, blank=True, editable=False)
    pricing_models = models.CharField(max_length=80, blank=True, editable=False)
    # The vendor's end-user license agreement version that buyers accept (orders record it).
    eula_version = models.CharField(max_length=20, default="1.0")
    # Kept by the review service under the listing's row lock (recomputed from the rows).
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True, editable=False)
    rating_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ("name",)
        indexes = [
            models.Index(fields=["status", "name"]),
            models.Index(fields=["status", "-published_at"]),
            models.Index(fields=["vendor", "status"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.PUBLISHED


class RegulatoryClearance(TimeStampedModel):
    class Authority(models.TextChoices):
        FDA = "fda", "FDA (United States)"
        EU_MDR = "eu_mdr", "EU MDR (CE mark)"
        EU_IVDR = "eu_ivdr", "EU IVDR (CE mark)"
        UKCA = "ukca", "UKCA (United Kingdom)"
        HEALTH_CANADA = "health_canada", "Health Canada"
        TGA = "tga", "TGA (Australia)"
        PMDA = "pmda", "PMDA (Japan)"

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="clearances")
    authority = models.CharField(max_length=20, choices=Authority.choices)
    device_class = models.CharField(max_length=20, blank=True, help_text="e.g. II, IIa, IIb, III")
    identifier = models.CharField(max_length=60, blank=True, help_text="e.g. a 510(k) number K201234")
    cleared_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ("authority", "cleared_on")

    def __str__(self) -> str:
        return f"{self.get_authority_display()} {self.device_class} {self.identifier}".strip()


class Offering(PublicIdModel):
    """One way a listing can be deployed."""

    class Mode(models.TextChoices):
        CLOUD = "cloud", "Cloud"
        ON_PREMISE = "on_premise", "On premise"
        HYBRID = "hybrid", "Hybrid"

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="offerings")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    name = models.CharField(max_length=120)
    regions = models.JSONField(default=list, blank=True, help_text="Cloud regions, e.g. ['eu-central', 'us-east'].")
    # On-premise system requirements.
    requirement_os = models.CharField(max_length=120, blank=True)
    requirement_cpu_cores = models.PositiveSmallIntegerField(null=True, blank=True)
    requirement_memory_gb = models.PositiveSmallIntegerField(null=True, blank=True)
    requirement_gpu = models.CharField(max_length=120, blank=True)
    requirement_disk_gb = models.PositiveIntegerField(null=True, blank=True)
    # Which provisioner backend deploys it (apps/provisioning/backends.py registers them).
    provisioner = models.CharField(max_length=40, default="sandbox")
    # Vendor fulfillment (cloud and hybrid): where the platform sends provision/suspend/resume/
    # deprovision requests, signed with the secret (Standard Webhooks, `whsec_...`).
    fulfillment_url = models.URLField(max_length=500, blank=True)
    fulfillment_secret = models.CharField(max_length=100, blank=True, editable=False)
    # After a rotation the previous secret signs too, until this moment (Standard Webhooks allows
    # several signatures), so the vendor can deploy the new one without refusing requests.
    fulfillment_previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    fulfillment_previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.listing.name}: {self.name} ({self.mode})"

    @property
    def fulfillment_previous_secret_until(self) -> datetime | None:
        """Until when the secret before the last rotation still signs requests; None when it
        no longer does (or there was none)."""
        expires = self.fulfillment_previous_secret_expires_at
        if self.fulfillment_previous_secret and expires and expires > timezone.now():
            return expires
        return None


class Plan(PublicIdModel):
    """How an offering is paid for, with its trial terms."""

    class PricingModel(models.TextChoices):
        FREE = "free", "Free"
        SUBSCRIPTION = "subscription", "Subscription"
        USAGE = "usage", "Usage-based"
        QUOTE_ONLY = "quote_only", "Quote only"

    class BillingPeriod(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=120)
    pricing_model = models.CharField(max_length=20, choices=PricingModel.choices)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, blank=True, validators=[validate_currency])
    billing_period = models.CharField(max_length=10, choices=BillingPeriod.choices, blank=True)
    usage_unit = models.CharField(max_length=60, blank=True, help_text="e.g. 'study'")
    trial_days = models.PositiveSmallIntegerField(default=0, help_text="0: no trial.")
    trial_auto_approve = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.name} ({self.pricing_model})"


class Version(PublicIdModel):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=60, validators=[SEMVER])
    release_notes = models.TextField(blank=True, max_length=20000)
    released_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ("-released_on", "-created_at")
        constraints = [models.UniqueConstraint(fields=["listing", "version"], name="version_unique_per_listing")]

    def __str__(self) -> str:
        return f"{self.listing.name} {self.version}"


class StoredFile(PublicIdModel):
    """A file kept through django-storages with what the server measured of it."""

    file = models.FileField(upload_to="catalog/%Y/%m/", max_length=300)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        abstract = True


class Artifact(StoredFile):
    class Kind(models.TextChoices):
        INSTALLER = "installer", "Installer"
        IMAGE = "image", "Container or VM image"
        MANUAL = "manual", "Manual"
        OTHER = "other", "Other"

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INSTALLER)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.filename


class Document(StoredFile):
    """The papers hospital IT asks for before it buys."""

    class Kind(models.TextChoices):
        IFU = "ifu", "Instructions for use"
        DICOM_CONFORMANCE = "dicom_conformance", "DICOM conformance statement"
        IHE_INTEGRATION = "ihe_integration", "IHE integration statement"
        MDS2 = "mds2", "MDS2 security form"
        SBOM = "sbom", "Software bill of materials"
        OTHER = "other", "Other"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        ON_REQUEST = "on_request", "On request (verified providers)"

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=200)
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.PUBLIC)

    class Meta:
        ordering = ("kind", "title")

    def __str__(self) -> str:
        return self.title


class Screenshot(StoredFile):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="screenshots")
    caption = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.caption or self.filename


class ListingRevision(PublicIdModel):
    """A draft copy of a published listing's facts, reviewed like a listing while the live
    version stays; approving it applies the copy."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        IN_REVIEW = "in_review"
        CHANGES_REQUESTED = "changes_requested"
        APPROVED = "approved"
        WITHDRAWN = "withdrawn"

    tenant_fields: ClassVar[tuple[str, ...]] = ("listing__vendor",)

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="revisions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    data = models.JSONField(default=dict)
    base = models.JSONField(default=dict, help_text="The live facts when the revision was made.")
    review_reason = models.TextField(blank=True, max_length=4000)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"revision of {self.listing.name} ({self.status})"


class ListingFacet(models.Model):
    """One facet value of one listing (category, specialty, modality, standard, regulatory,
    deployment_mode, pricing_model, vendor), kept by the services whenever a listing, its
    offerings, plans, clearances or vendor change. Filters and facet counts read only this table,
    the same way on PostgreSQL and SQLite."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="facets")
    facet = models.CharField(max_length=20)
    value = models.CharField(max_length=80)
    label = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["listing", "facet", "value"], name="listing_facet_unique")]
        indexes = [models.Index(fields=["facet", "value", "listing"], name="listing_facet_lookup")]

    def __str__(self) -> str:
        return f"{self.facet}={self.value}"


class Review(PublicIdModel):
    """A customer organization's rating of a listing: one per organization, only by
    organizations that had a trial or a subscription of it."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="reviews")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="reviews")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    title = models.CharField(max_length=120, blank=True)
    body = models.TextField(blank=True, max_length=4000)
    author = models.CharField(max_length=200, blank=True, help_text="Who posted it, as shown.")

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=["listing", "organization"], name="review_one_per_organization"),
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.listing.name} by {self.organization.name}"



class CatalogVersion(models.Model):
    """One row: a counter that moves whenever anything the catalog API shows changes
    (apps/catalog/freshness.py); ETags are built from it."""

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.version)
