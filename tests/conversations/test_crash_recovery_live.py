"""A turn's process dies mid-answer; with no operator the conversation is usable again (real daphne)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from conversations.models import Conversation, Message
from tenancy import services as tenancy_services
from tests.conversations.conftest import server_env
from tests.server import daphne, spawn_daphne

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_MODEL_TIMEOUTS = {"ttft_timeout": 5.0, "total_timeout": 30.0}  # the slow model takes 3 s to its first token
FAST_RECOVERY = {
    "PERIODIC_TASKS_INLINE": "true",
    "STREAM_SWEEP_SECONDS": "0.5",
    "STREAM_ABANDONED_SECONDS": "2",
    "STREAM_FLUSH_SECONDS": "0.2",
}


@pytest.fixture
def turn(acme, alice) -> dict:
    """A conversation of alice's, its messages URL and the headers of a chat key of hers."""
    conversation = Conversation.objects.create(org=acme, user=alice)
    _, key = tenancy_services.api_key_create(org=acme, actor=alice, name="crash", scopes=["chat"], expires_at=None)
    return {
        "conversation": conversation,
        "path": f"/api/v1/orgs/acme/conversations/{conversation.pk}/messages/",
        "headers": {"Authorization": f"Bearer {key}"},
    }


def eventually(check: Callable[[], bool], *, within: float) -> float:
    """Seconds until `check()` held; fails after `within` seconds."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"not within {within}s"
        time.sleep(0.1)
    return time.monotonic() - started


def answer_status(conversation: Conversation) -> str:
    return Message.objects.filter(conversation=conversation, role="assistant").order_by("seq").first().status


def test_an_answer_whose_process_was_killed_is_interrupted_and_the_conversation_answers_again(
    fake_server, fake_llm, turn
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05  # ten seconds of answer
    env = server_env(fake_server, model=SLOW_MODEL_TIMEOUTS, **FAST_RECOVERY)
    process, base = spawn_daphne(env)
    try:
        body = {"content": "a long answer, please", "stream": True}
        with httpx.stream("POST", base + turn["path"], json=body, headers=turn["headers"], timeout=30) as response:
            assert response.status_code == 200
            for line in response.iter_lines():  # keep reading: a client that leaves cancels the turn
                if line.startswith("data: ") and answer_status(turn["conversation"]) == "streaming":
                    process.kill()  # SIGKILL mid-stream, text flushed: nothing of the turn's clean-up runs
                    break
            else:
                pytest.fail("the answer ended before it was flushed")
    finally:
        process.kill()
        process.wait(timeout=10)

    fake_llm.config.output_tokens, fake_llm.config.token_delay = 5, 0.0
    with daphne(env) as base:
        # Nobody touches the conversation: the restarted process's scheduler sweeps the answer.
        eventually(lambda: answer_status(turn["conversation"]) == "interrupted", within=10)
        response = httpx.post(
            base + turn["path"], json={"content": "still there?"}, headers=turn["headers"], timeout=30
        )
    assert response.status_code == 201, response.text
    assert response.json()["message"]["status"] == "complete"
    lost = Message.objects.filter(conversation=turn["conversation"], role="assistant").order_by("seq").first()
    assert (lost.status, lost.error_code) == ("interrupted", "worker_lost")
    assert lost.content.startswith("w0 ")  # the text flushed before the crash is kept


def test_a_live_answer_waiting_on_a_slow_model_is_not_taken_for_abandoned(fake_server, fake_llm, turn) -> None:
    fake_llm.config.ttft = 3.0  # longer than STREAM_ABANDONED_SECONDS, with no text meanwhile
    results: dict[str, httpx.Response] = {}
    with daphne(server_env(fake_server, model=SLOW_MODEL_TIMEOUTS, **FAST_RECOVERY)) as base:

        def first_turn() -> None:
            results["first"] = httpx.post(
                base + turn["path"], json={"content": "slow"}, headers=turn["headers"], timeout=30
            )

        waiting = threading.Thread(target=first_turn)
        waiting.start()
        eventually(
            lambda: Message.objects.filter(conversation=turn["conversation"], role="assistant").exists(), within=5
        )
        time.sleep(2.5)  # past STREAM_ABANDONED_SECONDS and several sweeps
        second = httpx.post(base + turn["path"], json={"content": "me too"}, headers=turn["headers"], timeout=30)
        waiting.join(timeout=30)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "turn_in_progress"
    assert results["first"].status_code == 201
    assert results["first"].json()["message"]["status"] == "complete"
