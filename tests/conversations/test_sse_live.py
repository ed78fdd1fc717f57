"""Server-sent events through a real daphne process: the first token arrives while the model still writes."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def read_events(response: httpx.Response) -> list[tuple[float, dict]]:
    events, started = [], time.monotonic()
    for line in response.iter_lines():
        if line.startswith("data: "):
            events.append((time.monotonic() - started, json.loads(line[6:])))
    return events


def test_first_token_is_streamed_before_the_answer_ends(live, fake_llm) -> None:
    fake_llm.config.output_tokens = 20
    fake_llm.config.token_delay = 0.05
    url = f"{live['base']}/api/v1/orgs/acme/conversations/{live['conversation'].pk}/messages/"
    headers = {"Authorization": f"Bearer {live['key']}"}
    with httpx.stream(
        "POST", url, json={"content": "stream please", "stream": True}, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    kinds = [event["type"] for _, event in events]
    assert kinds[0] == "ack"
    assert kinds[-1] == "done"
    assert kinds.count("delta") == 20
    first_delta = next(at for at, event in events if event["type"] == "delta")
    done_at = events[-1][0]
    assert done_at - first_delta >= 0.5  # 19 more tokens at 50 ms each came after the first one
    answer = Message.objects.get(conversation=live["conversation"], role="assistant")
    assert (answer.status, answer.content) == ("complete", "".join(f"w{i} " for i in range(20)))
    assert answer.ttft_ms is not None


def test_json_mode_through_the_real_server(live) -> None:
    url = f"{live['base']}/api/v1/orgs/acme/conversations/{live['conversation'].pk}/messages/"
    response = httpx.post(url, json={"content": "hi"}, headers={"Authorization": f"Bearer {live['key']}"}, timeout=30)
    assert response.status_code == 201
    assert response.json()["message"]["status"] == "complete"


def test_an_export_streams_through_a_real_server(live) -> None:
    conversation = live["conversation"]
    for seq in range(1, 6):
        Message.objects.create(org=conversation.org, conversation=conversation, seq=seq, role="user", content=f"m{seq}")
    url = f"{live['base']}/api/v1/orgs/acme/conversations/{conversation.pk}/export/"
    headers = {"Authorization": f"Bearer {live['key']}"}
    exported = httpx.get(url, headers=headers, timeout=30)
    assert exported.status_code == 200
    assert [m["content"] for m in exported.json()["messages"]] == [f"m{n}" for n in range(1, 6)]
    markdown = httpx.get(url + "?as=markdown", headers=headers, timeout=30)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.count("## You") == 5
