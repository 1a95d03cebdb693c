from rest_framework import serializers

from marketplace.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = (
            "id",
            "created_at",
            "action",
            "actor_kind",
            "actor_id",
            "actor_label",
            "object_type",
            "object_id",
            "object_label",
            "old_values",
            "new_values",
            "request_id",
            "client_address",
        )
        read_only_fields = fields
