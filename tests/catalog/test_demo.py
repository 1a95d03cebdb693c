"""The demo catalog of `manage.py seed_demo`: loaded through the services, idempotent, and
varied enough to show every facet of the store."""

from __future__ import annotations

import re

from django.db.models import Count, Q
from django.test import TestCase

from apps.catalog.demo import DEMO_VENDORS, demo_pdf, seed_catalog_demo
from apps.catalog.models import Document, Listing, ListingFacet, Offering, Plan, Version
from apps.organizations.demo import seed_demo
from marketplace.models import AuditEntry


def _counts() -> dict[str, int]:
    return {
        "listings": Listing.objects.count(),
        "offerings": Offering.objects.count(),
        "plans": Plan.objects.count(),
        "versions": Version.objects.count(),
        "documents": Document.objects.count(),
        "facets": ListingFacet.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


class TestCatalogDemo(TestCase):
    """Seeds once for the class (about 5 s); each test runs in its own rolled-back transaction."""

    @classmethod
    def setUpTestData(cls) -> None:
        seed_demo()
        cls.published = seed_catalog_demo()

    def test_the_quote_inbox_has_a_request_and_an_answered_quote(self) -> None:
        from apps.procurement.demo import seed_procurement_demo
        from apps.procurement.models import QuoteRequest

        assert seed_procurement_demo() == 2
        statuses = sorted(QuoteRequest.objects.values_list("status", flat=True))
        assert statuses == ["quoted", "requested"]
        quoted = QuoteRequest.objects.get(status="quoted")
        assert str(quoted.quotes.get().total) == "54500.00"
        assert AuditEntry.objects.filter(action="procurement.quote.issued", actor_kind="member").exists()
        assert seed_procurement_demo() == 0  # again: nothing new

    def test_seeding_again_changes_nothing(self) -> None:
        before = _counts()
        assert seed_catalog_demo() == self.published
        assert _counts() == before

    def test_published_listings_from_the_demo_vendors(self) -> None:
        live = Listing.objects.filter(status=Listing.Status.PUBLISHED)
        assert self.published == live.count() >= 60
        assert live.values("vendor").distinct().count() >= 4
        assert set(live.values_list("vendor__slug", flat=True)) == set(DEMO_VENDORS)
        assert live.filter(published_at__isnull=True).count() == 0

    def test_some_listings_wait_for_the_operator(self) -> None:
        waiting = Listing.objects.filter(status__in=[Listing.Status.DRAFT, Listing.Status.IN_REVIEW])
        assert 2 <= waiting.count() <= 3
        assert Listing.objects.filter(status=Listing.Status.IN_REVIEW).exists()

    def test_every_deployment_mode_and_pricing_model_is_present(self) -> None:
        live_offerings = Offering.objects.filter(listing__status=Listing.Status.PUBLISHED)
        assert set(live_offerings.values_list("mode", flat=True)) == set(Offering.Mode.values)
        live_plans = Plan.objects.filter(offering__listing__status=Listing.Status.PUBLISHED)
        assert set(live_plans.values_list("pricing_model", flat=True)) == set(Plan.PricingModel.values)
        assert set(live_plans.exclude(currency="").values_list("currency", flat=True)) == {"EUR", "USD"}
        assert live_offerings.filter(mode="on_premise").exclude(requirement_gpu="").exists()

    def test_some_trials_approve_themselves(self) -> None:
        auto = Plan.objects.filter(offering__listing__status=Listing.Status.PUBLISHED, trial_auto_approve=True)
        assert auto.exists()
        assert not auto.filter(trial_days=0).exists()
        assert Plan.objects.filter(trial_auto_approve=False, trial_days__gt=0).exists()

    def test_every_published_listing_has_an_offering_with_a_plan(self) -> None:
        live = Listing.objects.filter(status=Listing.Status.PUBLISHED).annotate(
            plans=Count("offerings__plans", filter=Q(offerings__is_active=True, offerings__plans__is_active=True))
        )
        assert not live.filter(plans=0).exists()
        # ...and the search index knows them: facet rows for mode, pricing and vendor.
        for facet in ("deployment_mode", "pricing_model", "vendor", "category"):
            indexed = ListingFacet.objects.filter(facet=facet, listing__status="published").values("listing").distinct()
            assert indexed.count() == live.count(), facet

    def test_versions_clearances_and_documents(self) -> None:
        live = Listing.objects.filter(status=Listing.Status.PUBLISHED)
        assert not live.filter(versions__isnull=True).exists()
        assert live.filter(clearances__authority="fda", clearances__identifier__regex=r"^K\d{6}$").exists()
        assert live.filter(clearances__authority="eu_mdr", clearances__device_class__in=["IIa", "IIb"]).exists()
        assert live.filter(clearances__isnull=True).exists()
        assert live.filter(processes_patient_data=True, deidentified_before_leaving_site=True).exists()
        documents = Document.objects.all()
        assert {d.visibility for d in documents} == {"public", "on_request"}
        with documents.first().file.open("rb") as handle:
            assert handle.read(8) == b"%PDF-1.4"

    def test_the_audit_log_names_the_vendor_admin_and_the_operator(self) -> None:
        published = AuditEntry.objects.filter(action="catalog.listing.published")
        assert published.count() == self.published
        assert set(published.values_list("actor_kind", flat=True)) == {"operator"}
        created = AuditEntry.objects.filter(action="catalog.listing.created")
        assert set(created.values_list("actor_label", flat=True)) == {f"admin@{slug}.example" for slug in DEMO_VENDORS}


def test_demo_pdf_has_a_correct_cross_reference_table() -> None:
    data = demo_pdf("Title (with parentheses)", ["line one", "back\\slash"])
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)", data).group(1))
    assert data[startxref:].startswith(b"xref")
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", data)]
    assert len(offsets) == 5
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(f"{number} 0 obj".encode())
