from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.procurement.models import Entitlement, License, Order, Quote, QuoteLineItem, QuoteRequest, Subscription, Trial
from apps.provisioning.api.serializers import PartySerializer, ProgressSerializer


class TrialDeploymentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    progress = serializers.SerializerMethodField()
    tenant_url = serializers.URLField(allow_blank=True)  # empty until the deployment is active
    failure_reason = serializers.CharField()

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, deployment) -> dict:  # type: ignore[no-untyped-def]
        return ProgressSerializer(
            {
                "percent": deployment.progress_percent,
                "current_step": deployment.current_step or None,
                "estimated_ready_at": deployment.estimated_ready_at,
            }
        ).data


class TrialSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id")
    site = serializers.UUIDField(source="site.public_id", allow_null=True, default=None)
    deployment = TrialDeploymentSerializer(allow_null=True)
    order = serializers.SerializerMethodField(help_text="The order that converted the trial.")
    license = serializers.SerializerMethodField(help_text="The trial's signed license, once approved.")

    class Meta:
        model = Trial
        fields = (
            "id",
            "status",
            "provider",
            "vendor",
            "listing",
            "offering",
            "plan",
            "site",
            "region",
            "days",
            "notes",
            "decision_reason",
            "requested_by",
            "deployment",
            "order",
            "license",
            "approved_at",
            "started_at",
            "ends_at",
            "ended_at",
            "created_at",
            "updated_at",
        )

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_order(self, trial: Trial) -> str | None:
        order = getattr(trial, "order", None)
        return str(order.public_id) if order else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_license(self, trial: Trial) -> str | None:
        licenses = sorted(trial.licenses.all(), key=lambda lic: lic.created_at, reverse=True)
        return str(licenses[0].public_id) if licenses else None


class TrialRequestSerializer(serializers.Serializer):
    listing = serializers.SlugField(help_text="The listing's slug.")
    offering = serializers.UUIDField()
    plan = serializers.UUIDField()
    region = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="Cloud offerings.")
    site = serializers.UUIDField(required=False, allow_null=True, help_text="On-premise and hybrid offerings.")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class TrialDeclineSerializer(serializers.Serializer):
    # Required, but checked by the service after the caller's rights (a provider gets 403, not 400).
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="Required: why, for the hospital."
    )


class TrialCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


# --- quotes ------------------------------------------------------------------------------------

TERMS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["eula", "dpa", "baa"]},
            "title": {"type": "string"},
            "version": {"type": "string"},
            "accepted_by": {"type": "string"},
            "accepted_at": {"type": "string", "format": "date-time"},
        },
    },
}


class QuoteLineItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuoteLineItem
        fields = ("description", "quantity", "unit_price", "amount")


class QuoteVersionSerializer(serializers.ModelSerializer):
    line_items = QuoteLineItemSerializer(many=True)

    class Meta:
        model = Quote
        fields = (
            "version",
            "currency",
            "total",
            "valid_until",
            "term_months",
            "auto_renew",
            "terms",
            "line_items",
            "issued_by",
            "created_at",
        )


class OrderRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()


class QuoteRequestSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    sites = serializers.SerializerMethodField()
    trial = serializers.UUIDField(source="trial.public_id", allow_null=True, default=None)
    current_version = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    order = serializers.SerializerMethodField()

    class Meta:
        model = QuoteRequest
        fields = (
            "id",
            "status",
            "provider",
            "vendor",
            "listing",
            "offering",
            "plan",
            "region",
            "sites",
            "seats",
            "studies_per_month",
            "desired_start",
            "notes",
            "trial",
            "reason",
            "requested_by",
            "current_version",
            "versions",
            "order",
            "quoted_at",
            "closed_at",
            "created_at",
            "updated_at",
        )

    def get_sites(self, quote_request: QuoteRequest) -> list[str]:
        return [str(site.public_id) for site in quote_request.sites.all()]

    def _versions(self, quote_request: QuoteRequest) -> list[Quote]:
        return sorted(quote_request.quotes.all(), key=lambda quote: -quote.version)

    @extend_schema_field(QuoteVersionSerializer(allow_null=True))
    def get_current_version(self, quote_request: QuoteRequest) -> dict | None:
        versions = self._versions(quote_request)
        return QuoteVersionSerializer(versions[0]).data if versions else None

    @extend_schema_field(QuoteVersionSerializer(many=True))
    def get_versions(self, quote_request: QuoteRequest) -> list[dict]:
        return QuoteVersionSerializer(self._versions(quote_request), many=True).data

    @extend_schema_field(OrderRefSerializer(allow_null=True))
    def get_order(self, quote_request: QuoteRequest) -> dict | None:
        order = getattr(quote_request, "order", None)
        return OrderRefSerializer(order).data if order else None


class QuoteRequestInputSerializer(serializers.Serializer):
    listing = serializers.SlugField(help_text="The listing's slug.")
    offering = serializers.UUIDField()
    plan = serializers.UUIDField(required=False, allow_null=True, help_text="Empty for a custom quote.")
    region = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="Cloud offerings.")
    sites = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=50, help_text="On-premise and hybrid offerings."
    )
    seats = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)
    studies_per_month = serializers.IntegerField(min_value=0, max_value=100_000_000, required=False, allow_null=True)
    desired_start = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    trial = serializers.UUIDField(required=False, allow_null=True, help_text="The trial this quote follows.")


class LineItemInputSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=300)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"))


class QuoteIssueSerializer(serializers.Serializer):
    # A ListField (not many=True): its "empty" and "too long" errors name `line_items` itself
    # rather than `line_items.non_field_errors`.
    line_items = serializers.ListField(child=LineItemInputSerializer(), allow_empty=False, max_length=50)
    currency = serializers.RegexField(r"^[A-Z]{3}$", help_text="ISO 4217, e.g. EUR.")
    valid_until = serializers.DateField()
    term_months = serializers.IntegerField(min_value=1, max_value=120, default=12)
    auto_renew = serializers.BooleanField(default=True)
    terms = serializers.CharField(max_length=8000, required=False, allow_blank=True)


class AcceptedTermSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["eula", "dpa", "baa"])
    version = serializers.CharField(max_length=20)


class PurchaseSerializer(serializers.Serializer):
    accepted_terms = serializers.ListField(
        child=AcceptedTermSerializer(),
        required=False,
        help_text="The agreements of the listing's `terms`, each with the version read.",
    )
    purchase_order_number = serializers.CharField(max_length=60, required=False, allow_blank=True)


class QuoteAcceptSerializer(PurchaseSerializer):
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="The version read; 409 if a newer one replaced it."
    )


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


# --- orders, subscriptions, entitlements, licenses ------------------------------------------


class EntitlementSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    subscription = serializers.UUIDField(source="subscription.public_id")
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    site = serializers.UUIDField(source="site.public_id", allow_null=True, default=None)
    deployment = OrderRefSerializer(allow_null=True)
    license = serializers.SerializerMethodField()

    class Meta:
        model = Entitlement
        fields = (
            "id",
            "subscription",
            "provider",
            "vendor",
            "listing",
            "offering",
            "plan",
            "site",
            "region",
            "seats",
            "features",
            "valid_from",
            "valid_until",
            "deployment",
            "license",
        )

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_license(self, entitlement: Entitlement) -> str | None:
        """The newest license (renewals add one)."""
        licenses = sorted(entitlement.licenses.all(), key=lambda lic: lic.created_at, reverse=True)
        return str(licenses[0].public_id) if licenses else None


class SubscriptionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    order = serializers.UUIDField(source="order.public_id")
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    entitlements = EntitlementSerializer(many=True)

    class Meta:
        model = Subscription
        fields = (
            "id",
            "status",
            "provider",
            "vendor",
            "order",
            "listing",
            "offering",
            "plan",
            "term_months",
            "auto_renew",
            "current_period_start",
            "current_period_end",
            "renewals",
            "reason",
            "entitlements",
            "activated_at",
            "ended_at",
            "created_at",
            "updated_at",
        )


class OrderSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    quote = serializers.UUIDField(source="quote_request.public_id", allow_null=True, default=None)
    quote_version = serializers.IntegerField(source="quote.version", allow_null=True, default=None)
    trial = serializers.UUIDField(source="trial.public_id", allow_null=True, default=None)
    subscription = serializers.SerializerMethodField()
    accepted_terms = serializers.JSONField()

    class Meta:
        model = Order
        fields = (
            "id",
            "status",
            "source",
            "provider",
            "vendor",
            "listing",
            "offering",
            "plan",
            "quote",
            "quote_version",
            "trial",
            "purchase_order_number",
            "accepted_terms",
            "accepted_by",
            "accepted_at",
            "currency",
            "total",
            "seats",
            "subscription",
            "fulfilled_at",
            "cancelled_at",
            "created_at",
            "updated_at",
        )

    @extend_schema_field(OrderRefSerializer(allow_null=True))
    def get_subscription(self, order: Order) -> dict | None:
        subscription = getattr(order, "subscription", None)
        return OrderRefSerializer(subscription).data if subscription else None


class OrderInputSerializer(PurchaseSerializer):
    listing = serializers.SlugField(help_text="The listing's slug.")
    offering = serializers.UUIDField()
    plan = serializers.UUIDField(help_text="A list-priced plan (not quote-only).")
    region = serializers.CharField(max_length=40, required=False, allow_blank=True)
    sites = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=50)
    seats = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)


class LicenseSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    listing = serializers.SlugField(source="listing.slug")
    entitlement = serializers.UUIDField(source="entitlement.public_id", allow_null=True, default=None)
    trial = serializers.UUIDField(source="trial.public_id", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=["valid", "expired", "revoked"])
    token = serializers.CharField(help_text="The compact JWS; verify it with /api/v1/licensing/public-key/.")
    claims = serializers.JSONField()

    class Meta:
        model = License
        fields = (
            "id",
            "status",
            "provider",
            "vendor",
            "listing",
            "entitlement",
            "trial",
            "kid",
            "not_before",
            "expires_at",
            "revoked_at",
            "revocation_reason",
            "claims",
            "token",
            "created_at",
        )


class JwkSerializer(serializers.Serializer):
    kid = serializers.CharField()
    kty = serializers.CharField()
    crv = serializers.CharField()
    x = serializers.CharField()


class JwksSerializer(serializers.Serializer):
    keys = JwkSerializer(many=True)


class RevocationListSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Compact JWS (EdDSA) whose payload holds `iat` and `revoked`.")
    kid = serializers.CharField()
    iat = serializers.IntegerField()
    revoked = serializers.ListField(child=serializers.UUIDField())
