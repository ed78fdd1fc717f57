"""The audit trail. Above tenancy, below presets and conversations.

models.py         AuditEvent: append-only in the ORM and in a PostgreSQL trigger
services.py       record(): the one writer, PII scrubbed; registered with chatpresets.audit_sink
selectors.py      reading the trail: the shared filters, newest first, the JSON Lines export
api/              GET /api/v1/orgs/<org>/audit/ (cursor pages) and audit/export/ (JSON Lines)
pages/            the Audit page /o/<org>/audit/ for owners and admins
admin.py          the read-only trail in the admin: the same filters, before/after changes
apps.py           registers the writer for the layers below
"""
