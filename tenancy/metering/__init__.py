"""Metering: every model call's rate limits, token quotas, cost budgets and soft limits.

`guardrails` admits and settles a call; `ratelimit` (a multi-limit GCRA limiter) fails open (an
in-process limiter takes over while Redis is away); `quota` (a reserve/settle store) fails closed
(`QuotaStoreUnavailable`). Both have sync and async APIs over the same Lua scripts (`lua/`), and
both run in memory when REDIS_URL is empty (the embedded single-process run). `rules` resolves which
limits apply (plan, organisation, `LimitOverride` rows, preset); `soft_limits` warns once a quota
passes a share of its budget; `stream_slots` caps the interactive model streams of this process and
each organisation's share of them (taken by `guardrails.admit`, freed when the call settles);
`ledger` is how a lost counter is rebuilt from the usage ledger, which conversations own and
register. Metering imports nothing of conversations, presets or audit.
"""
