"""Reads for the catalog: what each principal may see."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from apps.catalog.models import Category, Document, Listing, ListingRevision, Modality, Specialty, Standard
from marketplace.principal import Principal

PUBLIC_STATUSES = (Listing.Status.PUBLISHED,)
TERM_MODELS = {"categories": Category, "specialties": Specialty, "modalities": Modality, "standards": Standard}


def listings_visible_to(*, principal: Principal) -> QuerySet[Listing]:
    """Published listings for everyone; every status for their vendor and for operators."""
    listings = Listing.objects.all()
    if principal.is_operator:
        return listings
    if principal.organization is not None:
        return listings.filter(Q(status__in=PUBLIC_STATUSES) | Q(vendor=principal.organization))
    return listings.filter(status__in=PUBLIC_STATUSES)


def listing_is_vendor_side(*, listing: Listing, principal: Principal) -> bool:
    return principal.organization is not None and principal.organization.pk == listing.vendor_id


def documents_visible_to(*, listing: Listing, principal: Principal) -> QuerySet[Document]:
    """Public documents for everyone who sees the listing; "on request" ones for verified
    providers, the vendor and operators."""
    documents = listing.documents.all()
    organization = principal.organization
    if principal.is_operator or listing_is_vendor_side(listing=listing, principal=principal):
        return documents
    if organization is not None and organization.is_provider and organization.is_verified:
        return documents
    return documents.filter(visibility=Document.Visibility.PUBLIC)


def revisions_visible_to(*, listing: Listing, principal: Principal) -> QuerySet[ListingRevision]:
    if principal.is_operator or listing_is_vendor_side(listing=listing, principal=principal):
        return listing.revisions.all()
    return listing.revisions.none()


def terms_with_counts(*, vocabulary: str) -> QuerySet:
    """A vocabulary's terms with the number of published listings each."""
    model = TERM_MODELS[vocabulary]
    return model.objects.annotate(
        listing_count=Count("listings", filter=Q(listings__status=Listing.Status.PUBLISHED), distinct=True)
    ).order_by("name")
