"""A quota hold is settled or released on every way a call can end: errors, crashes, cancels, outages.

Each test admits a call, makes it end badly, and reads the hold back from the quota store.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from chatpresets.llm import gateway
from conversations import services, tasks
from conversations.api import openai_compat
from conversations.models import Conversation, Message, MessageStatus, UsageRecord
from conversations.turns import prepare_off_loop, stream_turn
from tenancy.metering import guardrails
from tenancy.metering.quota import get_quota_store
from tenancy.models import Membership
from tests.conversations.test_guardrails import _day_limit, limit
from tests.conversations.test_http import send, start

pytestmark = pytest.mark.usefixtures("fake_llm")

BUDGET = 1_000  # one call reserves its prompt plus 256 for the answer: three leaked holds fill it


def used_and_held(org, user) -> tuple[int, int]:
    (row,) = get_quota_store().usage(limits=[_day_limit("user_tokens_day", f"org:{org.pk}:user:{user.pk}", BUDGET)])
    return row.used, row.reserved


def failing(*args, **kwargs):
    raise DatabaseError("the database went away")


def test_three_500s_after_admission_hold_nothing_and_the_fourth_turn_goes_through(
    api, acme, alice, monkeypatch
) -> None:
    limit(acme, user_tokens_day=BUDGET)
    chat = start(api, alice)
    client = api(alice)
    client.raise_request_exception = False
    with monkeypatch.context() as patched:
        patched.setattr(Message.objects, "bulk_create", failing)  # storing the messages fails after admission
        for n in range(3):
            response = client.post(
                f"/api/v1/orgs/acme/conversations/{chat['id']}/messages/", {"content": f"n{n}"}, format="json"
            )
            assert response.status_code == 500
            assert used_and_held(acme, alice) == (0, 0)
    assert send(api, alice, chat["id"], "fourth").status_code == 201
    assert used_and_held(acme, alice)[1] == 0


def test_a_model_stream_that_raises_an_unexpected_error_fails_the_answer_and_frees_the_hold(
    api, acme, alice, monkeypatch
) -> None:
    limit(acme, user_tokens_day=BUDGET)
    chat = start(api, alice)

    async def broken_stream(**kwargs):
        raise RuntimeError("an unmapped error in the model client")

    monkeypatch.setattr(gateway, "stream_chat", broken_stream)
    client = api(alice)
    client.raise_request_exception = False
    response = client.post(f"/api/v1/orgs/acme/conversations/{chat['id']}/messages/", {"content": "x"}, format="json")
    assert response.status_code == 500
    assert used_and_held(acme, alice) == (0, 0)
    answer = Message.objects.get(conversation_id=chat["id"], role="assistant")
    assert (answer.status, answer.error_code) == (MessageStatus.FAILED, "internal_error")


def test_a_model_that_keeps_failing_fails_the_turn_and_frees_the_hold(api, acme, alice, fake_llm) -> None:
    limit(acme, user_tokens_day=BUDGET)
    chat = start(api, alice)
    fake_llm.inject(*["500"] * 20)  # every retry and fallback fails: the gateway raises
    response = send(api, alice, chat["id"])
    assert response.status_code >= 500
    assert "error" in response.json()
    assert used_and_held(acme, alice) == (0, 0)
    fake_llm.faults.clear()


def test_an_error_while_recording_the_outcome_still_frees_the_hold(api, acme, alice, monkeypatch) -> None:
    limit(acme, user_tokens_day=BUDGET)
    chat = start(api, alice)

    def broken_count(*args, **kwargs):
        raise RuntimeError("counting the answer failed")

    monkeypatch.setattr(services, "count_text", broken_count)
    client = api(alice)
    client.raise_request_exception = False
    response = client.post(f"/api/v1/orgs/acme/conversations/{chat['id']}/messages/", {"content": "x"}, format="json")
    assert response.status_code == 500
    assert used_and_held(acme, alice) == (0, 0)


@pytest.mark.django_db(transaction=True)
async def test_a_cancelled_stream_settles_what_it_used_and_holds_nothing(acme, alice, fake_llm) -> None:
    await sync_to_async(limit)(acme, user_tokens_day=BUDGET)
    fake_llm.config.token_delay = 0.05
    membership = await sync_to_async(Membership.objects.select_related("org", "user").get)(org=acme, user=alice)
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=alice)
    prepared = await sync_to_async(services.prepare_turn)(
        membership=membership, conversation=conversation, content="Hello"
    )
    assert (await sync_to_async(used_and_held)(acme, alice))[1] > 0
    first_delta = asyncio.Event()

    async def listen(frame):
        if frame["type"] == "delta":
            first_delta.set()

    turn = asyncio.create_task(stream_turn(prepared=prepared, send=listen))
    await asyncio.wait_for(first_delta.wait(), timeout=5)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    used, held = await sync_to_async(used_and_held)(acme, alice)
    assert held == 0
    assert used > 0  # the partial answer and its prompt are charged
    answer = await sync_to_async(Message.objects.get)(pk=prepared.assistant_message.pk)
    assert answer.status == MessageStatus.CANCELLED


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_leaves_while_its_turn_is_prepared_leaves_no_hold(acme, alice) -> None:
    await sync_to_async(limit)(acme, user_tokens_day=BUDGET)
    membership = await sync_to_async(Membership.objects.select_related("org", "user").get)(org=acme, user=alice)
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=alice)
    admitted = threading.Event()

    def slow_prepare() -> services.PreparedTurn:
        prepared = services.prepare_turn(membership=membership, conversation=conversation, content="Hello")
        admitted.set()
        time.sleep(0.2)  # the client disconnects while the thread is still busy
        return prepared

    request = asyncio.create_task(prepare_off_loop(slow_prepare))
    await asyncio.to_thread(admitted.wait, 5)
    request.cancel()  # what Django does to the view when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await request
    assert await sync_to_async(used_and_held)(acme, alice) == (0, 0)
    answer = await sync_to_async(Message.objects.get)(conversation=conversation, role="assistant")
    assert answer.status == MessageStatus.CANCELLED


def test_a_v1_stream_closed_by_its_client_before_the_first_chunk_holds_nothing(acme, alice, make_key, fake_llm) -> None:
    fake_llm.config.ttft = 2.0  # the first chunk waits for the model's first text
    limit(acme, user_tokens_day=BUDGET)
    api_key, _ = make_key(alice, acme, ["chat"])
    membership = Membership.objects.select_related("org", "user").get(org=acme, user=alice)
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    call = openai_compat._plan_call(membership, api_key, body)
    assert used_and_held(acme, alice)[1] > 0

    async def open_then_leave() -> None:
        first = asyncio.ensure_future(anext(openai_compat._chunks(call, include_usage=False, turn=None)))
        await asyncio.sleep(0.2)
        first.cancel()  # what the server does when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await first

    async_to_sync(open_then_leave)()
    assert used_and_held(acme, alice) == (0, 0)


def test_a_background_call_that_crashes_frees_its_hold(acme, alice, monkeypatch) -> None:
    limit(acme, user_tokens_day=BUDGET)
    conversation = Conversation.objects.create(org=acme, user=alice)
    Message.objects.create(org=acme, conversation=conversation, seq=1, role="user", content="hi", status="complete")
    Message.objects.create(
        org=acme, conversation=conversation, seq=2, role="assistant", content="yo", status="complete"
    )

    async def broken_complete(**kwargs):
        raise RuntimeError("an unmapped error in the model client")

    monkeypatch.setattr(gateway, "complete", broken_complete)
    with pytest.raises(RuntimeError):
        tasks.generate_title(conversation_id=str(conversation.pk), org_id=str(acme.pk))
    assert used_and_held(acme, alice) == (0, 0)


@pytest.fixture
def hanging_redis_url():
    """A port that accepts connections and never answers: a paused Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


