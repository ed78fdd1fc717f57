"""PostgreSQL full-text search over name, tags, description and prompt.

The tsvector column is maintained by a trigger and indexed with GIN. It is not a model field:
the ORM never writes it, history does not copy it, and SQLite (the embedded run) has no such
column and searches with a plain substring match instead.
"""

from __future__ import annotations

from django.db import migrations

from chatpresets.migration_sql import postgres_only

CREATE = """
ALTER TABLE presets_preset ADD COLUMN search_vector tsvector;
CREATE FUNCTION presets_preset_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('english', coalesce(NEW.name, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(
            (SELECT string_agg(value, ' ') FROM jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(NEW.tags) = 'array' THEN NEW.tags ELSE '[]'::jsonb END)), '')), 'A') ||
        setweight(to_tsvector('english', coalesce(NEW.description, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(NEW.system_prompt, '')), 'C');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER presets_preset_search_vector
    BEFORE INSERT OR UPDATE OF name, tags, description, system_prompt ON presets_preset
    FOR EACH ROW EXECUTE FUNCTION presets_preset_search_vector();
CREATE INDEX presets_preset_search_gin ON presets_preset USING gin (search_vector);
"""
DROP = """
DROP INDEX IF EXISTS presets_preset_search_gin;
DROP TRIGGER IF EXISTS presets_preset_search_vector ON presets_preset;
DROP FUNCTION IF EXISTS presets_preset_search_vector();
ALTER TABLE presets_preset DROP COLUMN IF EXISTS search_vector;
"""


class Migration(migrations.Migration):
    dependencies = [("presets", "0001_initial")]
    operations = [postgres_only(CREATE, DROP)]
