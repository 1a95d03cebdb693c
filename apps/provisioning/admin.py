from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.provisioning import services
from apps.provisioning.models import Bundle, Deployment, DeploymentStep, EnrollmentToken, SiteAgent
from marketplace.admin import OperatorConsoleMixin
from marketplace.errors import ApplicationError
from marketplace.principal import operator_principal


class StepInline(admin.TabularInline):
    model = DeploymentStep
    extra = 0
    can_delete = False
    fields = ("phase", "position", "title", "status", "attempts", "started_at", "finished_at", "message")
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Deployment)
class DeploymentAdmin(OperatorConsoleMixin, admin.ModelAdmin):
    """Operators watch deployments, retry failed ones and deprovision (through the services)."""

    list_display = ("listing", "provider", "vendor", "status", "progress_percent", "current_step", "updated_at")
    list_filter = ("status", "backend")
    search_fields = ("listing__name", "provider__name", "vendor__name", "public_id", "external_id")
    inlines = (StepInline,)
    actions = ("retry", "deprovision")
    list_select_related = ("listing", "provider", "vendor")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Deployment._meta.get_fields() if f.concrete and not f.auto_created]

    def _run(self, request: HttpRequest, queryset: QuerySet, call: Any, done: str) -> None:
        actor = operator_principal(request.user)
        count = 0
        for deployment in queryset:
            try:
                call(deployment, actor)
                count += 1
            except ApplicationError as exc:
                messages.error(request, f"{deployment}: {exc.message}")
        if count:
            messages.success(request, f"{count} deployment(s) {done}.")

    @admin.action(description="Retry selected failed deployments")
    def retry(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        self._run(request, queryset, lambda d, a: services.deployment_retry(deployment=d, actor=a), "retried")

    @admin.action(description="Deprovision selected deployments")
    def deprovision(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        self._run(
            request,
            queryset,
            lambda d, a: services.deployment_deprovision(deployment=d, actor=a, reason="Deprovisioned by an operator."),
            "sent to deprovisioning",
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnlyConsole(OperatorConsoleMixin, admin.ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        hidden = set(getattr(self, "exclude", None) or ())
        return [
            f.name for f in self.model._meta.get_fields() if f.concrete and not f.auto_created and f.name not in hidden
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SiteAgent)
class SiteAgentAdmin(_ReadOnlyConsole):
    list_display = ("name", "site", "organization", "air_gapped", "agent_version", "last_seen_at", "revoked_at")
    list_filter = ("air_gapped",)
    search_fields = ("name", "hostname", "site__name", "organization__name", "public_id")
    list_select_related = ("site", "organization")
    exclude = ("credential_hash",)


@admin.register(Bundle)
class BundleAdmin(_ReadOnlyConsole):
    list_display = ("filename", "provider", "vendor", "site", "version", "size", "created_at")
    search_fields = ("filename", "provider__name", "vendor__name", "public_id", "sha256")
    list_select_related = ("provider", "vendor", "site")


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(_ReadOnlyConsole):
    list_display = ("hint", "site", "organization", "created_by", "expires_at", "used_at")
    search_fields = ("hint", "site__name", "organization__name")
    list_select_related = ("site", "organization")
    exclude = ("token_hash",)