def test_a_settle_during_a_redis_pause_is_retried_when_redis_answers_again(
    acme, alice, settings, hanging_redis_url
) -> None:
    limit(acme, user_tokens_day=BUDGET)
    membership = Membership.objects.select_related("org", "user").get(org=acme, user=alice)

    def admitted() -> guardrails.Admission:
        return guardrails.admit(membership=membership, api_key_id=None, prompt_tokens=10, max_tokens=90)

    paused, redis_url = admitted(), settings.REDIS_URL
    settings.REDIS_URL = hanging_redis_url  # the store times out, as while Redis is paused
    guardrails.settle(paused, used_tokens=40)
    settings.REDIS_URL = redis_url
    assert used_and_held(acme, alice) == (0, 100)  # still held, not lost
    guardrails.settle(admitted(), used_tokens=25)  # the store answers again: the missed settle goes too
    assert used_and_held(acme, alice) == (65, 0)
    assert len(guardrails.UNSETTLED) == 0


def test_a_turn_whose_process_died_is_billed_for_its_text_and_frees_its_hold_at_the_sweep(api, acme, alice) -> None:
    limit(acme, user_tokens_day=BUDGET)
    chat = start(api, alice)
    membership = Membership.objects.get(org=acme, user=alice)
    conversation = Conversation.objects.get(pk=chat["id"])
    prepared = services.prepare_turn(membership=membership, conversation=conversation, content="then the crash")
    services.record_progress(message_id=prepared.assistant_message.pk, text="half an answer")
    assert used_and_held(acme, alice)[1] > 0  # the process dies here: nothing settles the hold
    Message.objects.filter(pk=prepared.assistant_message.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert tasks.sweep_abandoned_streams() == 1
    assert tasks.sweep_abandoned_streams() == 0  # finished once, billed once

    answer = Message.objects.get(pk=prepared.assistant_message.pk)
    assert (answer.status, answer.error_code, answer.content, answer.holds) == (
        "interrupted",
        "worker_lost",
        "half an answer",
        {},
    )
    used, held = used_and_held(acme, alice)
    assert held == 0
    assert used == answer.prompt_tokens + answer.completion_tokens > answer.prompt_tokens
    (record,) = UsageRecord.objects.filter(message=answer)
    assert (record.status, record.completion_tokens) == ("interrupted", answer.completion_tokens)


def test_a_reserve_refused_while_redis_is_paused_is_undone_when_redis_wakes_and_runs_it(
    acme, alice, settings, guardrail_redis
) -> None:
    limit(acme, user_tokens_day=BUDGET)
    membership = Membership.objects.select_related("org", "user").get(org=acme, user=alice)

    def admitted() -> guardrails.Admission:
        return guardrails.admit(membership=membership, api_key_id=None, prompt_tokens=10, max_tokens=90)

    guardrails.settle(admitted(), used_tokens=5)  # counters exist: the paused call is one reserve command
    guardrail_redis.process.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(guardrails.QuotaStoreUnavailable):
            admitted()
    finally:
        guardrail_redis.process.send_signal(signal.SIGCONT)
    time.sleep(0.2)  # the woken Redis runs the reserve its client gave up on
    assert used_and_held(acme, alice) == (5, 100)
    guardrails.settle(admitted(), used_tokens=20)  # the next call that reaches the store undoes it
    assert used_and_held(acme, alice) == (25, 0)
    assert len(guardrails.UNSETTLED) == 0
