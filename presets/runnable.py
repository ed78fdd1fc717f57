"""Checks, when a preset is saved, that it can run: a model (and fallbacks) the service has and the
organisation allows, and a context budget that holds its system prompt and its answer.

Without them a preset was saved and failed only at its first message (an unknown model, or
`available_tokens` below zero on every send). The same rules decide at use, in conversations.
"""

from __future__ import annotations

from typing import Any

from chatpresets.errors import InvalidInput
from chatpresets.llm.catalogue import ModelSpec, catalogue
from chatpresets.llm.cost_controls import CostControls, ModelNotAllowed
from chatpresets.llm.tokens import REPLY_PRIMING, count_message


class UnknownModel(InvalidInput):
    code = "unknown_model"
    message = "The service has no model of that name."


class ContextBudgetTooSmall(InvalidInput):
    code = "context_budget_too_small"


def check_model(controls: CostControls, name: str, *, field: str = "model") -> ModelSpec:
    """The catalogue entry; 400 `unknown_model` or 403 `model_not_allowed`, both listing the allowed names."""
    allowed = controls.visible_models()
    spec = catalogue().get(name)
    if spec is None:
        raise UnknownModel(
            f"Unknown model {name!r}; this organisation may use: {', '.join(allowed) or 'none'}.",
            details={"field": field, "model": name, "allowed": allowed},
        )
    if not controls.allows(name):
        raise ModelNotAllowed(details={"field": field, "model": name, "allowed": allowed})
    return spec


def check_fallbacks(controls: CostControls, policy: dict[str, Any]) -> None:
    for name in policy.get("allowed_fallback_models") or []:
        check_model(controls, name, field="policy.allowed_fallback_models")


def check_context_budget(controls: CostControls, content: dict[str, Any]) -> None:
    """The context window must hold the system prompt, the answer limit and a message beside them.

    Skipped for a model the catalogue no longer has: a preset saved before keeps working until used.
    """
    spec = catalogue().get(content["model"])
    if spec is None:
        return
    window = controls.context_window(spec, content["policy"].get("max_context_tokens"))
    answer = controls.answer_limit(spec, content["params"].get("max_tokens"))
    system = count_message("system", content["system_prompt"], spec.encoding)
    required = system + answer + REPLY_PRIMING
    if required >= window:  # nothing would be left for the user's message
        raise ContextBudgetTooSmall(
            f"A context window of {window} tokens cannot hold the system prompt ({system} tokens), the "
            f"answer limit ({answer}) and a message; raise policy.max_context_tokens above {required} "
            "or lower params.max_tokens.",
            details={
                "field": "policy.max_context_tokens",
                "context_window": window,
                "answer_limit": answer,
                "system_tokens": system,
                "reply_priming": REPLY_PRIMING,
                "required_tokens": required,
            },
        )
