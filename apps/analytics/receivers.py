from typing import Any

from django.dispatch import receiver

from apps.catalog.signals import listing_viewed


@receiver(listing_viewed, dispatch_uid="analytics.count_listing_view")
def _listing_viewed(sender: type, listing: Any, viewer: Any, **kwargs: Any) -> None:
    from apps.analytics.services import listing_view_record

    listing_view_record(listing=listing, viewer=viewer)
