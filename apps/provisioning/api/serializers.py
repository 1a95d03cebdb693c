from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.provisioning.models import Deployment, DeploymentStep


class PartySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class DeploymentStepSerializer(serializers.ModelSerializer):
    step = serializers.CharField(source="name")

    class Meta:
        model = DeploymentStep
        fields = ("phase", "position", "step", "title", "status", "attempts", "started_at", "finished_at", "message")


class ProgressSerializer(serializers.Serializer):
    percent = serializers.IntegerField()
    current_step = serializers.CharField(allow_null=True)
    estimated_ready_at = serializers.DateTimeField(allow_null=True)


class DeploymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    site = serializers.UUIDField(source="site.public_id", allow_null=True, default=None)
    progress = serializers.SerializerMethodField()
    steps = DeploymentStepSerializer(many=True)
    trial = serializers.SerializerMethodField()
    subscription = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = (
            "id",
            "status",
            "provider",
            "vendor",
            "listing",
            "offering",
            "plan",
            "site",
            "region",
            "backend",
            "progress",
            "steps",
            "failure_reason",
            "external_id",
            "tenant_url",
            "trial",
            "subscription",
            "activated_at",
            "deprovisioned_at",
            "created_at",
            "updated_at",
        )

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, deployment: Deployment) -> dict[str, Any]:
        return {
            "percent": deployment.progress_percent,
            "current_step": deployment.current_step or None,
            "estimated_ready_at": deployment.estimated_ready_at,
        }

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_trial(self, deployment: Deployment) -> str | None:
        trial = getattr(deployment, "trial", None)
        return str(trial.public_id) if trial is not None else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_subscription(self, deployment: Deployment) -> str | None:
        """The subscription it serves (a converted trial's deployment keeps serving it)."""
        entitlement = getattr(deployment, "entitlement", None)
        return str(entitlement.subscription.public_id) if entitlement is not None else None


class DeprovisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ActivateSerializer(serializers.Serializer):
    tenant_url = serializers.URLField(
        max_length=200,
        required=False,
        allow_blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where the provider's tenant answers (http or https).",
    )


class EnrollSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="The one-time enrollment token.")
    name = serializers.CharField(max_length=120, help_text="A name for the agent, e.g. its host.")
    hostname = serializers.CharField(max_length=200, required=False, allow_blank=True)
    agent_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    public_key = serializers.JSONField(required=False, help_text="The agent's Ed25519 public JWK (optional).")


class EnrolledSerializer(serializers.Serializer):
    agent = serializers.UUIDField()
    site = serializers.UUIDField()
    organization = serializers.SlugField()
    credential = serializers.CharField(help_text="Shown once; send it as 'Authorization: Agent <credential>'.")


class HeartbeatSerializer(serializers.Serializer):
    agent_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    hostname = serializers.CharField(max_length=200, required=False, allow_blank=True)


class HeartbeatAnswerSerializer(serializers.Serializer):
    agent = serializers.UUIDField()
    site = serializers.UUIDField()
    time = serializers.DateTimeField()
    bundles = serializers.IntegerField(help_text="How many bundles the site may fetch now.")
    revocations = serializers.CharField(help_text="The signed revocation list (compact JWS).")


class AgentBundleSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    deployment = serializers.UUIDField(source="deployment.public_id")
    deployment_status = serializers.CharField(source="deployment.status")
    listing = serializers.SlugField(source="deployment.listing.slug")
    version = serializers.CharField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    manifest = serializers.CharField(help_text="The signed manifest (compact JWS).")
    download_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_download_url(self, bundle: Any) -> str:
        return f"/api/v1/agent/bundles/{bundle.public_id}/download/"


class AgentReportSerializer(serializers.Serializer):
    bundle = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["downloaded", "verified", "installed", "failed"])
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ReportAnswerSerializer(serializers.Serializer):
    bundle = serializers.UUIDField()
    kind = serializers.CharField()
    deployment = serializers.UUIDField()
    deployment_status = serializers.CharField()


class ReceiptSerializer(serializers.Serializer):
    receipt = serializers.CharField(max_length=20000, help_text="The signed receipt (compact JWS) the agent wrote.")


class ReceiptAnswerSerializer(serializers.Serializer):
    agent = serializers.UUIDField()
    bundle = serializers.UUIDField()
    deployment = serializers.UUIDField()
    deployment_status = serializers.CharField()


class EnrollmentTokenSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    site = serializers.UUIDField(source="site.public_id")
    hint = serializers.CharField()
    expires_at = serializers.DateTimeField()
    used_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    token = serializers.CharField(required=False, help_text="Only in the answer that creates it.")


class SiteAgentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    site = serializers.UUIDField(source="site.public_id")
    name = serializers.CharField()
    hostname = serializers.CharField()
    agent_version = serializers.CharField()
    air_gapped = serializers.BooleanField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
