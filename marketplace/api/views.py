from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from rest_framework import mixins, viewsets

from marketplace.api.serializers import AuditEntrySerializer
from marketplace.errors import Forbidden
from marketplace.models import AuditEntry
from marketplace.principal import Role, get_principal


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment, turned into UTC before it reaches the database: PostgreSQL refuses
    UTC offsets past 15:59 that Python accepts (up to 23:59), and a moment near year 1 can fall
    outside the calendar once converted. Either answers 400 naming the parameter."""

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class AuditEntryFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    actor_id = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ("action", "object_type", "object_id", "actor_id", "since", "until")


class AuditLogViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The organization's audit trail, newest first (org admins; operators see all)."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    queryset = AuditEntry.objects.none()

    def get_queryset(self) -> QuerySet[AuditEntry]:
        principal = get_principal(self.request)
        if principal.is_operator:
            return AuditEntry.objects.all()
        if principal.organization is None or not principal.has_role(Role.ADMIN):
            raise Forbidden("Only organization admins may read the audit log.")
        org = principal.organization
        return AuditEntry.objects.filter(Q(organization=org) | Q(counterparty=org))

    def get_serializer_context(self) -> dict:
        principal = get_principal(self.request)
        return {**super().get_serializer_context(), "organization_id": principal.organization_id}
