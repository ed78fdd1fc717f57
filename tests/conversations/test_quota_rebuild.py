"""Quota counters that Redis lost (a restart without persistence) are rebuilt from the usage ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings

from conversations.models import UsageRecord
from tenancy.metering import guardrails, quota
from tenancy.metering.quota_types import QuotaExceeded
from tenancy.metering.rules import micros
from tenancy.models import Membership
from tests.conversations.test_guardrails import limit
from tests.conversations.test_http import send, start

pytestmark = pytest.mark.usefixtures("fake_llm")

BUDGET = 10_000


def flush_redis() -> None:
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.flushdb()
    client.close()


def alice_membership(acme, alice) -> Membership:
    return Membership.objects.select_related("org", "user").get(org=acme, user=alice)


def admit_tokens(membership: Membership, amount: int) -> guardrails.Admission:
    return guardrails.admit(membership=membership, api_key_id=None, prompt_tokens=0, max_tokens=amount)


@pytest.mark.parametrize("name", ["org_tokens_day", "org_tokens_month", "user_tokens_day", "user_tokens_month"])
def test_a_counter_wiped_by_a_redis_restart_is_rebuilt_from_the_ledger_before_it_admits(api, acme, alice, name) -> None:
    limit(acme, **{name: BUDGET})
    answer = send(api, alice, start(api, alice)["id"]).json()["message"]
    spent = answer["prompt_tokens"] + answer["completion_tokens"]
    flush_redis()  # what a restart without persistence leaves
    membership = alice_membership(acme, alice)
    with pytest.raises(QuotaExceeded) as refused:
        admit_tokens(membership, BUDGET - spent + 1)  # would fit a counter that starts again at zero
    assert (refused.value.limit.name, refused.value.used) == (name, spent)
    guardrails.release(admit_tokens(membership, BUDGET - spent))  # exactly what is left still fits


def test_a_nearly_spent_cost_budget_refuses_again_after_a_redis_restart(api, acme, alice) -> None:
    limit(acme, org_cost_day="1.00")
    send(api, alice, start(api, alice)["id"])
    spent = micros(UsageRecord.objects.get(org=acme).cost)
    flush_redis()
    membership = alice_membership(acme, alice)
    left = micros("1.00") - spent
    with pytest.raises(guardrails.BudgetExceeded):
        guardrails.admit(
            membership=membership,
            api_key_id=None,
            prompt_tokens=0,
            max_tokens=0,
            estimated_cost=Decimal(left + 1) / 10**6,
        )


def test_a_counter_that_exists_is_not_rebuilt(api, acme, alice, monkeypatch) -> None:
    limit(acme, user_tokens_day=BUDGET)
    send(api, alice, start(api, alice)["id"])
    consulted = []
    monkeypatch.setattr(guardrails.ledger, "ledger_usage", lambda limits: consulted.append(limits) or [0])
    guardrails.release(admit_tokens(alice_membership(acme, alice), 10))
    assert consulted == []  # one round trip while counters exist


def test_the_embedded_store_rebuilds_its_counters_after_a_restart(api, acme, alice, settings) -> None:
    settings.REDIS_URL = ""  # the embedded run: quotas in the process's memory
    limit(acme, user_tokens_day=BUDGET)
    answer = send(api, alice, start(api, alice)["id"]).json()["message"]
    spent = answer["prompt_tokens"] + answer["completion_tokens"]
    quota._stores.forget("")  # the process restarts: a new, empty store
    with pytest.raises(QuotaExceeded) as refused:
        admit_tokens(alice_membership(acme, alice), BUDGET - spent + 1)
    assert refused.value.used == spent
    quota._stores.forget("")
