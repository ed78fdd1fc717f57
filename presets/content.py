"""Rules for a preset's versioned content, and the safe `{{ name }}` template substitution."""

from __future__ import annotations

import re
from typing import Any

from chatpresets.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MODEL_NAME = re.compile(r"^[A-Za-z0-9._:/@-]{1,100}$")
PII_MODES = {"off", "redact_for_model", "redact_stored", "block"}

# name: (type, minimum, maximum)
NUMERIC_PARAMS: dict[str, tuple[type, float, float]] = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "max_tokens": (int, 1, 1_000_000),
    "presence_penalty": (float, -2.0, 2.0),
    "frequency_penalty": (float, -2.0, 2.0),
}
MAX_STOP_SEQUENCES = 4
MAX_VARIABLES = 50


def invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": field})


def _number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind is int else isinstance(value, int | float)


def validate_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise invalid("params", "params must be an object.")
    unknown = sorted(set(params) - set(NUMERIC_PARAMS) - {"stop"})
    if unknown:
        raise invalid("params", f"Unknown parameter(s): {', '.join(unknown)}.")
    for name, (kind, low, high) in NUMERIC_PARAMS.items():
        if name in params and params[name] is not None:
            value = params[name]
            if not _number(value, kind) or not low <= value <= high:
                raise invalid(
                    "params", f"{name} must be a{'n integer' if kind is int else ' number'} in [{low}, {high}]."
                )
    stop = params.get("stop")
    if stop is not None and (
        not isinstance(stop, list)
        or len(stop) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and 0 < len(s) <= 64 for s in stop)
    ):
        raise invalid("params", f"stop must be a list of at most {MAX_STOP_SEQUENCES} strings of 1-64 characters.")
    return params


def validate_variables(variables: Any) -> list[dict[str, Any]]:
    if not isinstance(variables, list) or len(variables) > MAX_VARIABLES:
        raise invalid("variables", f"variables must be a list of at most {MAX_VARIABLES} objects.")
    seen: set[str] = set()
    cleaned = []
    for item in variables:
        if not isinstance(item, dict) or not VARIABLE_NAME.match(str(item.get("name", ""))):
            raise invalid("variables", "Each variable needs a name made of letters, digits and underscores.")
        if set(item) - {"name", "description", "default", "required"}:
            raise invalid("variables", f"Variable {item['name']} has unknown keys.")
        if item["name"] in seen:
            raise invalid("variables", f"Variable {item['name']} is declared twice.")
        seen.add(item["name"])
        default = item.get("default")
        if default is not None and not isinstance(default, str):
            raise invalid("variables", f"The default of {item['name']} must be a string.")
        cleaned.append(
            {
                "name": item["name"],
                "description": str(item.get("description", "")),
                "default": default,
                "required": bool(item.get("required", False)),
            }
        )
    return cleaned


def validate_policy(policy: Any) -> dict[str, Any]:
    if not isinstance(policy, dict):
        raise invalid("policy", "policy must be an object.")
    unknown = sorted(set(policy) - {"allowed_fallback_models", "max_context_tokens", "pii_mode", "daily_token_budget"})
    if unknown:
        raise invalid("policy", f"Unknown policy key(s): {', '.join(unknown)}.")
    fallbacks = policy.get("allowed_fallback_models", [])
    if not isinstance(fallbacks, list) or not all(isinstance(m, str) and MODEL_NAME.match(m) for m in fallbacks):
        raise invalid("policy", "allowed_fallback_models must be a list of model names.")
    for key, low in (("max_context_tokens", 256), ("daily_token_budget", 1)):
        value = policy.get(key)
        if value is not None and (not _number(value, int) or value < low):
            raise invalid("policy", f"{key} must be an integer of at least {low}.")
    if policy.get("pii_mode") is not None and policy["pii_mode"] not in PII_MODES:
        raise invalid("policy", f"pii_mode must be one of {sorted(PII_MODES)}.")
    return policy


def validate_model(model: Any) -> str:
    if not isinstance(model, str) or not MODEL_NAME.match(model):
        raise invalid("model", "model must be a model name of 1-100 characters.")
    return model


def placeholders(system_prompt: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(system_prompt)))


def validate_content(content: dict[str, Any]) -> dict[str, Any]:
    """Check every content field and that each placeholder in the prompt is a declared variable."""
    prompt = content["system_prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("system_prompt", "system_prompt must be a non-empty string.")
    cleaned = {
        "system_prompt": prompt,
        "model": validate_model(content["model"]),
        "params": validate_params(content["params"]),
        "variables": validate_variables(content["variables"]),
        "policy": validate_policy(content["policy"]),
    }
    declared = {v["name"] for v in cleaned["variables"]}
    undeclared = [name for name in placeholders(prompt) if name not in declared]
    if undeclared:
        raise InvalidInput(
            f"The prompt uses undeclared variable(s): {', '.join(undeclared)}.",
            details={"field": "system_prompt", "undeclared_variables": undeclared},
        )
    return cleaned


def render_prompt(system_prompt: str, variables: list[dict[str, Any]], values: dict[str, Any]) -> str:
    """Substitute `{{ name }}` with the given value or the default; nothing else is interpreted."""
    declared = {v["name"]: v for v in variables}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise InvalidInput(
            f"Unknown variable(s): {', '.join(unknown)}.", details={"field": "variables", "unknown_variables": unknown}
        )
    resolved: dict[str, str] = {}
    missing = []
    for name, spec in declared.items():
        value = values.get(name, spec.get("default"))
        if value is None or (spec.get("required") and value == ""):
            if spec.get("required"):
                missing.append(name)
            value = ""
        resolved[name] = str(value)
    if missing:
        raise InvalidInput(
            f"Missing required variable(s): {', '.join(missing)}.",
            details={"field": "variables", "missing_variables": missing},
        )
    undeclared = [name for name in placeholders(system_prompt) if name not in declared]
    if undeclared:
        raise InvalidInput(
            f"The prompt uses undeclared variable(s): {', '.join(undeclared)}.",
            details={"field": "system_prompt", "undeclared_variables": undeclared},
        )
    # One pass over the original text: a value that itself contains {{ x }} is not expanded again.
    return PLACEHOLDER.sub(lambda match: resolved[match.group(1)], system_prompt)
