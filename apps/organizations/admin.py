from django.contrib import admin

from apps.organizations.models import ApiClient, Invitation, Membership, Organization, Site


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("public_id", "created_at")


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0
    readonly_fields = ("public_id", "created_at")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "sector", "country", "verified_at")
    list_filter = ("kind", "sector", ("verified_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "slug", "legal_name", "registration_number")
    readonly_fields = (
        "public_id",
        "created_at",
        "updated_at",
        "verified_at",
        "verified_by",
        "partner_terms_accepted_at",
    )
    inlines = (MembershipInline, SiteInline)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "status", "expires_at")
    search_fields = ("email", "organization__name")
    readonly_fields = ("token_hash", "public_id", "accepted_at", "accepted_by", "revoked_at")


# django-oauth-toolkit registers its own admin for the application model; ours shows the owner.
if admin.site.is_registered(ApiClient):
    admin.site.unregister(ApiClient)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "role", "client_id", "created", "revoked_at")
    list_filter = ("role",)
    search_fields = ("name", "client_id", "organization__name")
    readonly_fields = ("client_id", "client_secret", "public_id", "created", "revoked_at")
    fields = ("name", "organization", "role", "client_id", "public_id", "created", "revoked_at")
