"""K concurrent chat turns through a real daphne process against a token budget that holds Q of them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from django.db.models import F, Sum

from conversations.models import Conversation, Message, UsageRecord
from conversations.turn_setup import plan_turn, turn_settings
from tenancy.metering.quota import get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tests.conversations.test_guardrails import limit

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT = 8
ADMITTED = 3


def test_concurrent_turns_against_a_budget_admit_exactly_what_it_holds(live, fake_llm, acme, alice) -> None:
    fake_llm.config.ttft = 1.0  # every reservation is made before the first answer settles
    conversations = [Conversation.objects.create(org=acme, user=alice) for _ in range(CONCURRENT)]
    membership = alice.memberships.select_related("org").get(org=acme)
    turn = turn_settings(conversations[0], membership)
    reservation = plan_turn(conversations[0], turn, new_message="hi").used + turn.max_tokens
    limit(acme, org_tokens_day=ADMITTED * reservation + reservation // 2)

    def send(conversation: Conversation) -> httpx.Response:
        url = f"{live['base']}/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
        return httpx.post(url, json={"content": "hi"}, headers={"Authorization": f"Bearer {live['key']}"}, timeout=30)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        responses = list(pool.map(send, conversations))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * ADMITTED + [429] * (CONCURRENT - ADMITTED)
    refused = [r.json()["error"] for r in responses if r.status_code == 429]
    assert {(e["code"], e["details"]["limit"]) for e in refused} == {("quota_exceeded", "org_tokens_day")}
    assert Message.objects.filter(role="user").count() == ADMITTED  # refused turns stored nothing
    chat_calls = [r for r in fake_llm.requests if r["messages"][0]["content"] == settings.DEFAULT_SYSTEM_PROMPT]
    assert len(chat_calls) == ADMITTED  # (the admitted turns' titles are model calls of their own)
    org_day = [q for q in quota_limits(subjects(membership)) if q.name == "org_tokens_day"]
    (row,) = get_quota_store().usage(limits=org_day)
    ledger = UsageRecord.objects.filter(org=acme).aggregate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
    assert (row.used, row.reserved) == (ledger["total"], 0)  # every hold settled to the real usage
