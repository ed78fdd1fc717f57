"""Every model call is one metered call: admitted, called and finished in conversations/metered.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conversations import tasks
from conversations.models import Conversation, Message, UsageRecord
from tests.conversations.test_http import send, start

ROOT = Path(__file__).resolve().parents[2]
APPS = ("chatpresets", "tenancy", "presets", "audit", "conversations")
# What only the metered call may do: meet the guardrails, call the model, write the ledger.
METERED_ONLY = {
    "guardrails.admit",
    "guardrails.settle",
    "gateway.stream_chat",
    "gateway.complete",
    "UsageRecord.objects.create",
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def test_only_the_metered_call_admits_settles_calls_the_model_and_writes_usage() -> None:
    callers: dict[str, set[str]] = {name: set() for name in METERED_ONLY}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and (name := _dotted(node.func)) in callers:
                    callers[name].add(str(path.relative_to(ROOT)))
    assert callers == {name: {"conversations/metered.py"} for name in METERED_ONLY}


@pytest.mark.usefixtures("fake_llm")
def test_a_turn_and_its_title_write_one_usage_row_each(api, acme, alice) -> None:
    chat = start(api, alice)
    assert send(api, alice, chat["id"]).status_code == 201
    title_text = tasks.generate_title(conversation_id=chat["id"], org_id=str(acme.pk))
    answer = Message.objects.get(conversation_id=chat["id"], role="assistant")
    turn, title = UsageRecord.objects.get(kind="chat"), UsageRecord.objects.get(kind="title")
    assert (turn.user_id, turn.conversation_id, turn.message_id) == (alice.pk, answer.conversation_id, answer.pk)
    assert (turn.prompt_tokens, turn.completion_tokens) == (answer.prompt_tokens, answer.completion_tokens)
    assert (turn.cost, turn.model, turn.status) == (answer.cost, answer.model, answer.status)
    assert (title.user_id, title.conversation_id, title.message_id) == (None, answer.conversation_id, None)
    assert title_text == Conversation.objects.get(pk=chat["id"]).title != ""
    assert tasks.generate_title(conversation_id=chat["id"], org_id=str(acme.pk)) == title_text  # no second call
    assert UsageRecord.objects.count() == 2
