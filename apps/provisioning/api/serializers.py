from __future__ import annotations

from typing import Any

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
