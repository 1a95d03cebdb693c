"""The catalog listens for vendor renames (organizations must not import the catalog)."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from apps.organizations.models import Organization

# Sent when someone reads a listing's page or its API detail (kwargs: listing, viewer), for
# analytics to count without the catalog depending on it.
listing_viewed = Signal()


@receiver(post_save, sender=Organization, dispatch_uid="catalog.vendor_renamed")
def _organization_saved(sender: type, instance: Organization, created: bool, **kwargs: Any) -> None:
    if created or not instance.is_vendor:
        return
    from apps.catalog.services import vendor_renamed

    vendor_renamed(vendor=instance)  # same transaction as the rename


def _term_saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    """A renamed category, specialty, modality or standard re-labels facets and search text."""
    if created:
        return
    from apps.catalog.services import term_renamed

    term_renamed(term=instance)


for _model_name in ("Category", "Specialty", "Modality", "Standard"):
    post_save.connect(_term_saved, sender=f"catalog.{_model_name}", dispatch_uid=f"catalog.term_renamed.{_model_name}")
