"""The model catalogue: which models exist, where they are served, what they cost and allow.

It comes only from configuration (MODEL_CATALOGUE or MODEL_CATALOGUE_FILE, JSON), never from a
request, so a caller can name a model but never point the service at a URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chatpresets.errors import InvalidInput


@dataclass(frozen=True)
class ModelSpec:
    name: str
    base_url: str
    api_key_env: str = ""
    upstream_name: str = ""
    encoding: str = "o200k_base"
    context_window: int = 8192
    max_output: int = 1024
    price_in_per_million: Decimal = Decimal(0)
    price_out_per_million: Decimal = Decimal(0)
    # Price of prompt tokens the provider served from its prompt cache; None: the full input price.
    price_cached_in_per_million: Decimal | None = None
    # Ask for the provider's usage report at the end of a stream (stream_options.include_usage):
    # it carries the cached prompt tokens. Off by default; not every OpenAI-compatible server has it.
    stream_usage: bool = False
    ttft_timeout: float = 30.0
    total_timeout: float = 300.0
    fallbacks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def remote_name(self) -> str:
        return self.upstream_name or self.name

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal:
        """Cached prompt tokens (a subset of the prompt) cost the cached price, when there is one."""
        million = Decimal(1_000_000)
        cached = min(cached_tokens, prompt_tokens) if self.price_cached_in_per_million is not None else 0
        cached_price = self.price_cached_in_per_million or Decimal(0)
        prompt_cost = self.price_in_per_million * (prompt_tokens - cached) + cached_price * cached
        return (prompt_cost + self.price_out_per_million * completion_tokens) / million


def _spec(entry: dict[str, Any]) -> ModelSpec:
    try:
        values = {**entry, "fallbacks": tuple(entry.get("fallbacks", ()))}
        for key in ("price_in_per_million", "price_out_per_million"):
            values[key] = Decimal(str(values.get(key, 0)))
        if values.get("price_cached_in_per_million") is not None:
            values["price_cached_in_per_million"] = Decimal(str(values["price_cached_in_per_million"]))
        return ModelSpec(**values)
    except (TypeError, ArithmeticError) as error:
        raise ImproperlyConfigured(f"bad model catalogue entry {entry!r}: {error}") from error


@lru_cache(maxsize=1)
def catalogue() -> dict[str, ModelSpec]:
    raw = settings.MODEL_CATALOGUE
    if settings.MODEL_CATALOGUE_FILE:
        raw = json.loads(Path(settings.MODEL_CATALOGUE_FILE).read_text())
    models = {spec.name: spec for spec in map(_spec, raw)}
    for spec in models.values():
        missing = [name for name in spec.fallbacks if name not in models]
        if missing:
            raise ImproperlyConfigured(f"model {spec.name} falls back to unknown model(s) {missing}")
    return models


def get_model(name: str) -> ModelSpec:
    spec = catalogue().get(name)
    if spec is None:
        raise InvalidInput(f"Unknown model {name!r}.", details={"field": "model", "known": sorted(catalogue())})
    return spec


def default_model() -> str:
    """DEFAULT_MODEL, or the first model of the catalogue in use (environment or file)."""
    return settings.DEFAULT_MODEL or next(iter(catalogue()))
