"""The audit log stays append-only, with one exception for the right to erasure: inside a
transaction that holds a marketplace_auditpseudonymization row, an UPDATE may change only the
labels, the old/new values and the client address of an entry (pseudonymizing a person).
Deletes stay refused; every other column must stay the same."""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION marketplace_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND EXISTS (SELECT 1 FROM marketplace_auditpseudonymization)
       AND NEW.id = OLD.id
       AND NEW.created_at = OLD.created_at
       AND NEW.action = OLD.action
       AND NEW.actor_kind = OLD.actor_kind
       AND NEW.actor_id = OLD.actor_id
       AND NEW.object_type = OLD.object_type
       AND NEW.object_id = OLD.object_id
       AND NEW.organization_id IS NOT DISTINCT FROM OLD.organization_id
       AND NEW.counterparty_id IS NOT DISTINCT FROM OLD.counterparty_id
       AND NEW.request_id = OLD.request_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'marketplace_auditentry is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
POSTGRES_BACKWARD = """
CREATE OR REPLACE FUNCTION marketplace_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'marketplace_auditentry is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
SQLITE_FORWARD = [
    "DROP TRIGGER IF EXISTS marketplace_auditentry_no_update;",
    """
CREATE TRIGGER marketplace_auditentry_no_update BEFORE UPDATE ON marketplace_auditentry
WHEN NOT EXISTS (SELECT 1 FROM marketplace_auditpseudonymization)
    OR NEW.id != OLD.id OR NEW.created_at != OLD.created_at OR NEW.action != OLD.action
    OR NEW.actor_kind != OLD.actor_kind OR NEW.actor_id != OLD.actor_id
    OR NEW.object_type != OLD.object_type OR NEW.object_id != OLD.object_id
    OR NEW.organization_id IS NOT OLD.organization_id OR NEW.counterparty_id IS NOT OLD.counterparty_id
    OR NEW.request_id != OLD.request_id
BEGIN SELECT RAISE(ABORT, 'marketplace_auditentry is append-only: UPDATE refused'); END;
""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS marketplace_auditentry_no_update;",
    """
CREATE TRIGGER marketplace_auditentry_no_update BEFORE UPDATE ON marketplace_auditentry
BEGIN SELECT RAISE(ABORT, 'marketplace_auditentry is append-only: UPDATE refused'); END;
""",
]


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_audit_pseudonymization")]

    operations = [migrations.RunPython(forward, backward)]
