"""The audit trail. Above tenancy, below presets and conversations.

models.py         AuditEvent (append-only in the ORM and in a PostgreSQL trigger), AuditChainHead,
                  AuditSeal, AuditVerification
services.py       record(): the one writer, PII scrubbed; registered with chatpresets.audit_sink
chain.py          canonical serialisation, the event hash, append() under the chain-head lock
verify.py         the verifier: each chain's first break (edited, deleted, reordered, forged, cut)
seals.py          HMAC-signed chain heads (AUDIT_SIGNING_KEY)
verification.py   stored verification runs; last_verification() for the metrics
retention.py      the retention floor, per-organisation retention, the purge
tasks.py          periodic sealing, verification and purge (Celery beat / the inline scheduler)
checks.py         deployment check: AUDIT_SIGNING_KEY set
management/       `manage.py audit_verify [--org SLUG] [--seal]`
selectors.py      reading the trail: the shared filters, newest first, the JSON Lines export
api/              GET /api/v1/orgs/<org>/audit/ (cursor pages) and audit/export/ (JSON Lines);
                  GET/PUT audit/retention/ (retention.py)
pages/            the Audit page /o/<org>/audit/ for owners and admins, with the retention (owners
                  change it: retention.py)
admin.py          the read-only trail in the admin: the same filters, before/after changes; chain
                  heads, seals and verification runs, read-only
apps.py           registers the writer for the layers below
"""
