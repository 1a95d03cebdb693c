"""Full-text and typo-tolerant search on PostgreSQL.

Generated columns keep the weighted tsvector and the trigram text current on every write of a
listing (the services keep `search_vendor` and `search_terms` current), GIN-indexed. The model
does not declare them: SQLite (the embedded default) has no tsvector and searches its plain
columns instead (apps/catalog/search.py). A later migration that alters name, tagline,
description, search_vendor or search_terms on PostgreSQL must drop and re-create these
columns around the change."""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE catalog_listing ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(search_vendor, '')), 'B') ||
    setweight(to_tsvector('english'::regconfig, coalesce(tagline, '')), 'B') ||
    setweight(to_tsvector('english'::regconfig, coalesce(search_terms, '')), 'C') ||
    setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'D')
) STORED;
ALTER TABLE catalog_listing ADD COLUMN search_text text GENERATED ALWAYS AS (
    lower(coalesce(name, '') || ' ' || coalesce(search_vendor, '') || ' ' || coalesce(search_terms, ''))
) STORED;
CREATE INDEX catalog_listing_search_vector ON catalog_listing USING gin (search_vector);
CREATE INDEX catalog_listing_search_text_trgm ON catalog_listing USING gin (search_text gin_trgm_ops);
"""
BACKWARD = """
DROP INDEX IF EXISTS catalog_listing_search_text_trgm;
DROP INDEX IF EXISTS catalog_listing_search_vector;
ALTER TABLE catalog_listing DROP COLUMN IF EXISTS search_text;
ALTER TABLE catalog_listing DROP COLUMN IF EXISTS search_vector;
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
