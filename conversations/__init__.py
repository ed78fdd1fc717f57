"""Conversations: chats with a model, the top layer (it may import every other app).

models.py         Conversation, Message, Feedback, UsageRecord and UsageDaily (the usage ledger)
services.py       writes: creating conversations, preparing a turn, recording its outcome
selectors.py      reads, scoped to the organisation and the caller
turn_setup.py     a turn's model, limits, PII mode, context plan and admission
turns.py          running one streamed answer
context.py        fitting a conversation into the context window
consumers.py, routing.py  the websocket
tasks.py          summaries, titles, the sweep of abandoned streams
usage.py          daily roll-ups and the usage report
analytics.py      per-version feedback analytics of a preset's answers (thumbs, regenerations, cost…)
quota_ledger.py   ledger sums that rebuild lost quota counters (registered with tenancy.metering)
outside_presets.py  conversations with a preset from the gallery or a share link
feedback.py       votes on answers
experiment_metrics.py  what each variant of an experiment measured (the results API reads it)
replays/          replays before approval: a version in review and the approved one answer the same turns
export.py         streamed exports (each audited)
payloads.py       the JSON shape of a message, and of a turn's `ack` (with its request id)
local_model.py    where the embedded SmolLM2 model file lies
api/, pages/      REST, the send endpoint, the OpenAI-compatible API; the chat, usage and preset analytics pages
testing/          test-only code: the fake OpenAI-compatible model server (`manage.py fake_llm`)
"""
