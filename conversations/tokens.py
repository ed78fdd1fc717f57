"""Token counting lives in chatpresets.llm.tokens (presets count too); kept for importers here."""

from __future__ import annotations

from chatpresets.llm.tokens import (
    KNOWN_ENCODINGS,
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    count_message,
    count_text,
    encoding,
    truncate_text,
)

__all__ = [
    "KNOWN_ENCODINGS",
    "MESSAGE_OVERHEAD",
    "REPLY_PRIMING",
    "count_message",
    "count_text",
    "encoding",
    "truncate_text",
]
