"""The OpenAI-compatible API, driven by the official `openai` client against a real daphne process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conversations.models import UsageRecord
from presets.services import lifecycle, review
from tenancy import services as tenancy_services
from tests.chatpresets.observability import METRICS_TOKEN
from tests.conversations.conftest import server_env
from tests.factories import MembershipFactory
from tests.presets_world import make_preset
from tests.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live['base']}/v1", api_key=live["key"], max_retries=0, timeout=20)


@pytest.fixture
def preset(acme, bob):
    approver = MembershipFactory(org=acme, role="approver").user
    preset = make_preset(acme, bob, "pirate", scope="org")
    preset = lifecycle.preset_update(preset=preset, actor=bob, system_prompt="Talk like a pirate.", model="fake")
    review.preset_submit(preset=preset, actor=bob)
    review.preset_approve(preset=preset, actor=approver, number=2)
    return preset


def test_models_lists_catalogue_models_and_usable_presets(client, preset) -> None:
    names = [model.id for model in client.models.list()]
    assert "fake" in names
    assert "preset:pirate" in names


def test_non_streaming_completion_applies_the_preset(client, preset, fake_llm) -> None:
    fake_llm.config.reply = "Arr matey"
    completion = client.chat.completions.create(model="preset:pirate", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "Arr matey"
    assert completion.usage.completion_tokens > 0
    sent = fake_llm.requests[-1]["messages"]
    assert sent == [{"role": "system", "content": "Talk like a pirate."}, {"role": "user", "content": "Hi"}]
    usage = UsageRecord.objects.get(kind="completion_api")
    assert (usage.preset_id, usage.preset_version, usage.model) == (preset.pk, 2, "fake")
    assert usage.api_key_id is not None
    assert usage.completion_tokens == completion.usage.completion_tokens


def test_streaming_completion_with_usage(client, preset, fake_llm) -> None:
    fake_llm.config.output_tokens = 5
    stream = client.chat.completions.create(
        model="preset:pirate@2",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "w0 w1 w2 w3 w4 "
    assert chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_plain_catalogue_model_and_parameters_pass_through(client, fake_llm) -> None:
    client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "x"}], temperature=0.2)
    assert fake_llm.requests[-1]["temperature"] == 0.2


def test_errors_are_clear(client, live, preset, carol, globex) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="preset:nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fake", messages=[])
    bad = openai.OpenAI(base_url=client.base_url, api_key="cpk_000000000000_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="fake", messages=[{"role": "user", "content": "x"}])
    _, globex_key = tenancy_services.api_key_create(org=globex, actor=carol, name="g", scopes=["chat"], expires_at=None)
    other = openai.OpenAI(base_url=client.base_url, api_key=globex_key, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.create(model="preset:pirate", messages=[{"role": "user", "content": "x"}])


def test_usage_records_the_wait_the_client_saw_and_the_failed_attempt(client, fake_llm) -> None:
    fake_llm.inject("slow_first_token")  # the first try waits out the 2 s budget; the retry answers
    client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "x"}])
    record = UsageRecord.objects.latest("created_at")
    assert record.ttft_ms >= 2000
    assert [attempt["model"] for attempt in record.attempts] == ["fake"]
    assert record.attempts[0]["error"].startswith("TimeoutError")


@contextmanager
def streamed_completion(base: str, key: str, *, status: int = 200) -> Iterator[httpx.Response]:
    """A streamed /v1 completion of `fake`, open (its status checked) until the block ends."""
    with httpx.stream(
        "POST",
        f"{base}/v1/chat/completions",
        json={"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    ) as response:
        assert response.status_code == status
        yield response


def test_a_stream_that_fails_after_its_first_chunk_ends_with_an_openai_error(live, fake_llm) -> None:
    fake_llm.inject("disconnect")  # the model drops the connection after two tokens, with no fallback
    with streamed_completion(live["base"], live["key"]) as response:
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]

    assert lines[-1] != "[DONE]"
    error = json.loads(lines[-1])["error"]
    assert (error["code"], error["type"], error["param"]) == ("upstream_interrupted", "api_error", None)
    assert set(error) == {"code", "message", "details", "type", "param"}


def test_an_answer_cut_short_is_a_502_not_a_complete_completion(client, fake_llm) -> None:
    fake_llm.inject("disconnect")

    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "Hi"}])

    assert refused.value.status_code == 502
    assert refused.value.body["code"] == "upstream_interrupted"
    usage = UsageRecord.objects.get(kind="completion_api")
    assert usage.completion_tokens > 0  # the tokens the model did send are recorded and charged


@pytest.fixture
def one_attempt(fake_server, fake_llm, acme, alice, tmp_path) -> Iterator[dict[str, str]]:
    """A daphne process whose gateway asks the model once per call, with one stream slot for everyone."""
    _, key = tenancy_services.api_key_create(org=acme, actor=alice, name="v1", scopes=["chat"], expires_at=None)
    env = server_env(fake_server, GATEWAY_RETRIES="0", MAX_CONCURRENT_STREAMS="1", STREAM_ORG_SHARE="1")
    with daphne(env, log=tmp_path / "daphne.log") as base:
        yield {"base": base, "key": key}


def test_a_stream_whose_model_fails_before_answering_gets_the_error_as_its_status(one_attempt, fake_llm) -> None:
    fake_llm.inject("500")
    with streamed_completion(one_attempt["base"], one_attempt["key"], status=503) as response:
        error = json.loads(response.read())["error"]

    assert (error["code"], error["type"]) == ("model_unavailable", "service_unavailable_error")
    assert not UsageRecord.objects.filter(kind="completion_api").exists()  # nothing answered, nothing charged
    with streamed_completion(one_attempt["base"], one_attempt["key"]) as response:  # its one slot is back
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert json.loads(lines[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert lines[-1] == "[DONE]"


def test_the_sdk_retries_a_stream_whose_model_failed_before_answering(one_attempt, fake_llm) -> None:
    fake_llm.inject("500")
    client = openai.OpenAI(base_url=f"{one_attempt['base']}/v1", api_key=one_attempt["key"], max_retries=1, timeout=20)

    stream = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "Hi"}], stream=True)

    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices).startswith("w0 w1 ")
    assert len(fake_llm.requests) == 2  # the model's failure, then the client's own retry


@pytest.fixture
def metered_server(fake_server, fake_llm, acme, alice, tmp_path) -> Iterator[dict[str, str]]:
    """A daphne process with metrics on, a chat key of alice's, and a model taking three seconds to answer."""
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 60, 0.05
    _, key = tenancy_services.api_key_create(org=acme, actor=alice, name="v1", scopes=["chat"], expires_at=None)
    env = server_env(fake_server, METRICS_ENABLED="true", METRICS_TOKEN=METRICS_TOKEN)
    with daphne(env, log=tmp_path / "daphne.log") as base:
        yield {"base": base, "key": key}


