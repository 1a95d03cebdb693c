from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.procurement import services
from apps.procurement.models import Trial
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
