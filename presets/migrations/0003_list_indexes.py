"""Indexes for the list: a covering index over live presets, and GIN over tags.

The covering index holds live presets newest first, with every visibility column.

The list's page walks it in updated_at order and stops after one page; its COUNT is an index-only
scan that evaluates the visibility rule on the index entries without reading the wide rows. It is
partial (live presets only) because `deleted_at IS NULL` as a key column would stop PostgreSQL from
using the index's order. The `tag` filter (`tags @> '["x"]'`) reads only the GIN index's matches
instead of every row. Both are PostgreSQL-only; SQLite runs skip this migration.
"""

from __future__ import annotations

from django.db import migrations

from chatpresets.migration_sql import postgres_only

CREATE = """
CREATE INDEX preset_alive_visibility ON presets_preset (org_id, updated_at DESC)
    INCLUDE (id, owner_id, scope, team_id, approved_version) WHERE deleted_at IS NULL;
CREATE INDEX preset_tags_gin ON presets_preset USING gin (tags jsonb_path_ops);
"""
DROP = """
DROP INDEX IF EXISTS preset_tags_gin;
DROP INDEX IF EXISTS preset_alive_visibility;
"""


class Migration(migrations.Migration):
    dependencies = [("presets", "0002_search_vector")]
    operations = [postgres_only(CREATE, DROP)]
