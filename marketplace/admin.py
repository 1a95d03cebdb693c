from django.conf import settings
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

from marketplace.models import AuditEntry, Event, OutboxMessage


class OperatorConsoleMixin:
    """Model admins made for the operators' job: every active staff user (an operator) may use
    them without per-model permissions; what they change still goes through services."""

    class Media:
        css = {"all": ("marketplace/operator-console.css",)}

    def _is_operator(self, request) -> bool:  # type: ignore[no-untyped-def]
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return self._is_operator(request)

    def has_view_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._is_operator(request)

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._is_operator(request)


@admin.register(AuditEntry)
class AuditEntryAdmin(OperatorConsoleMixin, admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("created_at", "action", "actor_label", "object_type", "object_id", "organization_id")
    list_filter = ("action", "actor_kind")
    search_fields = ("action", "object_id", "actor_label", "request_id")

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("sequence", "type", "subject_type", "subject_id", "occurred_at")
    list_filter = ("type",)
    search_fields = ("subject_id", "type")

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "task_name", "created_at", "dispatched_at", "attempts")
    list_filter = ("task_name",)


class OperatorAdminSite(OTPAdminSite):
    """The operator console. With MARKETPLACE_OPERATOR_2FA (always in production) an operator
    needs a verified second factor (TOTP): the sign-in form asks for the code."""

    site_header = "Marketplace operator console"
    site_title = "Operator console"

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.MARKETPLACE_OPERATOR_2FA:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        self.login_form = OTPAdminAuthenticationForm if settings.MARKETPLACE_OPERATOR_2FA else AdminAuthenticationForm
        return super().login(request, extra_context)
