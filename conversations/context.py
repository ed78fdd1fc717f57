"""Fitting a conversation into the model's context window.

Prompt = system prompt (variables rendered) + running summary + the newest whole messages that
fit + the new user message. Budget = context window - reserved output (the effective
max_tokens) - reply priming. Messages are never cut; history stays contiguous (we stop at the
first message that does not fit). The new message must fit beside the system prompt on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chatpresets.errors import InvalidInput
from chatpresets.llm.tokens import REPLY_PRIMING, count_message

HISTORY_PAGE = 64


class ContextTooLong(InvalidInput):
    code = "context_too_long"
    message = "The message does not fit in the model's context window."


@dataclass(frozen=True)
class HistoryEntry:
    """What planning needs to know of a stored message: no content, so pages stay small."""

    seq: int
    token_count: int


@dataclass(frozen=True)
class HistoryMessage:
    seq: int
    role: str
    content: str
    token_count: int


@dataclass
class Part:
    kind: str  # system | summary | history | new
    role: str
    content: str
    tokens: int
    seq: int | None = None

    def as_message(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class ContextPlan:
    parts: list[Part]
    context_window: int
    reserved_output: int
    budget: int
    used: int
    summarised_through: int
    dropped: dict[str, Any] = field(default_factory=dict)

    def explain(self, *, contents: list[str] | None = None) -> dict[str, Any]:
        """The plan for a reader; `contents` replaces the parts' texts (with what the model receives)."""
        texts = contents if contents is not None else [part.content for part in self.parts]
        return {
            "parts": [
                {"kind": p.kind, "role": p.role, "seq": p.seq, "tokens": p.tokens, "content": text}
                for p, text in zip(self.parts, texts, strict=True)
            ],
            "budget": {
                "context_window": self.context_window,
                "reserved_output": self.reserved_output,
                "reply_priming": REPLY_PRIMING,
                "available": self.budget,
                "used": self.used,
                "remaining": self.budget - self.used,
            },
            "summarised_through": self.summarised_through,
            "dropped": self.dropped,
        }


def plan_context(
    *,
    context_window: int,
    reserved_output: int,
    encoding: str,
    system_prompt: str,
    summary: str,
    summarised_through: int,
    history_newest_first: Iterable[HistoryEntry | HistoryMessage],
    new_message: str | None,
    load_from: Callable[[int], list[HistoryMessage]] | None = None,
) -> ContextPlan:
    """Pick the parts of the next prompt.

    `history_newest_first` (seq and token count) is read lazily and only as far as needed; then
    `load_from(oldest kept seq)` reads the content of exactly the kept messages, oldest first.
    Without a loader the entries must be HistoryMessages already.
    """
    budget = context_window - reserved_output - REPLY_PRIMING
    system = Part("system", "system", system_prompt, count_message("system", system_prompt, encoding))
    new = Part("new", "user", new_message, count_message("user", new_message, encoding)) if new_message else None
    required = system.tokens + (new.tokens if new else 0)
    if required > budget:
        raise ContextTooLong(
            details={
                "required_tokens": required,
                "available_tokens": budget,
                "context_window": context_window,
                "reserved_output": reserved_output,
                "system_tokens": system.tokens,
            },
        )
    used, head = required, [system]
    if summary:
        summary_part = Part("summary", "system", f"Summary of the earlier conversation:\n{summary}", 0)
        summary_part.tokens = count_message("system", summary_part.content, encoding)
        if used + summary_part.tokens <= budget:
            head.append(summary_part)
            used += summary_part.tokens
    kept_entries, oldest_dropped = _fit_history(history_newest_first, budget - used)
    used += sum(entry.token_count for entry in kept_entries)
    kept = _load(kept_entries, load_from)
    dropped = {}
    if oldest_dropped is not None:
        dropped = {"from_seq": summarised_through + 1, "through_seq": oldest_dropped}
    parts = head + kept + ([new] if new else [])
    return ContextPlan(parts, context_window, reserved_output, budget, used, summarised_through, dropped)


def _fit_history(history: Iterable[Any], room: int) -> tuple[list[Any], int | None]:
    kept: list[Any] = []
    for entry in history:
        if entry.token_count > room:
            return kept, entry.seq
        room -= entry.token_count
        kept.append(entry)
    return kept, None


def _load(kept_newest_first: list[Any], load_from: Callable[[int], list[HistoryMessage]] | None) -> list[Part]:
    if not kept_newest_first:
        return []
    rows = load_from(kept_newest_first[-1].seq) if load_from else list(reversed(kept_newest_first))
    return [Part("history", row.role, row.content, row.token_count, row.seq) for row in rows]


def paged(fetch: Callable[[int | None, int], list[Any]]) -> Iterator[Any]:
    """Yield history newest first, one keyset page (seq < last seen) at a time, only while read."""
    before: int | None = None
    while True:
        page = fetch(before, HISTORY_PAGE)
        yield from page
        if len(page) < HISTORY_PAGE:
            return
        before = page[-1].seq
