"""Input and output serializers, kept apart: inputs never carry status, owners or ids."""

from __future__ import annotations

from rest_framework import serializers

from apps.organizations.models import ApiClient, Invitation, MemberRole, Membership, Organization, Site

# --- organizations ------------------------------------------------------------------------


class OrganizationOutputSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(source="is_verified")

    class Meta:
        model = Organization
        fields = (
            "slug",
            "name",
            "kind",
            "sector",
            "description",
            "country",
            "website",
            "partnership_offer",
            "verified",
            "verified_at",
            "created_at",
        )


class OrganizationPrivateOutputSerializer(OrganizationOutputSerializer):
    """What the organization's own members and operators also see."""

    class Meta(OrganizationOutputSerializer.Meta):
        fields = (
            *OrganizationOutputSerializer.Meta.fields,
            "legal_name",
            "registration_number",
            "contact_email",
            "partner_terms_version",
            "partner_terms_accepted_at",
        )


class OrganizationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Organization.Kind.choices)
    sector = serializers.ChoiceField(choices=Organization.Sector.choices, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True, max_length=2)
    website = serializers.URLField(required=False, allow_blank=True)
    partnership_offer = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class OrganizationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=Organization.Kind.choices, required=False)
    sector = serializers.ChoiceField(choices=Organization.Sector.choices, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True, max_length=2)
    website = serializers.URLField(required=False, allow_blank=True)
    partnership_offer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    legal_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    registration_number = serializers.CharField(max_length=100, required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    accept_partner_terms = serializers.BooleanField(required=False)


# --- members and invitations --------------------------------------------------------------


class MemberOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")

    class Meta:
        model = Membership
        fields = ("id", "email", "full_name", "role", "created_at")


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=MemberRole.choices)


class InvitationOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    invited_by = serializers.EmailField(source="invited_by.email", default=None, allow_null=True)

    class Meta:
        model = Invitation
        fields = ("id", "email", "role", "status", "invited_by", "expires_at", "accepted_at", "created_at")


class InvitationCreateSerializer(serializers.Serializer):
    # The column's length: a longer address is valid e-mail grammar but PostgreSQL refuses it (500).
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=MemberRole.choices, default=MemberRole.MEMBER)


# --- sites --------------------------------------------------------------------------------


class SiteOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")

    class Meta:
        model = Site
        fields = ("id", "name", "kind", "network_posture", "country", "city", "archived_at", "created_at")


class SiteInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Site.Kind.choices, required=False)
    network_posture = serializers.ChoiceField(choices=Site.NetworkPosture.choices, required=False)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True, max_length=2)
    city = serializers.CharField(max_length=120, required=False, allow_blank=True)


# --- API clients --------------------------------------------------------------------------


class ApiClientOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    created_at = serializers.DateTimeField(source="created")
    created_by = serializers.EmailField(source="created_by.email", default=None, allow_null=True)
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiClient
        fields = ("id", "name", "client_id", "role", "created_at", "created_by", "revoked", "revoked_at")

    def get_revoked(self, client: ApiClient) -> bool:
        return client.revoked_at is not None


class ApiClientCreatedSerializer(ApiClientOutputSerializer):
    """Only the answer to a create carries the secret: it is stored hashed."""

    client_secret = serializers.SerializerMethodField()

    class Meta(ApiClientOutputSerializer.Meta):
        fields = (*ApiClientOutputSerializer.Meta.fields, "client_secret")

    def get_client_secret(self, client: ApiClient) -> str | None:
        # None in an Idempotency-Key replay: the secret is not kept to be shown again.
        return self.context["client_secret"]


class ApiClientCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    role = serializers.ChoiceField(choices=ApiClient.Role.choices, default=ApiClient.Role.ADMIN)
