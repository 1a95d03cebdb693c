"""Catalog factories and helpers: terms, listings with offerings and plans, versions, and a
listing published through the real services (submit by the vendor, approve by an operator)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.text import slugify

from apps.catalog import services
from apps.catalog.models import (
    Category,
    Document,
    Listing,
    Modality,
    Offering,
    Plan,
    RegulatoryClearance,
    Specialty,
    Standard,
    Version,
)
from apps.organizations.models import Organization
from marketplace.principal import Principal, PrincipalKind, Role, operator_principal
from tests.factories import UserFactory, VendorFactory

# Smallest well-formed PDF header: enough for the server's content check.
PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class SpecialtyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Specialty
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Specialty {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class ModalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Modality
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Modality {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class StandardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Standard
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Standard {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class ListingFactory(factory.django.DjangoModelFactory):
    """A listing written straight to the table (status as given), then indexed for search.

    Pass `categories=[...]` (and specialties, modalities, standards) as Term objects. Use
    `publish_listing` for a listing that went through the review workflow."""

    class Meta:
        model = Listing
        skip_postgeneration_save = True

    vendor = factory.SubFactory(VendorFactory)
    name = factory.Sequence(lambda n: f"Imaging App {n:03d}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    tagline = "Finds what matters in every study."
    description = "A tool for clinical teams."
    intended_use = "Decision support for qualified clinicians."
    status = Listing.Status.DRAFT
    published_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status in (Listing.Status.PUBLISHED, Listing.Status.SUSPENDED) else None
    )

    @factory.post_generation
    def categories(obj: Listing, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.categories.set(extracted)

    @factory.post_generation
    def specialties(obj: Listing, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.specialties.set(extracted)

    @factory.post_generation
    def modalities(obj: Listing, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.modalities.set(extracted)

    @factory.post_generation
    def standards(obj: Listing, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            obj.standards.set(extracted)

    @factory.post_generation
    def offerings(obj: Listing, create: bool, extracted: Any, **kwargs: Any) -> None:
        """`offerings=[("cloud", "subscription"), ("on_premise", "quote_only")]`: one offering
        with one plan each."""
        if create and extracted:
            for mode, pricing in extracted:
                PlanFactory(offering=OfferingFactory(listing=obj, mode=mode), **plan_values(pricing))

    @factory.post_generation
    def index(obj: Listing, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted is not False:
            services.listing_refresh_index(listing=obj)
            obj.refresh_from_db()


class OfferingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offering

    listing = factory.SubFactory(ListingFactory)
    mode = Offering.Mode.CLOUD
    name = factory.LazyAttribute(lambda o: f"{dict(Offering.Mode.choices)[o.mode]} edition")
    regions = factory.LazyAttribute(lambda o: ["eu-central"] if o.mode == Offering.Mode.CLOUD else [])
    requirement_os = factory.LazyAttribute(lambda o: "Ubuntu 22.04" if o.mode != Offering.Mode.CLOUD else "")


def plan_values(pricing_model: str) -> dict[str, Any]:
    """Valid plan fields for a pricing model."""
    values: dict[str, Any] = {"pricing_model": pricing_model, "name": f"{pricing_model.replace('_', ' ').title()}"}
    if pricing_model == Plan.PricingModel.SUBSCRIPTION:
        values.update(price="1200.00", currency="EUR", billing_period=Plan.BillingPeriod.MONTH)
    elif pricing_model == Plan.PricingModel.USAGE:
        values.update(price="4.50", currency="EUR", usage_unit="study")
    elif pricing_model == Plan.PricingModel.FREE:
        values.update(price="0")
    return values


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    offering = factory.SubFactory(OfferingFactory)
    name = "Standard"
    pricing_model = Plan.PricingModel.SUBSCRIPTION
    price = "1200.00"
    currency = "EUR"
    billing_period = Plan.BillingPeriod.MONTH
    trial_days = 30


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Version

    listing = factory.SubFactory(ListingFactory)
    version = factory.Sequence(lambda n: f"1.{n}.0")
    release_notes = "Faster inference."
    released_on = factory.LazyFunction(lambda: timezone.now().date() - timedelta(days=1))


class ClearanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegulatoryClearance

    listing = factory.SubFactory(ListingFactory)
    authority = RegulatoryClearance.Authority.FDA
    device_class = "II"
    identifier = factory.Sequence(lambda n: f"K2{n:05d}")


# --- principals and the workflow -------------------------------------------------------------


def vendor_principal(organization: Organization, role: Role = Role.ADMIN) -> Principal:
    """A principal acting for `organization` (as a member with `role`), for calling services."""
    return Principal(
        kind=PrincipalKind.MEMBER,
        label=f"test {role.value} of {organization.slug}",
        organization=organization,
        role=role,
    )


def an_operator() -> Principal:
    return operator_principal(UserFactory(is_staff=True))


def verify(organization: Organization) -> Organization:
    organization.verified_at = timezone.now()
    organization.save(update_fields=["verified_at"])
    return organization


def ready_listing(vendor: Organization | None = None, **kwargs: Any) -> Listing:
    """A draft with everything review needs: texts, a category, a cloud offering with a plan."""
    vendor = vendor or VendorFactory()
    kwargs.setdefault("categories", [CategoryFactory(name="Radiology AI", slug="radiology")])
    kwargs.setdefault("offerings", [("cloud", "subscription")])
    return ListingFactory(vendor=vendor, **kwargs)


def publish_listing(listing: Listing | None = None, *, operator: Principal | None = None, **kwargs: Any) -> Listing:
    """A listing submitted by its (verified) vendor and approved by an operator, through the
    services. Without `listing`, a ready one is made from `kwargs` (see `ready_listing`)."""
    listing = listing or ready_listing(**kwargs)
    vendor = listing.vendor
    if not vendor.is_verified:
        verify(vendor)
    listing = services.listing_submit(listing=listing, actor=vendor_principal(vendor, Role.MEMBER))
    listing = services.listing_approve(listing=listing, actor=operator or an_operator())
    listing.refresh_from_db()
    return listing


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def png_bytes(size: tuple[int, int] = (8, 8), color: str = "teal") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def add_document(
    listing: Listing,
    *,
    visibility: str = Document.Visibility.PUBLIC,
    kind: str = Document.Kind.IFU,
    title: str = "",
    filename: str = "ifu.pdf",
    content: bytes = PDF_BYTES,
) -> Document:
    """A document stored through the service, as the vendor's admin."""
    return services.document_add(
        listing=listing,
        actor=vendor_principal(listing.vendor),
        kind=kind,
        title=title,
        visibility=visibility,
        upload=upload(filename, content),
    )
