"""How a vendor's apps do. Listing views are counted per listing and day: no person, address,
cookie or organization is recorded, only the number."""

from __future__ import annotations

from django.db import models

from apps.catalog.models import Listing


class ListingViewDay(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="view_days")
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("day",)
        constraints = [models.UniqueConstraint(fields=["listing", "day"], name="listing_view_day_unique")]

    def __str__(self) -> str:
        return f"{self.listing_id} {self.day}: {self.views}"
