"""Webhook endpoints (organization admins; operators read) and the delivery log with replay."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.webhooks import services
from apps.webhooks.api import serializers as s
from apps.webhooks.feed import decode_cursor, encode_cursor, feed_events
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import webhook_payload
from marketplace.errors import Forbidden
from marketplace.idempotency import idempotent_create
from marketplace.permissions import IsAuthenticatedPrincipal
from marketplace.principal import Principal, Role, get_principal
from marketplace.tenancy import scope_queryset


def _reader(principal: Principal) -> None:
    if not (principal.is_operator or principal.has_role(Role.ADMIN)):
        raise Forbidden("Organization admins manage webhooks.")


class EndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.EndpointSerializer
    queryset = WebhookEndpoint.objects.none()
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ("is_active",)

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        principal = get_principal(self.request)
        _reader(principal)
        return scope_queryset(WebhookEndpoint.objects.select_related("organization"), principal)

    @extend_schema(request=s.EndpointInputSerializer, responses={201: s.EndpointWithSecretSerializer})
    def create(self, request: Request) -> Response:
        """Register an endpoint; the answer carries its signing secret, once."""
        principal = get_principal(request)
        if principal.organization is None:
            raise Forbidden("Act for an organization to register webhook endpoints.")
        _reader(principal)

        def _create() -> Response:
            data = s.EndpointInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            endpoint, secret = services.endpoint_create(
                organization=principal.organization, actor=principal, **data.validated_data
            )
            body = {**s.EndpointSerializer(endpoint).data, "secret": secret}
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent_create(request, _create, secret_fields=("secret",))

    @extend_schema(request=s.EndpointUpdateSerializer, responses=s.EndpointSerializer)
    def partial_update(self, request: Request, id: str) -> Response:
        """Change the URL, the event types, the description, or switch it on or off."""
        endpoint = self.get_object()
        data = s.EndpointUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=endpoint, actor=get_principal(request), data=data.validated_data)
        return Response(s.EndpointSerializer(endpoint).data)

    def destroy(self, request: Request, id: str) -> Response:  # type: ignore[override]
        """Remove the endpoint and its delivery log."""
        services.endpoint_delete(endpoint=self.get_object(), actor=get_principal(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.RotateSecretSerializer, responses=s.EndpointWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, id: str) -> Response:
        """A new secret, shown once; the previous one keeps signing too for `overlap_hours`."""
        endpoint = self.get_object()
        data = s.RotateSecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_rotate_secret(
            endpoint=endpoint, actor=get_principal(request), overlap_hours=data.validated_data["overlap_hours"]
        )
        return Response({**s.EndpointSerializer(endpoint).data, "secret": secret})

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, id: str) -> Response:
        """Send a `webhook.test` event to this endpoint now."""
        delivery = services.endpoint_send_test(endpoint=self.get_object(), actor=get_principal(request))
        delivery.refresh_from_db()
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DeliverySerializer
    queryset = WebhookDelivery.objects.none()
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    filterset_fields = ("status", "event_type")

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        principal = get_principal(self.request)
        _reader(principal)
        queryset = services.deliveries_visible_to(principal=principal)
        endpoint = self.request.query_params.get("endpoint")
        if endpoint:
            queryset = queryset.filter(endpoint__public_id__in=[endpoint] if _is_uuid(endpoint) else [])
        return queryset

    @extend_schema(request=None, responses=s.DeliverySerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, id: str) -> Response:
        """Send the delivery again from the start of the retry schedule."""
        delivery = services.delivery_replay(delivery=self.get_object(), actor=get_principal(request))
        return Response(s.DeliverySerializer(self.get_queryset().get(pk=delivery.pk)).data)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class EventFeedView(APIView):
    """GET /api/v1/events/: the organization's events in the order they became visible."""

    permission_classes = (IsAuthenticatedPrincipal,)

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="The `next` cursor of the previous page; absent: the start."),
            OpenApiParameter("page_size", int, description="1-100, default 25."),
            OpenApiParameter("type", str, many=True, description="Event types or patterns ('trial.*'); repeat."),
        ],
        responses=s.EventPageSerializer,
    )
    def get(self, request: Request) -> Response:
        """Events are ordered by a sequence assigned after their transaction commits, so a poller
        that follows `next` resumes exactly where it stopped: it never misses or repeats an event,
        even when transactions commit out of order. `next` is always present; poll it again later
        when `results` is empty."""
        principal = get_principal(request)
        query = s.EventQuerySerializer(
            data={**request.query_params.dict(), "type": request.query_params.getlist("type")}
        )
        query.is_valid(raise_exception=True)
        values = query.validated_data
        after = decode_cursor(values["cursor"]) if values.get("cursor") else 0
        size = values.get("page_size", 25)
        events = feed_events(principal=principal, after=after, types=values.get("type") or [])[:size]
        page = list(events)
        last = page[-1].sequence if page else after
        base = request.build_absolute_uri(request.path)
        params = {"cursor": encode_cursor(last), "page_size": size}
        if values.get("type"):
            params["type"] = values["type"]
        return Response(
            {"next": f"{base}?{urlencode(params, doseq=True)}", "results": [webhook_payload(e) for e in page]}
        )
