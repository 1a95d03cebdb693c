"""The operator console for the catalog: the review queue, what a revision changes, and the
workflow actions (each calls the same service as the API, so audit entries and events match)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from apps.catalog import services
from apps.catalog.models import (
    Category,
    Document,
    Listing,
    ListingRevision,
    Modality,
    Offering,
    Plan,
    RegulatoryClearance,
    Screenshot,
    Specialty,
    Standard,
    Version,
)
from marketplace.admin import OperatorConsoleMixin
from marketplace.errors import ApplicationError
from marketplace.principal import operator_principal


def _run(request: HttpRequest, queryset: QuerySet, call: Callable[[Any], Any], done: str) -> None:
    actor = operator_principal(request.user)
    succeeded = 0
    for obj in queryset:
        try:
            call(obj, actor)
            succeeded += 1
        except ApplicationError as exc:
            messages.error(request, f"{obj}: {exc.message}")
    if succeeded:
        messages.success(request, f"{succeeded} {done}.")


def _with_reason(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, *, title: str, call: Callable[..., Any]
) -> HttpResponse | None:
    """An action that asks for a reason on an intermediate page before it runs."""
    if request.POST.get("confirm"):
        reason = request.POST.get("reason", "").strip()
        if reason:
            _run(request, queryset, lambda obj, actor: call(obj, actor, reason), title.lower())
            return None
        messages.error(request, "A reason is required.")
    return TemplateResponse(
        request,
        "admin/catalog/reason_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "action": request.POST.get("action"),
            "opts": modeladmin.model._meta,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        },
    )


class ReadOnlyInline(admin.TabularInline):
    """Operators see a listing's parts; only its vendor changes them (through the services)."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ClearanceInline(ReadOnlyInline):
    model = RegulatoryClearance
    extra = 0


class OfferingInline(ReadOnlyInline):
    model = Offering
    extra = 0
    fields = ("mode", "name", "regions", "is_active")
    show_change_link = True


class DocumentInline(ReadOnlyInline):
    model = Document
    extra = 0
    fields = ("kind", "title", "visibility", "filename", "size", "sha256")
    readonly_fields = ("filename", "size", "sha256")


class VersionInline(ReadOnlyInline):
    model = Version
    extra = 0
    fields = ("version", "released_on")


@admin.register(Listing)
class ListingAdmin(OperatorConsoleMixin, admin.ModelAdmin):
    list_display = ("name", "vendor", "status", "submitted_at", "published_at", "review_checklist")
    list_filter = ("status", "processes_patient_data", "categories")
    search_fields = ("name", "slug", "vendor__name")
    readonly_fields = (
        "public_id",
        "vendor",
        "slug",
        "status",
        "submitted_at",
        "published_at",
        "review_reason",
        "review_checklist",
        "search_vendor",
        "search_terms",
        "deployment_modes",
        "pricing_models",
    )
    inlines = (ClearanceInline, OfferingInline, VersionInline, DocumentInline)
    actions = ("approve", "request_changes", "suspend", "reinstate", "retire")
    list_select_related = ("vendor",)

    @admin.display(description="Review checklist")
    def review_checklist(self, listing: Listing) -> str:
        """What an operator checks before publishing."""
        kinds = set(listing.documents.values_list("kind", flat=True))
        checks = [
            ("Regulatory facts", listing.clearances.exists() or bool(listing.intended_use)),
            ("Instructions for use", Document.Kind.IFU in kinds),
            ("Data-handling facts", not listing.processes_patient_data or bool(listing.data_residency)),
            ("Security documents (MDS2 or SBOM)", bool(kinds & {Document.Kind.MDS2, Document.Kind.SBOM})),
            ("Offering with a plan", Plan.objects.filter(offering__listing=listing, is_active=True).exists()),
        ]
        return format_html_join(" · ", "{} {}", (("✔" if ok else "✘", name) for name, ok in checks))

    @admin.action(description="Publish selected listings (in review)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        _run(
            request,
            queryset,
            lambda listing, actor: services.listing_approve(listing=listing, actor=actor),
            "published",
        )

    @admin.action(description="Request changes (asks for a reason)")
    def request_changes(self, request: HttpRequest, queryset: QuerySet[Listing]) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            title="Request changes",
            call=lambda listing, actor, reason: services.listing_request_changes(
                listing=listing, actor=actor, reason=reason
            ),
        )

    @admin.action(description="Suspend (asks for a reason)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Listing]) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            title="Suspend",
            call=lambda listing, actor, reason: services.listing_suspend(listing=listing, actor=actor, reason=reason),
        )

    @admin.action(description="Reinstate selected suspended listings")
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        _run(
            request,
            queryset,
            lambda listing, actor: services.listing_reinstate(listing=listing, actor=actor),
            "reinstated",
        )

    @admin.action(description="Retire selected listings")
    def retire(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        _run(request, queryset, lambda listing, actor: services.listing_retire(listing=listing, actor=actor), "retired")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Operators review; the vendor's content changes only through the vendor's services.
        fields = [f.name for f in Listing._meta.get_fields() if f.concrete and not f.auto_created]
        return [*self.readonly_fields, *(f for f in fields if f not in self.readonly_fields)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vendors create listings; operators review them

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _revision_value(field: str, value: Any) -> Any:
    """A changed value as the reviewer should see it: pictures for the logo and screenshots."""
    storage = Screenshot._meta.get_field("file").storage
    if field == "logo":
        return format_html('<img src="{}" alt="logo" width="96">', storage.url(value)) if value else "—"
    if field == "screenshots":
        return format_html_join(
            " ",
            '<figure><img src="{}" alt="{}" width="240"><figcaption>{}</figcaption></figure>',
            ((storage.url(item["file"]), item["caption"], item["caption"] or item["filename"]) for item in value or []),
        )
    return value


@admin.register(ListingRevision)
class ListingRevisionAdmin(OperatorConsoleMixin, admin.ModelAdmin):
    list_display = ("listing", "status", "submitted_at", "reviewed_at")
    list_filter = ("status",)
    search_fields = ("listing__name", "listing__slug")
    readonly_fields = ("listing", "status", "what_changes", "review_reason", "submitted_at", "reviewed_at")
    exclude = ("data", "base")
    actions = ("approve", "request_changes")

    @admin.display(description="What changes")
    def what_changes(self, revision: ListingRevision) -> str:
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (field, _revision_value(field, change["old"]), _revision_value(field, change["new"]))
                for field, change in services.revision_diff(revision).items()
            ),
        )
        return format_html(
            "<table><thead><tr><th>field</th><th>live</th><th>proposed</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Approve selected revisions (applies them)")
    def approve(self, request: HttpRequest, queryset: QuerySet[ListingRevision]) -> None:
        _run(
            request,
            queryset,
            lambda revision, actor: services.revision_approve(revision=revision, actor=actor),
            "approved",
        )

    @admin.action(description="Request changes (asks for a reason)")
    def request_changes(self, request: HttpRequest, queryset: QuerySet[ListingRevision]) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            title="Request changes",
            call=lambda revision, actor, reason: services.revision_request_changes(
                revision=revision, actor=actor, reason=reason
            ),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


for vocabulary in (Category, Specialty, Modality, Standard):
    admin.site.register(vocabulary, list_display=("name", "slug"), search_fields=("name", "slug"))
