"""The project's own fake model server, reached over real HTTP, and a catalogue pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conversations import catalogue, gateway
from conversations.fake_llm import FakeConfig, FakeLLMServer


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(FakeConfig()).start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_server: FakeLLMServer, settings: Any) -> Iterator[Any]:
    """A clean fake model (no faults, no recorded requests) and a catalogue of fake models."""
    base = fake_server.base_url
    settings.MODEL_CATALOGUE = [
        {
            "name": "fake",
            "base_url": base,
            "encoding": "o200k_base",
            "context_window": 4096,
            "max_output": 256,
            "price_in_per_million": "1.00",
            "price_out_per_million": "2.00",
            "ttft_timeout": 0.5,
            "total_timeout": 10.0,
            "fallbacks": ["fake-backup"],
        },
        {
            "name": "fake-backup",
            "base_url": base.replace("127.0.0.1", "localhost"),
            "encoding": "o200k_base",
            "context_window": 4096,
            "max_output": 256,
            "ttft_timeout": 0.5,
            "total_timeout": 10.0,
        },
        {
            "name": "fake-small",
            "base_url": base,
            "encoding": "cl100k_base",
            "context_window": 300,
            "max_output": 50,
            "ttft_timeout": 0.5,
            "total_timeout": 10.0,
        },
    ]
    settings.GATEWAY_BACKOFF_SECONDS = 0.01
    settings.GATEWAY_RETRIES = 2
    settings.DEFAULT_MODEL = "fake"
    catalogue.catalogue.cache_clear()
    gateway._breakers.clear()
    llm = fake_server.llm
    llm.faults.clear()
    llm.requests.clear()
    llm.config = FakeConfig()
    yield llm
    catalogue.catalogue.cache_clear()
    gateway._breakers.clear()
