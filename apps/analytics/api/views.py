"""GET /api/v1/analytics/listings/: a vendor's figures per listing over time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics.selectors import MAX_DAYS, listing_figures
from apps.catalog.models import Listing
from marketplace.errors import Forbidden, ValidationFailed
from marketplace.permissions import IsAuthenticatedPrincipal
from marketplace.principal import get_principal


class PointSerializer(serializers.Serializer):
    date = serializers.DateField()
    views = serializers.IntegerField()
    trial_requests = serializers.IntegerField()
    subscriptions = serializers.IntegerField()
    conversions = serializers.IntegerField(help_text="Subscriptions that followed a trial.")
    active_deployments = serializers.IntegerField(help_text="Active at the end of the day.")


class TotalsSerializer(serializers.Serializer):
    views = serializers.IntegerField()
    trial_requests = serializers.IntegerField()
    subscriptions = serializers.IntegerField()
    conversions = serializers.IntegerField()
    active_deployments = serializers.IntegerField(help_text="At the end of the range.")


class ListingFiguresSerializer(serializers.Serializer):
    listing = serializers.SlugField(source="listing.slug")
    name = serializers.CharField(source="listing.name")
    status = serializers.CharField(source="listing.status")
    totals = TotalsSerializer()
    series = PointSerializer(many=True)


class AnalyticsAnswerSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    results = ListingFiguresSerializer(many=True)


class AnalyticsQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="Default: 29 days before `end`.")
    end = serializers.DateField(required=False, help_text="Default: today (UTC).")
    listing = serializers.ListField(
        child=serializers.SlugField(), required=False, help_text="Repeat to choose several."
    )


class ListingAnalyticsView(APIView):
    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="YYYY-MM-DD; default 29 days before end"),
            OpenApiParameter("end", str, description="YYYY-MM-DD; default today"),
            OpenApiParameter("listing", str, many=True, description="listing slugs (repeat); default all"),
        ],
        responses=AnalyticsAnswerSerializer,
    )
    def get(self, request: Request) -> Response:
        """Views (counted without personal data), trial requests, subscriptions, conversions and
        active deployments per listing and day, for the vendor's own listings (operators: all).
        At most 366 days per request."""
        principal = get_principal(request)
        query = AnalyticsQuerySerializer(
            data={**request.query_params.dict(), "listing": request.query_params.getlist("listing")}
        )
        query.is_valid(raise_exception=True)
        values: dict[str, Any] = query.validated_data
        end = values.get("end") or timezone.now().date()
        start = values.get("start") or end - timedelta(days=29)
        if start > end:
            raise ValidationFailed.for_field("start", "The start is after the end.")
        if (end - start).days + 1 > MAX_DAYS:
            raise ValidationFailed.for_field("start", f"At most {MAX_DAYS} days at a time.")
        if principal.is_operator:
            listings = Listing.objects.all()
        elif principal.organization is not None and principal.organization.is_vendor:
            listings = Listing.objects.filter(vendor=principal.organization)
        else:
            raise Forbidden("Analytics are for vendors' own listings.", code="not_a_vendor")
        if values.get("listing"):
            listings = listings.filter(slug__in=values["listing"])
        figures = listing_figures(listings=listings.order_by("name", "id")[:200], start=start, end=end)
        return Response(AnalyticsAnswerSerializer({"start": start, "end": end, "results": figures}).data)
