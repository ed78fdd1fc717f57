"""The gateway against the fake model over HTTP: streaming, retries, fallback, breaker, interruption."""

from __future__ import annotations

import asyncio

import openai
import pytest

from chatpresets.llm import gateway
from chatpresets.llm.catalogue import get_model
from chatpresets.observability import metrics
from tests.server import free_port

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True, params=["default", "aiohttp"])
async def transport(request):
    """Every test on both of the SDK's transports: a web server's loop reads over aiohttp, any other loop
    (a Celery task's) over the default one."""
    if request.param == "aiohttp":
        gateway.keep_clients_on_this_loop()
    yield request.param
    await gateway.close_clients()


async def run(model: str = "fake", **kwargs):
    deltas: list[str] = []

    async def on_delta(text: str) -> None:
        deltas.append(text)

    result = await gateway.stream_chat(
        model=model,
        messages=MESSAGES,
        params=kwargs.pop("params", {}),
        max_tokens=kwargs.pop("max_tokens", 64),
        on_delta=on_delta,
    )
    return result, deltas


async def test_streams_tokens_and_sends_the_exact_request(fake_llm) -> None:
    fake_llm.config.output_tokens = 4
    result, deltas = await run(params={"temperature": 0.3, "seed": 1})
    assert deltas == ["w0 ", "w1 ", "w2 ", "w3 "]
    assert (result.text, result.status, result.finish_reason, result.model) == (
        "w0 w1 w2 w3 ",
        "complete",
        "stop",
        "fake",
    )
    assert result.ttft_ms is not None
    body = fake_llm.requests[-1]
    assert (body["messages"], body["temperature"], body["max_tokens"], body["stream"]) == (MESSAGES, 0.3, 64, True)
    assert "seed" not in body


async def test_max_tokens_is_capped_by_the_model(fake_llm) -> None:
    await run(max_tokens=100_000)
    assert fake_llm.requests[-1]["max_tokens"] == 256


@pytest.mark.parametrize("fault", ["429", "500", "disconnect_before_first_token"])
async def test_retries_before_the_first_token(fake_llm, fault) -> None:
    fake_llm.inject("500" if fault.startswith("disconnect") else fault)
    result, _ = await run()
    assert result.status == "complete"
    assert len(fake_llm.requests) == 2
    assert result.attempts[0]["model"] == "fake"


async def test_falls_back_to_the_next_model_after_retries(fake_llm) -> None:
    fake_llm.inject("500", "500", "500")
    result, _ = await run()
    assert result.model == "fake-backup"
    assert [r["model"] for r in fake_llm.requests] == ["fake", "fake", "fake", "fake-backup"]


async def test_first_token_timeout_counts_as_retryable(fake_llm, settings) -> None:
    settings.GATEWAY_RETRIES = 0
    fake_llm.inject("slow_first_token")
    result, _ = await run()
    assert result.model == "fake-backup"
    assert result.attempts[0]["error"].startswith("TimeoutError")


async def test_time_to_first_token_is_what_the_caller_waited_retries_included(fake_llm) -> None:
    fake_llm.inject("slow_first_token")  # the first try waits out the 0.5 s budget, a retry answers
    result, _ = await run()
    # On a loaded machine a retry can miss the budget too: each failed try counts in the wait.
    assert (result.model, result.status) == ("fake", "complete")
    assert result.attempts
    assert result.attempts[0]["error"].startswith("TimeoutError")
    assert result.ttft_ms >= 500 * len(result.attempts)
    assert result.total_ms >= result.ttft_ms


async def test_failure_after_first_token_keeps_partial_text(fake_llm) -> None:
    fake_llm.inject("disconnect")
    result, _ = await run()
    assert (result.status, result.error_code, result.text) == ("interrupted", "upstream_interrupted", "w0 w1 ")
    assert len(fake_llm.requests) == 1


async def test_no_model_answering_raises_model_unavailable(fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    with pytest.raises(gateway.ModelUnavailable) as error:
        await run()
    assert len(error.value.details["attempts"]) == 6


async def test_a_model_nobody_listens_for_is_a_connection_error_on_either_transport(fake_llm, settings) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: each connection is refused
    settings.MODEL_CATALOGUE = [{**entry, "base_url": down} for entry in settings.MODEL_CATALOGUE]
    settings.GATEWAY_RETRIES, settings.METRICS_ENABLED = 0, True
    before = upstream_errors("fake", "connection")

    with pytest.raises(gateway.ModelUnavailable) as error:
        await run()

    attempts = error.value.details["attempts"]  # the model and its fallback, all at the one address
    assert {attempt["error"] for attempt in attempts} == {"APIConnectionError"}
    assert upstream_errors("fake", "connection") == before + len(attempts)
    assert not fake_llm.requests


def upstream_errors(endpoint: str, kind: str) -> float:
    labels = {"endpoint": endpoint, "kind": kind}
    return metrics.REGISTRY.get_sample_value("chatpresets_upstream_errors_total", labels) or 0.0


async def test_circuit_breaker_opens_and_skips_the_endpoint(fake_llm, settings) -> None:
    settings.GATEWAY_BREAKER_THRESHOLD = 2
    settings.GATEWAY_RETRIES = 0
    gateway._breakers.clear()
    for _ in range(2):  # each time the first model fails once and the backup answers
        fake_llm.inject("500")
        assert (await run())[0].model == "fake-backup"
    before = len(fake_llm.requests)
    result, _ = await run("fake")
    assert result.model == "fake-backup"
    assert [r["model"] for r in fake_llm.requests[before:]] == ["fake-backup"]
    assert result.attempts == [{"model": "fake", "error": "circuit_open"}]


async def test_cancelling_the_task_closes_the_upstream_stream(fake_llm) -> None:
    fake_llm.config.output_tokens = 200
    fake_llm.config.token_delay = 0.02
    seen: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    task = asyncio.create_task(
        gateway.stream_chat(model="fake", messages=MESSAGES, params={}, max_tokens=256, on_delta=on_delta)
    )
    while len(seen) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(seen)
    await asyncio.sleep(0.1)
    assert len(seen) == count < 200


@pytest.mark.parametrize(
    "chunk",
    [None, [], "text", {"choices": None}, {"choices": [None]}, {"choices": [{"delta": "x"}]}, {"usage": 7}],
    ids=["null", "list", "string", "null-choices", "null-choice", "string-delta", "odd-usage"],
)
async def test_a_chunk_of_an_odd_shape_is_read_as_no_text(chunk) -> None:
    seen: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    result = gateway.StreamResult(model="fake")
    await gateway._take(chunk, 0.0, result, on_delta)
    assert (seen, result.text, result.finish_reason, result.cached_tokens) == ([], "", "", 0)


async def test_a_chunk_gives_its_text_finish_reason_and_cached_tokens() -> None:
    seen: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    result = gateway.StreamResult(model="fake")
    chunk = {
        "choices": [{"delta": {"content": "hi"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens_details": {"cached_tokens": 12}},
    }
    await gateway._take(chunk, 0.0, result, on_delta)
    assert (seen, result.text, result.finish_reason, result.cached_tokens) == (["hi"], "hi", "length", 12)


async def test_a_server_loops_clients_read_over_aiohttp_until_closed(fake_llm, transport) -> None:
    result, _ = await run()
    assert result.status == "complete"
    client = gateway.client_for(get_model("fake"))
    assert isinstance(client._client, openai.DefaultAioHttpClient) is (transport == "aiohttp")
    await gateway.close_clients()
    assert client.is_closed()
    assert gateway.client_for(get_model("fake")) is not client  # the loop's next call opens a new one
