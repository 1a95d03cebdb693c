from __future__ import annotations

from rest_framework import serializers

from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class EndpointSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    event_types = serializers.ListField(child=serializers.CharField())
    secret_rotation_ends_at = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True)

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_reason",
            "secret_rotation_ends_at",
            "created_by",
            "created_at",
            "updated_at",
        )


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="`whsec_...`: shown only in this answer; it signs every delivery.")

    class Meta(EndpointSerializer.Meta):
        fields = (*EndpointSerializer.Meta.fields, "secret")


class EndpointInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="https; private and loopback addresses are refused.")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=80),
        required=False,
        max_length=100,
        help_text="Empty or absent: every event. Names like 'trial.active' or patterns like 'quote.*'.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, default=True)


class EndpointUpdateSerializer(EndpointInputSerializer):
    url = serializers.CharField(max_length=500, required=False)
    is_active = serializers.BooleanField(required=False)


class RotateSecretSerializer(serializers.Serializer):
    overlap_hours = serializers.IntegerField(
        min_value=0, max_value=168, default=24, help_text="How long the previous secret keeps signing too."
    )


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ("attempted_at", "status_code", "duration_ms", "response_excerpt", "error")


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    endpoint = serializers.UUIDField(source="endpoint.public_id")
    event = serializers.UUIDField(source="event.public_id")
    message_id = serializers.SerializerMethodField()
    attempt_log = AttemptSerializer(many=True)
    payload = serializers.JSONField()

    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "endpoint",
            "event",
            "event_type",
            "message_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "payload",
            "attempt_log",
            "created_at",
        )

    def get_message_id(self, delivery: WebhookDelivery) -> str:
        return f"msg_{delivery.public_id.hex}"


class EventQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(required=False, max_length=100)
    page_size = serializers.IntegerField(min_value=1, max_value=100, required=False)
    type = serializers.ListField(
        child=serializers.RegexField(r"^[a-z_]+\.([a-z_]+|\*)$", max_length=80), required=False
    )


class EventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    timestamp = serializers.DateTimeField()
    sequence = serializers.IntegerField()
    data = serializers.JSONField(help_text="Ids and states of the objects concerned, and `links` to fetch them.")


class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(help_text="Always present: the cursor after the last event returned.")
    results = EventSerializer(many=True)
