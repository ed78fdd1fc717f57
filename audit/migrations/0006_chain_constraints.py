"""Every event now has its place in a chain; the trigger lets only the retention purge delete.

DELETE passes the trigger only when the transaction has set `audit.purge = 'on'` (SET LOCAL) and
the row is at or below its chain head's anchor_seq, which the purge moves first in the same
transaction. This keeps application code from deleting by mistake; it is no defence against a
database superuser, who can disable triggers (the hash chain and the seals detect that).
"""

from __future__ import annotations

from django.db import migrations, models

from chatpresets.migration_sql import postgres_only

PURGE_AWARE = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purge', true) = 'on' AND OLD.seq <= (
        SELECT anchor_seq FROM audit_auditchainhead WHERE key = COALESCE(OLD.org_id::text, 'platform')
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
STRICT = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_chain_existing_events")]
    operations = [
        migrations.AlterField(model_name="auditevent", name="seq", field=models.PositiveBigIntegerField()),
        migrations.AlterField(model_name="auditevent", name="prev_hash", field=models.CharField(max_length=64)),
        migrations.AlterField(model_name="auditevent", name="hash", field=models.CharField(max_length=64)),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(org__isnull=False), fields=("org", "seq"), name="audit_org_seq"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(org__isnull=True), fields=("seq",), name="audit_platform_seq"
            ),
        ),
        postgres_only(PURGE_AWARE, STRICT),
    ]
