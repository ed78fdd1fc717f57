"""Where the service's time went: Server-Timing on chat HTTP answers, `timing` in the done frame."""

from __future__ import annotations

import json
import time

import pytest
from channels.db import database_sync_to_async

from chatpresets.observability import timing
from tests.api_docs import response_body
from tests.chatpresets.observability import chat_socket, send_turn, start_conversation, websocket_turn

STAGES_BEFORE_THE_STREAM = {"caller", "context", "guardrails", "total"}
ALL_STAGES = STAGES_BEFORE_THE_STREAM | {"upstream_ttft", "first_token", "persistence"}


def server_timing(response) -> dict[str, float]:
    entries = [part.strip().split(";dur=") for part in response["Server-Timing"].split(",")]
    return {name: float(ms) for name, ms in entries}


@pytest.mark.usefixtures("fake_llm")
def test_a_json_answer_carries_every_stage(api, alice) -> None:
    client = api(alice)
    response = send_turn(client, start_conversation(client))
    assert response.status_code == 201
    stages = server_timing(response)
    assert set(stages) == ALL_STAGES
    assert all(ms >= 0 for ms in stages.values())
    assert stages["first_token"] <= stages["total"]
    assert stages["upstream_ttft"] <= stages["first_token"]


@pytest.mark.usefixtures("fake_llm")
def test_a_streamed_answer_carries_what_is_known_at_its_start_and_its_done_event_the_rest(api, alice) -> None:
    client = api(alice)
    response = send_turn(client, start_conversation(client), stream=True)
    assert response.status_code == 200
    assert set(server_timing(response)) == STAGES_BEFORE_THE_STREAM
    lines = response_body(response).decode().splitlines()
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    done = next(event for event in events if event["type"] == "done")
    assert set(done["timing"]) == ALL_STAGES


def test_v1_completions_carry_server_timing(api, acme, alice, make_key, fake_llm) -> None:
    _, secret = make_key(alice, acme, ["chat"])
    response = api(key=secret).post(
        "/v1/chat/completions", {"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert set(server_timing(response)) == ALL_STAGES


def test_a_refused_turn_has_no_server_timing(api, alice, fake_llm) -> None:
    client = api(alice)
    response = send_turn(client, start_conversation(client), content="   ")
    assert response.status_code == 400
    assert "Server-Timing" not in response


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fake_llm")
async def test_the_websocket_done_frame_carries_the_timing(acme, alice) -> None:
    frame = await websocket_turn(*await database_sync_to_async(chat_socket)(acme, alice))
    assert frame["type"] == "done", frame
    assert set(frame["timing"]) == ALL_STAGES
    assert frame["timing"]["first_token"] <= frame["timing"]["total"]


def test_a_stage_counts_its_own_time_once_even_nested_or_raising() -> None:
    turn = timing.begin_turn("v1")
    try:
        with timing.stage("context"):
            time.sleep(0.02)
            with timing.stage("guardrails"), timing.stage("guardrails"):  # the inner one counts nothing
                time.sleep(0.03)
        with pytest.raises(ValueError, match="storing failed"), timing.stage("persistence"):
            raise ValueError("storing failed")
    finally:
        timing.leave(turn)
    assert 0.02 <= turn.stages["context"] < 0.03  # the nested guardrails' time is not the context's
    assert 0.03 <= turn.stages["guardrails"] < 0.045
    assert set(turn.stages) == {"context", "guardrails", "persistence"}
    assert turn.open_stages == []
