"""An organisation's cost controls, from `Organization.settings`:

- `allowed_models`: the catalogue models its members may call (absent: all of them);
- `max_tokens`: a ceiling on any call's answer length;
- `max_context_tokens`: a ceiling on any call's context window;
- `over_budget`: `refuse` (default) or `downgrade`, with `downgrade_model`: what a call does when a
  cost budget cannot hold it;
- `summary_model`: the cheap model that writes running summaries and titles.

Every chat path asks this module, so a limit set here holds on the websocket, HTTP, the
OpenAI-compatible API and background work alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chatpresets.errors import Forbidden
from chatpresets.llm.catalogue import ModelSpec, catalogue, default_model, get_model


class ModelNotAllowed(Forbidden):
    code = "model_not_allowed"
    message = "This organisation does not allow that model."


@dataclass(frozen=True)
class CostControls:
    allowed_models: frozenset[str] | None = None
    max_tokens: int | None = None
    max_context_tokens: int | None = None
    over_budget: str = "refuse"
    downgrade_model: str | None = None
    summary_model: str | None = None

    def allows(self, name: str) -> bool:
        return self.allowed_models is None or name in self.allowed_models

    def model(self, name: str) -> ModelSpec:
        """The catalogue entry, or 403 `model_not_allowed` (400 for a name the catalogue lacks)."""
        spec = get_model(name)
        if not self.allows(spec.name):
            raise ModelNotAllowed(details={"model": name, "allowed": sorted(self.allowed_models or ())})
        return spec

    def answer_limit(self, spec: ModelSpec, requested: int | None) -> int:
        """max_tokens for a call: as requested, within the model's and the organisation's ceilings."""
        ceiling = min(spec.max_output, self.max_tokens or spec.max_output)
        return min(int(requested or ceiling), ceiling)

    def context_window(self, spec: ModelSpec, preset_limit: int | None = None) -> int:
        limits = [spec.context_window, self.max_context_tokens, preset_limit]
        return min(limit for limit in limits if limit)

    def downgrade(self) -> ModelSpec | None:
        """The model an over-budget call falls back to, when the organisation chose that."""
        if self.over_budget != "downgrade" or not self.downgrade_model:
            return None
        return get_model(self.downgrade_model)

    def fallbacks(self, spec: ModelSpec, preset_policy: dict[str, Any] | None = None) -> list[str]:
        """The model's fallback chain, less what the organisation or the preset's policy does not allow."""
        allowed = (preset_policy or {}).get("allowed_fallback_models")
        return [name for name in spec.fallbacks if self.allows(name) and (allowed is None or name in allowed)]

    def background_model(self) -> str:
        name = self.summary_model or settings.SUMMARY_MODEL or default_model()
        return name if name in catalogue() else default_model()

    def visible_models(self) -> list[str]:
        return [name for name in catalogue() if self.allows(name)]


def controls_for(org_settings: dict[str, Any] | None) -> CostControls:
    values = org_settings or {}
    allowed = values.get("allowed_models")
    return CostControls(
        allowed_models=frozenset(allowed) if isinstance(allowed, list) else None,
        max_tokens=_positive(values.get("max_tokens")),
        max_context_tokens=_positive(values.get("max_context_tokens")),
        over_budget=values.get("over_budget") if values.get("over_budget") in ("refuse", "downgrade") else "refuse",
        downgrade_model=values.get("downgrade_model") or None,
        summary_model=values.get("summary_model") or None,
    )


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
