from __future__ import annotations

from rest_framework import serializers

from apps.procurement.models import Trial
from apps.provisioning.api.serializers import PartySerializer, ProgressSerializer


class TrialDeploymentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    progress = serializers.SerializerMethodField()
    tenant_url = serializers.URLField()
    failure_reason = serializers.CharField()

    def get_progress(self, deployment) -> dict:  # type: ignore[no-untyped-def]
        return ProgressSerializer(
            {
                "percent": deployment.progress_percent,
                "current_step": deployment.current_step or None,
                "estimated_ready_at": deployment.estimated_ready_at,
            }
        ).data


class TrialSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    provider = PartySerializer()
    vendor = PartySerializer()
    listing = serializers.SlugField(source="listing.slug")
    offering = serializers.UUIDField(source="offering.public_id")
    plan = serializers.UUIDField(source="plan.public_id")
    site = serializers.UUIDField(source="site.public_id", allow_null=True, default=None)
    deployment = TrialDeploymentSerializer(allow_null=True)

    class Meta:
        model = Trial
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
            "days",
            "notes",
            "decision_reason",
            "requested_by",
            "deployment",
            "approved_at",
            "started_at",
            "ends_at",
            "ended_at",
            "created_at",
            "updated_at",
        )


class TrialRequestSerializer(serializers.Serializer):
    listing = serializers.SlugField(help_text="The listing's slug.")
    offering = serializers.UUIDField()
    plan = serializers.UUIDField()
    region = serializers.CharField(max_length=40, required=False, allow_blank=True, help_text="Cloud offerings.")
    site = serializers.UUIDField(required=False, allow_null=True, help_text="On-premise and hybrid offerings.")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class TrialDeclineSerializer(serializers.Serializer):
    # Required, but checked by the service after the caller's rights (a provider gets 403, not 400).
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="Required: why, for the hospital."
    )


class TrialCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)
