"""Stream slots: the process's cap, each organisation's share, and slots given back on every ending."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chatpresets.errors import retry_after
from conversations.models import Message
from tenancy.metering import guardrails, stream_slots
from tenancy.metering.stream_slots import Overloaded
from tenancy.models import Membership
from tests.chatpresets.observability import METRICS_TOKEN, scrape, send_turn, start_conversation, value
from tests.conversations.test_guardrails import limit


@pytest.fixture
def four_slots(settings) -> None:
    settings.MAX_CONCURRENT_STREAMS, settings.STREAM_ORG_SHARE, settings.STREAM_RETRY_AFTER_SECONDS = 4, 0.5, 3


def test_an_organisation_past_its_share_is_refused_while_another_still_gets_a_slot(four_slots) -> None:
    held = [stream_slots.acquire("acme"), stream_slots.acquire("acme")]
    with pytest.raises(Overloaded) as refused:
        stream_slots.acquire("acme")
    assert refused.value.details == {"reason": "org_share", "limit_value": 2, "retry_after": 3}
    assert stream_slots.acquire("globex").held
    assert [slot.held for slot in held] == [True, True]


def test_a_full_process_refuses_every_organisation_with_retry_after(four_slots) -> None:
    for org in ("a", "a", "b", "b"):
        stream_slots.acquire(org)
    with pytest.raises(Overloaded) as refused:
        stream_slots.acquire("c")
    error = refused.value
    assert (error.status_code, error.code, error.details["reason"]) == (503, "overloaded", "process_capacity")
    assert retry_after(error) == 3
    assert error.headers() == {"Retry-After": "3"}


def test_a_released_slot_is_free_again_and_releasing_twice_frees_nothing_more(four_slots) -> None:
    first = stream_slots.acquire("acme")
    second = stream_slots.acquire("acme")
    first.release()
    first.release()
    assert stream_slots.in_use("acme") == 1
    stream_slots.acquire("acme")
    with pytest.raises(Overloaded):
        stream_slots.acquire("acme")
    second.release()
    assert stream_slots.in_use() == 1


def test_the_share_is_at_least_one_stream(settings) -> None:
    settings.MAX_CONCURRENT_STREAMS, settings.STREAM_ORG_SHARE = 3, 0.1
    assert stream_slots.org_limit() == 1


def admit(membership: Membership, *, background: bool = False) -> guardrails.Admission:
    return guardrails.admit(
        membership=membership, api_key_id=None, prompt_tokens=10, max_tokens=10, counts_request=not background
    )


def test_an_interactive_admission_holds_a_slot_until_it_is_settled(acme, alice, four_slots) -> None:
    membership = Membership.objects.get(org=acme, user=alice)
    admission = admit(membership)
    assert stream_slots.in_use(acme.pk) == 1
    guardrails.settle(admission, used_tokens=15)
    assert stream_slots.in_use() == 0
    guardrails.release(admission)
    assert stream_slots.in_use() == 0


def test_background_calls_take_no_slot_and_are_not_refused_by_a_full_process(acme, alice, settings) -> None:
    settings.MAX_CONCURRENT_STREAMS, settings.STREAM_ORG_SHARE = 1, 1.0
    membership = Membership.objects.get(org=acme, user=alice)
    interactive = admit(membership)
    background = admit(membership, background=True)
    assert background.slot is None
    assert stream_slots.in_use() == 1
    with pytest.raises(Overloaded):
        admit(membership)
    guardrails.release(interactive)
    guardrails.release(background)
    assert stream_slots.in_use() == 0


def test_a_call_refused_by_a_limit_gives_its_slot_back(acme, alice, four_slots) -> None:
    limit(acme, user_rpm=1)
    membership = Membership.objects.get(org=acme, user=alice)
    guardrails.release(admit(membership))
    with pytest.raises(guardrails.RateLimited):
        admit(membership)
    assert stream_slots.in_use() == 0


def test_an_admission_made_inside_a_block_that_fails_gives_its_slot_back(acme, alice, four_slots) -> None:
    membership = Membership.objects.get(org=acme, user=alice)

    def prepare_then_fail() -> None:
        with guardrails.released_on_error():
            admit(membership)
            raise RuntimeError("storing the turn failed")

    with pytest.raises(RuntimeError):
        prepare_then_fail()
    assert stream_slots.in_use() == 0


def test_a_turn_refused_for_want_of_a_slot_is_counted_and_stores_nothing(api, acme, alice, fake_llm, settings) -> None:
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, METRICS_TOKEN
    settings.MAX_CONCURRENT_STREAMS, settings.STREAM_ORG_SHARE = 2, 0.5
    client = api(alice)
    conversation_id = start_conversation(client)
    stream_slots.acquire(acme.pk)  # another of acme's streams holds its whole share
    before = scrape(APIClient())
    response = send_turn(client, conversation_id)
    after = scrape(APIClient())
    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.STREAM_RETRY_AFTER_SECONDS)
    assert response.json()["error"]["details"]["reason"] == "org_share"
    name = "chatpresets_stream_refusals_total"
    assert value(after, name, reason="org_share") - value(before, name, reason="org_share") == 1
    assert not Message.objects.filter(conversation_id=conversation_id).exists()
    assert fake_llm.requests == []


def test_an_organisation_may_tighten_its_share_but_not_lift_it(acme, alice, four_slots) -> None:
    membership = Membership.objects.select_related("org").get(org=acme, user=alice)
    acme.settings = {**acme.settings, "max_concurrent_streams": 1}
    acme.save()
    membership.org.refresh_from_db()
    admit(membership)
    with pytest.raises(Overloaded) as refused:
        admit(membership)
    assert refused.value.details["limit_value"] == 1
    stream_slots.forget_all()
    membership.org.settings["max_concurrent_streams"] = 50
    admit(membership)
    admit(membership)
    with pytest.raises(Overloaded) as refused:
        admit(membership)
    assert refused.value.details["limit_value"] == 2  # the operator's share, not the organisation's 50
