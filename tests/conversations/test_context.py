"""Context planning: budget arithmetic, whole messages only, contiguity, summary, lazy history reads."""

from __future__ import annotations

import pytest

from chatpresets.llm.tokens import REPLY_PRIMING, count_message
from conversations.context import ContextTooLong, HistoryMessage, paged, plan_context


def history(n: int, tokens: int = 10) -> list[HistoryMessage]:
    return [HistoryMessage(seq, "user" if seq % 2 else "assistant", f"m{seq}", tokens) for seq in range(n, 0, -1)]


def plan(**overrides):
    arguments = {
        "context_window": 200,
        "reserved_output": 50,
        "encoding": "o200k_base",
        "system_prompt": "Sys",
        "summary": "",
        "summarised_through": 0,
        "history_newest_first": history(20),
        "new_message": "Q",
        **overrides,
    }
    return plan_context(**arguments)


def test_budget_is_window_minus_output_minus_priming_and_is_respected() -> None:
    result = plan()
    assert result.budget == 200 - 50 - REPLY_PRIMING
    assert result.used <= result.budget
    fixed = count_message("system", "Sys", "o200k_base") + count_message("user", "Q", "o200k_base")
    kept = [p for p in result.parts if p.kind == "history"]
    assert result.used == fixed + 10 * len(kept)
    assert result.budget - result.used < 10  # one more whole message would not fit


def test_newest_messages_are_kept_in_order_and_older_ones_dropped_as_a_range() -> None:
    result = plan()
    seqs = [p.seq for p in result.parts if p.kind == "history"]
    assert seqs == list(range(20 - len(seqs) + 1, 21))
    assert result.dropped == {"from_seq": 1, "through_seq": seqs[0] - 1}
    assert result.parts[0].kind == "system"
    assert result.parts[-1].kind == "new"


def test_a_message_that_does_not_fit_stops_history_even_if_older_ones_would() -> None:
    rows = [
        HistoryMessage(3, "user", "small", 5),
        HistoryMessage(2, "assistant", "huge", 10_000),
        HistoryMessage(1, "user", "small", 5),
    ]
    result = plan(history_newest_first=rows)
    assert [p.seq for p in result.parts if p.kind == "history"] == [3]
    assert result.dropped == {"from_seq": 1, "through_seq": 2}


def test_summary_is_included_after_the_system_prompt() -> None:
    result = plan(summary="They discussed tides.", summarised_through=4, history_newest_first=history(6)[:2])
    assert [p.kind for p in result.parts][:2] == ["system", "summary"]
    assert "They discussed tides." in result.parts[1].content
    assert result.dropped == {}


def test_new_message_that_cannot_fit_is_context_too_long_with_numbers() -> None:
    with pytest.raises(ContextTooLong) as error:
        plan(new_message="word " * 500)
    details = error.value.details
    assert details["required_tokens"] > details["available_tokens"] == 147


def test_history_is_read_lazily_one_page_at_a_time() -> None:
    calls: list[tuple[int | None, int]] = []
    rows = history(1000, tokens=1)

    def fetch(before: int | None, limit: int) -> list[HistoryMessage]:
        calls.append((before, limit))
        older = [r for r in rows if before is None or r.seq < before]
        return older[:limit]

    plan(context_window=100, reserved_output=10, history_newest_first=paged(fetch))
    assert len(calls) <= 2
    assert calls[0] == (None, 64)
