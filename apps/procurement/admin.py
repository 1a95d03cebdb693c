from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.procurement import services
from apps.procurement.models import License, LicenseSigningKey, Order, Quote, QuoteRequest, Subscription, Trial
from marketplace.admin import OperatorConsoleMixin
from marketplace.errors import ApplicationError
from marketplace.principal import operator_principal


@admin.register(Trial)
class TrialAdmin(OperatorConsoleMixin, admin.ModelAdmin):
    list_display = ("listing", "provider", "vendor", "status", "target", "ends_at", "created_at")
    list_filter = ("status",)
    search_fields = ("listing__name", "provider__name", "vendor__name", "public_id")
    actions = ("cancel",)
    list_select_related = ("listing", "provider", "vendor", "site")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Trial._meta.get_fields() if f.concrete and not f.auto_created]

    @admin.action(description="Cancel selected trials (deprovisions what exists)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Trial]) -> None:
        actor = operator_principal(request.user)
        for trial in queryset:
            try:
                services.trial_cancel(trial=trial, actor=actor, reason="Cancelled by an operator.")
            except ApplicationError as exc:
                messages.error(request, f"{trial}: {exc.message}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyConsole(OperatorConsoleMixin, admin.ModelAdmin):
    """Procurement records are changed only through their services (the actions below)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.get_fields() if f.concrete and not f.auto_created]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class QuoteInline(admin.TabularInline):
    model = Quote
    fields = ("version", "currency", "total", "valid_until", "term_months", "issued_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(QuoteRequest)
class QuoteRequestAdmin(_ReadOnlyConsole):
    list_display = ("listing", "provider", "vendor", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("listing__name", "provider__name", "vendor__name", "public_id")
    list_select_related = ("listing", "provider", "vendor")
    inlines = (QuoteInline,)


@admin.register(Order)
class OrderAdmin(_ReadOnlyConsole):
    list_display = ("listing", "provider", "vendor", "source", "status", "total", "currency", "created_at")
    list_filter = ("status", "source")
    search_fields = ("listing__name", "provider__name", "vendor__name", "public_id", "purchase_order_number")
    list_select_related = ("listing", "provider", "vendor")


@admin.register(Subscription)
class SubscriptionAdmin(_ReadOnlyConsole):
    list_display = ("listing", "provider", "vendor", "status", "current_period_end", "auto_renew")
    list_filter = ("status", "auto_renew")
    search_fields = ("listing__name", "provider__name", "vendor__name", "public_id")
    list_select_related = ("listing", "provider", "vendor")
    actions = ("suspend", "resume", "cancel")

    def _act(self, request: HttpRequest, queryset: QuerySet[Subscription], service: Any, verb: str) -> None:
        actor = operator_principal(request.user)
        for subscription in queryset:
            try:
                service(subscription=subscription, actor=actor, reason=f"{verb} by an operator.")
            except ApplicationError as exc:
                messages.error(request, f"{subscription}: {exc.message}")

    @admin.action(description="Suspend selected subscriptions (suspends their deployments)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._act(request, queryset, services.subscription_suspend, "Suspended")

    @admin.action(description="Resume selected subscriptions")
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._act(request, queryset, services.subscription_resume, "Resumed")

    @admin.action(description="Cancel selected subscriptions (removes deployments, revokes licenses)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        self._act(request, queryset, services.subscription_cancel, "Cancelled")


@admin.register(License)
class LicenseAdmin(_ReadOnlyConsole):
    list_display = ("public_id", "listing", "provider", "kid", "expires_at", "revoked_at")
    list_filter = ("kid",)
    search_fields = ("public_id", "listing__name", "provider__name")
    list_select_related = ("listing", "provider")
    actions = ("revoke",)

    @admin.action(description="Revoke selected licenses (published in the revocation list)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[License]) -> None:
        actor = operator_principal(request.user)
        for license in queryset:
            services.license_revoke(license=license, actor=actor, reason="Revoked by an operator.")


@admin.register(LicenseSigningKey)
class LicenseSigningKeyAdmin(_ReadOnlyConsole):
    list_display = ("kid", "is_active", "created_at", "retired_at")
    exclude = ("private_key_encrypted",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["kid", "is_active", "public_jwk", "created_at", "retired_at"]
