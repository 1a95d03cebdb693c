"""Answers to the personal-data signals: who requested, issued and accepted what."""

from typing import Any

from django.dispatch import receiver

from apps.accounts.signals import person_data_erase, person_data_export
from apps.procurement.models import Order, Quote, QuoteRequest, Trial


@receiver(person_data_export, dispatch_uid="procurement.person_export")
def _export(sender: Any, user: Any, email: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "trials_requested": [str(t.public_id) for t in Trial.objects.filter(requested_by=email)],
        "quote_requests_made": [str(q.public_id) for q in QuoteRequest.objects.filter(requested_by=email)],
        "quotes_issued": [str(q.public_id) for q in Quote.objects.filter(issued_by=email)],
        "orders_accepted": [str(o.public_id) for o in Order.objects.filter(accepted_by=email)],
    }


@receiver(person_data_erase, dispatch_uid="procurement.person_erase")
def _erase(sender: Any, user: Any, email: str, pseudonym: str, **kwargs: Any) -> int:
    changed = Trial.objects.filter(requested_by=email).update(requested_by=pseudonym)
    changed += QuoteRequest.objects.filter(requested_by=email).update(requested_by=pseudonym)
    changed += Quote.objects.filter(issued_by=email).update(issued_by=pseudonym)
    for order in Order.objects.filter(accepted_by=email):
        terms = [
            {**term, "accepted_by": pseudonym} if term.get("accepted_by") == email else term
            for term in order.accepted_terms
        ]
        Order.objects.filter(pk=order.pk).update(accepted_by=pseudonym, accepted_terms=terms)
        changed += 1
    return changed
