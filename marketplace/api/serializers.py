from rest_framework import serializers

from marketplace.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    """The other party's entries of a shared object (a trial, a deployment) show what happened,
    not who of theirs did it or from where."""

    def to_representation(self, entry: AuditEntry) -> dict:
        data = super().to_representation(entry)
        reader = self.context.get("organization_id")
        if reader is not None and entry.organization_id != reader:
            data.update(actor_id="", actor_label="the other party", client_address=None, request_id="")
        return data

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