def test_a_client_that_leaves_mid_stream_counts_its_turn_stopped_and_pays_for_the_text_so_far(metered_server) -> None:
    with streamed_completion(metered_server["base"], metered_server["key"]) as response:
        next(line for line in response.iter_lines() if '"content": "w' in line)  # the first token
    # Leaving the block closed the connection while the model was still writing.
    assert wait_for_turn_outcome(metered_server["base"], "stopped") == {"stopped": 1.0}
    usage = UsageRecord.objects.get(kind="completion_api")  # written before the outcome is counted
    assert usage.status == "cancelled"
    assert 0 < usage.completion_tokens < 60  # what the model had produced, not its whole answer
    assert usage.prompt_tokens > 0


def test_a_client_that_gives_up_on_a_whole_answer_counts_its_turn_stopped(metered_server) -> None:
    with pytest.raises(httpx.ReadTimeout):  # the client stops waiting and closes the connection
        httpx.post(
            f"{metered_server['base']}/v1/chat/completions",
            json={"model": "fake", "messages": [{"role": "user", "content": "Hi"}]},
            headers={"Authorization": f"Bearer {metered_server['key']}"},
            timeout=1,
        )
    assert wait_for_turn_outcome(metered_server["base"], "stopped") == {"stopped": 1.0}


def wait_for_turn_outcome(base: str, outcome: str, timeout: float = 10.0) -> dict[str, float]:
    """The server's /v1 turn counts by outcome, once `outcome` shows (the server hears of a
    disconnect asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5)
        assert scraped.status_code == 200, scraped.text
        turns = {
            sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
            if sample.name == "chatpresets_chat_turns_total" and sample.labels["transport"] == "v1"
        }
        if outcome in turns or time.monotonic() > deadline:
            return turns
        time.sleep(0.1)
