"""Trials: providers request and cancel, vendors approve and decline; both see progress."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.catalog.models import Listing, Offering, Plan
from apps.organizations.models import Site
from apps.procurement import selectors, services
from apps.procurement.api import serializers as s
from apps.procurement.models import Trial
from marketplace.errors import Forbidden, ValidationFailed
from marketplace.idempotency import idempotent_create
from marketplace.principal import get_principal


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
