"""One real chat turn against the embedded model: SmolLM2-135M under llama-cpp-python's server."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from django.urls import reverse

from chatpresets.llm import catalogue, gateway
from conversations.local_model import MODEL_ALIAS, gguf_path
from conversations.models import Conversation
from tests.server import free_port


@pytest.fixture(scope="module")
def smollm2_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    log_path = tmp_path_factory.mktemp("smollm2") / "server.log"
    log = log_path.open("w")  # a file, not a pipe: the model's loading chatter would fill a pipe and stall it
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text()[-2000:])
            try:
                urllib.request.urlopen(f"{base}/models", timeout=1)  # noqa: S310 (loopback)
                break
            except OSError:
                time.sleep(0.25)
        else:
            raise TimeoutError(f"SmolLM2 did not answer within 60 s: {log_path.read_text()[-2000:]}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def smollm2(smollm2_url, settings) -> Iterator[None]:
    settings.MODEL_CATALOGUE = [
        {
            "name": "smollm2",
            "base_url": smollm2_url,
            "encoding": "cl100k_base",
            "context_window": 2048,
            "max_output": 24,
            "ttft_timeout": 20.0,
            "total_timeout": 60.0,
        }
    ]
    settings.DEFAULT_MODEL = "smollm2"
    catalogue.catalogue.cache_clear()
    gateway._breakers.clear()
    yield
    catalogue.catalogue.cache_clear()


@pytest.mark.usefixtures("smollm2")
def test_a_real_chat_turn_streams_from_smollm2(api, alice, acme) -> None:
    chat = Conversation.objects.create(org=acme, user=alice, title="real model")
    url = reverse("conversation-messages", kwargs={"org_slug": "acme", "pk": chat.pk})
    response = api(alice).post(url, {"content": "Say hello in one short sentence."}, format="json")
    assert response.status_code == 201, response.json()
    answer = response.json()["message"]
    assert answer["status"] == "complete"
    assert answer["model"] == "smollm2"
    assert answer["content"].strip()
    assert answer["completion_tokens"] > 0
    assert answer["ttft_ms"] is not None
