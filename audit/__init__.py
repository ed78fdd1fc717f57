"""The audit trail. Above tenancy, below presets and conversations.

models.py         AuditEvent: append-only in the ORM and in a PostgreSQL trigger
services.py       record(): the one writer, PII scrubbed; registered with chatpresets.audit_sink
admin.py          the read-only trail in the admin
apps.py           registers the writer for the layers below
"""
