"""Chat guardrail primitives on Redis: a multi-limit GCRA rate limiter and a reserve/settle quota store.

`ratelimit` fails open (an in-process limiter takes over while Redis is away); `quota` fails closed
(`QuotaStoreUnavailable`). Both have sync and async APIs over the same Lua scripts, and both run in
memory when REDIS_URL is empty (the embedded single-process run).
"""
