"""Presets: versioned, reviewed, shared system prompts. Above tenancy and audit, below conversations.

models.py         Preset, PresetVersion, PresetLabel, grants, PresetLink, Library, LibraryItem
labels.py         labels (production, staging, …): rules, moves and deletes (audited), label_version()
services/         writes: lifecycle, review, sharing, libraries, outside (clones)
selectors.py      visibility and access level
resolve.py        the only entry point conversations use for content
row_copies.py     the preset rows a turn names, kept per process by version
outside.py        what the gallery and share links grant outside the organisation
content.py        content validation and `{{ name }}` rendering
runnable.py       a saved preset's model and context budget can run
safety.py         checks run at submission (PII findings)
search.py, filters.py  full-text search and list filters
diff.py           bounded prompt diffs
link_status.py    why a share link no longer opens
prompt_reads.py   reads of a hidden system prompt, audited
tasks.py          trash purge (and registers the webhook tasks)
experiments/      A/B experiments: variants, sticky assignment, statistics, services, admin
webhooks/         change webhooks: endpoints, signed deliveries, retries, the log; `emit()`
api/, pages/      the REST API and the browser pages
admin.py          the staff moderation console
"""
