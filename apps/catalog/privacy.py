"""Answers to the personal-data signals: the author shown on reviews."""

from typing import Any

from django.dispatch import receiver

from apps.accounts.signals import person_data_erase, person_data_export
from apps.catalog.freshness import catalog_changed
from apps.catalog.models import Review


@receiver(person_data_export, dispatch_uid="catalog.person_export")
def _export(sender: Any, user: Any, email: str, **kwargs: Any) -> dict[str, Any]:
    reviews = Review.objects.filter(author__startswith=f"{email} (")
    return {"reviews_written": [{"listing": r.listing.slug, "rating": r.rating, "title": r.title} for r in reviews]}


@receiver(person_data_erase, dispatch_uid="catalog.person_erase")
def _erase(sender: Any, user: Any, email: str, pseudonym: str, **kwargs: Any) -> int:
    changed = 0
    for review in Review.objects.filter(author__startswith=f"{email} ("):
        Review.objects.filter(pk=review.pk).update(author=review.author.replace(email, pseudonym, 1))
        changed += 1
    if changed:
        catalog_changed()  # .update() sends no save signal: move the ETags ourselves
    return changed
