"""Trials: providers request and cancel, vendors approve and decline; both see progress."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Site
from apps.procurement import selectors, services
from apps.procurement.api import serializers as s
from apps.procurement.models import Entitlement, License, Order, QuoteRequest, Subscription, Trial
from marketplace.errors import Forbidden, ValidationFailed
from marketplace.idempotency import idempotent_create
from marketplace.principal import Role, get_principal


class TrialViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.TrialSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    queryset = Trial.objects.none()
    filterset_fields = ("status",)

    def get_queryset(self) -> QuerySet[Trial]:
        return selectors.trials_visible_to(principal=get_principal(self.request))

    def _answer(self, trial: Trial, status_code: int = 200) -> Response:
        return Response(s.TrialSerializer(self.get_queryset().get(pk=trial.pk)).data, status=status_code)

    @extend_schema(request=s.TrialRequestSerializer, responses={201: s.TrialSerializer})
    def create(self, request: Request) -> Response:
        """A provider member requests a trial of an offering under a plan with trial terms: a
        region for cloud offerings, one of the provider's sites otherwise."""
        principal = get_principal(request)
        if principal.organization is None:
            raise Forbidden("Act for a provider organization to request trials.")
        services.trial_request_check(provider=principal.organization, actor=principal)

        def _create() -> Response:
            data = s.TrialRequestSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            listing = Listing.objects.filter(slug=values["listing"], status=Listing.Status.PUBLISHED).first()
            if listing is None:
                raise ValidationFailed.for_field("listing", "No such app in the store.")
            offering = Offering.objects.filter(public_id=values["offering"], listing=listing).first()
            if offering is None:
                raise ValidationFailed.for_field("offering", "No such offering for this app.")
            plan = Plan.objects.filter(public_id=values["plan"], offering=offering).first()
            if plan is None:
                raise ValidationFailed.for_field("plan", "No such plan for this offering.")
            site = None
            if values.get("site"):
                site = Site.objects.filter(public_id=values["site"], organization=principal.organization).first()
                if site is None:
                    raise ValidationFailed.for_field("site", "No such site in your organization.")
            trial = services.trial_request(
                provider=principal.organization,
                actor=principal,
                listing=listing,
                offering=offering,
                plan=plan,
                site=site,
                region=values.get("region", ""),
                notes=values.get("notes", ""),
            )
            return self._answer(trial, status.HTTP_201_CREATED)

        return idempotent_create(request, _create)

    @extend_schema(request=None, responses=s.TrialSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, id: str) -> Response:
        """The vendor approves; a worker provisions the trial right after."""
        return self._answer(services.trial_approve(trial=self.get_object(), actor=get_principal(request)))

    @extend_schema(request=s.TrialDeclineSerializer, responses=s.TrialSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, id: str) -> Response:
        """The vendor declines, with a reason the hospital sees."""
        data = s.TrialDeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trial = services.trial_decline(
            trial=self.get_object(), actor=get_principal(request), reason=data.validated_data.get("reason", "")
        )
        return self._answer(trial)

    @extend_schema(request=s.PurchaseSerializer, responses=s.TrialSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request: Request, id: str) -> Response:
        """A provider admin buys the active trial's list-priced plan, accepting the listing's terms:
        the running deployment moves to the new subscription (`order` names the order)."""
        trial = self.get_object()
        principal = get_principal(request)
        from apps.procurement.services.common import require_party

        require_party(trial, principal, "provider", Role.ADMIN)

        def _convert() -> Response:
            data = s.PurchaseSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            services.trial_convert(
                trial=trial,
                actor=principal,
                accepted_terms=[dict(term) for term in values.get("accepted_terms", [])],
                purchase_order_number=values.get("purchase_order_number", ""),
            )
            return self._answer(trial)

        return idempotent_create(request, _convert)

    @extend_schema(request=s.TrialCancelSerializer, responses=s.TrialSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        """The provider cancels an open trial; what was set up is removed."""
        data = s.TrialCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trial = services.trial_cancel(
            trial=self.get_object(), actor=get_principal(request), reason=data.validated_data.get("reason", "")
        )
        return self._answer(trial)


def _sites_of(principal_org: Any, ids: list[Any], field: str = "sites") -> list[Site]:
    sites = list(Site.objects.filter(public_id__in=ids, organization=principal_org, archived_at__isnull=True))
    if len(sites) != len(set(ids)):
        raise ValidationFailed.for_field(field, "No such site in your organization.")
    return sites


def _catalog_choice(values: dict[str, Any]) -> tuple[Listing, Offering, Plan | None]:
    listing = Listing.objects.filter(slug=values["listing"], status=Listing.Status.PUBLISHED).first()
    if listing is None:
        raise ValidationFailed.for_field("listing", "No such app in the store.")
    offering = Offering.objects.filter(public_id=values["offering"], listing=listing).first()
    if offering is None:
        raise ValidationFailed.for_field("offering", "No such offering for this app.")
    plan = None
    if values.get("plan"):
        plan = Plan.objects.filter(public_id=values["plan"], offering=offering).first()
        if plan is None:
            raise ValidationFailed.for_field("plan", "No such plan for this offering.")
    return listing, offering, plan


class TwoPartyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Lookups by public id; `_answer` re-reads the object through the scoped queryset."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    filterset_fields = ("status",)

    def _answer(self, obj: Any, status_code: int = 200) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data, status=status_code)

    def _reason(self) -> str:
        """The optional `reason` of a transition (the services say when it is required)."""
        data = s.ReasonInputSerializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data.get("reason", "")


