"""The audit log is append-only: a row trigger refuses UPDATE and DELETE.

A trigger rather than REVOKE, because CI (and many deployments) connect as a superuser, which
ignores privileges. TRUNCATE stays possible so test databases can be flushed. On SQLite (the
embedded default) only UPDATE is refused: Django's test flush deletes rows there."""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION marketplace_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'marketplace_auditentry is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER marketplace_auditentry_append_only
    BEFORE UPDATE OR DELETE ON marketplace_auditentry
    FOR EACH ROW EXECUTE FUNCTION marketplace_auditentry_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS marketplace_auditentry_append_only ON marketplace_auditentry;
DROP FUNCTION IF EXISTS marketplace_auditentry_append_only();
"""
SQLITE_FORWARD = """
CREATE TRIGGER marketplace_auditentry_no_update BEFORE UPDATE ON marketplace_auditentry
BEGIN SELECT RAISE(ABORT, 'marketplace_auditentry is append-only: UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS marketplace_auditentry_no_update;"


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
