"""Chain the events written before the hash chain existed, in (created_at, id) order per organisation."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from audit.chain import HASHED_COLUMNS, chain_key, event_hash
from audit.models import GENESIS_HASH

BATCH = 1000


def chain_existing(apps: Any, schema_editor: Any) -> None:
    event_model = apps.get_model("audit", "AuditEvent")
    head_model = apps.get_model("audit", "AuditChainHead")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:  # the append-only trigger refuses the one-time UPDATE that links the old rows
        schema_editor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    for org_id in event_model.objects.order_by().values_list("org_id", flat=True).distinct():
        seq, last_hash, batch = 0, GENESIS_HASH, []
        events = event_model.objects.filter(org_id=org_id).order_by("created_at", "id")
        for event in events.iterator(chunk_size=BATCH):
            seq += 1
            event.seq, event.prev_hash = seq, last_hash
            event.hash = last_hash = event_hash(tuple(getattr(event, column) for column in HASHED_COLUMNS))
            batch.append(event)
            if len(batch) >= BATCH:
                event_model.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
                batch = []
        event_model.objects.bulk_update(batch, ["seq", "prev_hash", "hash"])
        head_model.objects.create(key=chain_key(org_id), org_id=org_id, seq=seq, hash=last_hash)
    if postgres:
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_chain_fields")]
    operations = [migrations.RunPython(chain_existing, migrations.RunPython.noop)]