class QuoteViewSet(TwoPartyViewSet):
    """Quote requests and the vendor's versioned quotes. Providers request, cancel, decline and
    (admins) accept; vendors issue (again, for a new version) and withdraw."""

    serializer_class = s.QuoteRequestSerializer
    queryset = QuoteRequest.objects.none()

    def get_queryset(self) -> QuerySet[QuoteRequest]:
        return selectors.quote_requests_visible_to(principal=get_principal(self.request))

    @extend_schema(request=s.QuoteRequestInputSerializer, responses={201: s.QuoteRequestSerializer})
    def create(self, request: Request) -> Response:
        """Request a quote for an offering: a plan or custom, a region (cloud) or sites, quantities,
        desired start, notes, and optionally the trial it follows."""
        principal = get_principal(request)
        if principal.organization is None:
            raise Forbidden("Act for a provider organization to request quotes.")
        services.quote_request_check(provider=principal.organization, actor=principal)

        def _create() -> Response:
            data = s.QuoteRequestInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            listing, offering, plan = _catalog_choice(values)
            trial = None
            if values.get("trial"):
                trial = Trial.objects.filter(public_id=values["trial"], provider=principal.organization).first()
                if trial is None:
                    raise ValidationFailed.for_field("trial", "No such trial of your organization.")
            quote_request = services.quote_request_create(
                provider=principal.organization,
                actor=principal,
                listing=listing,
                offering=offering,
                plan=plan,
                region=values.get("region", ""),
                sites=_sites_of(principal.organization, values.get("sites", [])),
                seats=values.get("seats"),
                studies_per_month=values.get("studies_per_month"),
                desired_start=values.get("desired_start"),
                notes=values.get("notes", ""),
                trial=trial,
            )
            return self._answer(quote_request, status.HTTP_201_CREATED)

        return idempotent_create(request, _create)

    @extend_schema(request=s.QuoteIssueSerializer, responses=s.QuoteRequestSerializer)
    @action(detail=True, methods=["post"])
    def issue(self, request: Request, id: str) -> Response:
        """The vendor issues a quote (line items; the server computes amounts and the total).
        Issuing again makes a new version; the old ones stay readable."""
        quote_request = self.get_object()
        principal = get_principal(request)
        from apps.procurement.services.common import require_party

        require_party(quote_request, principal, "vendor", Role.MEMBER)
        data = s.QuoteIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.quote_issue(
            quote_request=quote_request,
            actor=principal,
            line_items=[dict(item) for item in values["line_items"]],
            currency=values["currency"],
            valid_until=values["valid_until"],
            terms=values.get("terms", ""),
            term_months=values["term_months"],
            auto_renew=values["auto_renew"],
        )
        return self._answer(quote_request)

    @extend_schema(request=s.QuoteAcceptSerializer, responses=s.QuoteRequestSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, id: str) -> Response:
        """A provider admin accepts the current version, with the listing's terms and a purchase
        order number: an order, a subscription, entitlements, licenses and deployments follow.
        409 when it is already accepted, expired, or `version` is not the current one."""
        quote_request = self.get_object()
        principal = get_principal(request)
        from apps.procurement.services.common import require_party

        require_party(quote_request, principal, "provider", Role.ADMIN)

        def _accept() -> Response:
            data = s.QuoteAcceptSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            services.quote_accept(
                quote_request=quote_request,
                actor=principal,
                accepted_terms=[dict(term) for term in values.get("accepted_terms", [])],
                purchase_order_number=values.get("purchase_order_number", ""),
                version=values.get("version"),
            )
            return self._answer(quote_request)

        return idempotent_create(request, _accept)

    @extend_schema(request=s.ReasonInputSerializer, responses=s.QuoteRequestSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, id: str) -> Response:
        """The provider refuses the quote."""
        quote_request = self.get_object()
        return self._answer(
            services.quote_decline(quote_request=quote_request, actor=get_principal(request), reason=self._reason())
        )

    @extend_schema(request=s.ReasonInputSerializer, responses=s.QuoteRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        """The provider no longer wants a quote."""
        quote_request = self.get_object()
        return self._answer(
            services.quote_cancel(quote_request=quote_request, actor=get_principal(request), reason=self._reason())
        )

    @extend_schema(request=s.ReasonInputSerializer, responses=s.QuoteRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, id: str) -> Response:
        """The vendor will not quote, or takes its quote back (reason required)."""
        quote_request = self.get_object()
        return self._answer(
            services.quote_withdraw(quote_request=quote_request, actor=get_principal(request), reason=self._reason())
        )


class OrderViewSet(TwoPartyViewSet):
    """Purchases: from accepted quotes, converted trials, and direct purchases (POST)."""

    serializer_class = s.OrderSerializer
    queryset = Order.objects.none()
    filterset_fields = ("status", "source")

    def get_queryset(self) -> QuerySet[Order]:
        return selectors.orders_visible_to(principal=get_principal(self.request))

    @extend_schema(request=s.OrderInputSerializer, responses={201: s.OrderSerializer})
    def create(self, request: Request) -> Response:
        """A provider admin buys a list-priced plan directly (quote-only plans: request a quote)."""
        principal = get_principal(request)
        if principal.organization is None:
            raise Forbidden("Act for a provider organization to buy.")
        services.order_place_check(provider=principal.organization, actor=principal)

        def _create() -> Response:
            data = s.OrderInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            listing, offering, plan = _catalog_choice(values)
            assert plan is not None  # required by the serializer
            order = services.order_place(
                provider=principal.organization,
                actor=principal,
                listing=listing,
                offering=offering,
                plan=plan,
                accepted_terms=[dict(term) for term in values.get("accepted_terms", [])],
                region=values.get("region", ""),
                sites=_sites_of(principal.organization, values.get("sites", [])),
                seats=values.get("seats"),
                purchase_order_number=values.get("purchase_order_number", ""),
            )
            return self._answer(order, status.HTTP_201_CREATED)

        return idempotent_create(request, _create)


class SubscriptionViewSet(TwoPartyViewSet):
    """Subscriptions with their entitlements. Vendor admins (and operators) suspend and resume
    with a reason; provider admins (and operators) cancel."""

    serializer_class = s.SubscriptionSerializer
    queryset = Subscription.objects.none()

    def get_queryset(self) -> QuerySet[Subscription]:
        return selectors.subscriptions_visible_to(principal=get_principal(self.request))

    @extend_schema(request=s.ReasonInputSerializer, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, id: str) -> Response:
        """Suspend an active subscription and its deployments (reason required)."""
        subscription = self.get_object()
        return self._answer(
            services.subscription_suspend(
                subscription=subscription, actor=get_principal(request), reason=self._reason()
            )
        )

    @extend_schema(request=s.ReasonInputSerializer, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, id: str) -> Response:
        """Resume a suspended subscription and its deployments (reason required)."""
        subscription = self.get_object()
        return self._answer(
            services.subscription_resume(subscription=subscription, actor=get_principal(request), reason=self._reason())
        )

    @extend_schema(request=s.ReasonInputSerializer, responses=s.SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        """Cancel: deployments are removed and licenses revoked (reason required)."""
        subscription = self.get_object()
        return self._answer(
            services.subscription_cancel(subscription=subscription, actor=get_principal(request), reason=self._reason())
        )


class EntitlementViewSet(TwoPartyViewSet):
    """What each provider may run: listing, offering, plan, site or region, seats, features, validity."""

    serializer_class = s.EntitlementSerializer
    queryset = Entitlement.objects.none()
    filterset_fields = ()

    def get_queryset(self) -> QuerySet[Entitlement]:
        return selectors.entitlements_visible_to(principal=get_principal(self.request))


class LicenseViewSet(TwoPartyViewSet):
    """Signed license documents (compact JWS); operators revoke."""

    serializer_class = s.LicenseSerializer
    queryset = License.objects.none()
    filterset_fields = ()

    def get_queryset(self) -> QuerySet[License]:
        return selectors.licenses_visible_to(principal=get_principal(self.request))

    @extend_schema(request=s.ReasonInputSerializer, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, id: str) -> Response:
        """An operator revokes a license; it appears in the signed revocation list at once."""
        license = self.get_object()
        principal = get_principal(request)
        if not principal.is_operator:
            raise Forbidden("Only operators revoke licenses; cancel the subscription instead.")
        data = s.ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.license_revoke(license=license, actor=principal, reason=data.validated_data.get("reason", ""))
        return self._answer(license)


class LicensingPublicKeyView(APIView):
    """The keys that verify licenses, bundle manifests and revocation lists, as a JWKS (public).
    Old keys stay after a rotation, so licenses they signed still verify."""

    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(responses=s.JwksSerializer, auth=[])
    def get(self, request: Request) -> Response:
        response = Response(services.licensing_jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response


class LicensingRevocationsView(APIView):
    """The signed list of revoked license ids (public), for sites that verify offline."""

    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(responses=s.RevocationListSerializer, auth=[])
    def get(self, request: Request) -> Response:
        response = Response(services.revocation_list())
        response["Cache-Control"] = "public, max-age=60"
        return response
