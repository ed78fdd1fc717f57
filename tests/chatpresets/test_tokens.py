"""Token encodings loaded at process start (chatpresets/llm/tokens.py), so no first turn waits for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatpresets.llm import catalogue, tokens

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh(settings: Any) -> Any:
    tokens.encoding.cache_clear()
    catalogue.catalogue.cache_clear()
    yield settings
    tokens.encoding.cache_clear()
    catalogue.catalogue.cache_clear()


def _cached(name: str) -> bool:
    hits = tokens.encoding.cache_info().hits
    tokens.encoding(name)
    return tokens.encoding.cache_info().hits > hits


def test_the_catalogues_encodings_are_loaded_and_no_other(fresh) -> None:
    fresh.MODEL_CATALOGUE = [{"name": "m", "base_url": "http://127.0.0.1:9/v1", "encoding": "cl100k_base"}]
    fresh.MODEL_CATALOGUE_FILE = ""
    tokens.load_catalogue_encodings()
    assert tokens.encoding.cache_info().currsize == 1
    assert _cached("cl100k_base")


def test_an_unknown_encoding_or_a_bad_catalogue_is_left_to_the_request_that_uses_it(fresh) -> None:
    fresh.MODEL_CATALOGUE = [{"name": "m", "base_url": "http://127.0.0.1:9/v1", "encoding": "p50k_base"}]
    fresh.MODEL_CATALOGUE_FILE = ""
    tokens.load_catalogue_encodings()
    assert tokens.encoding.cache_info().currsize == 0
    catalogue.catalogue.cache_clear()
    fresh.MODEL_CATALOGUE = [{"name": "m", "base_url": "http://127.0.0.1:9/v1", "fallbacks": ["gone"]}]
    tokens.load_catalogue_encodings()  # ImproperlyConfigured is the first request's, as before
    assert tokens.encoding.cache_info().currsize == 0


def test_the_web_server_loads_them_at_import() -> None:
    """In a process of its own: what daphne imports, before any request."""
    check = (
        "import chatpresets.asgi; from chatpresets.llm import tokens; "
        "assert tokens.encoding.cache_info().currsize >= 1, tokens.encoding.cache_info()"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
