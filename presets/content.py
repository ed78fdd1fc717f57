"""Rules for a preset's versioned content, and the safe `{{ name }}` template substitution."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from chatpresets.errors import InvalidInput, TooLarge, too_large

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
MAX_VARIABLE_DESCRIPTION = 500
MAX_FALLBACK_MODELS = 10
MAX_NAMED_IN_ERROR = 20  # an error lists this many unknown names at most


def invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": field})


def _check_variable_text(text: str, *, field: str, what: str) -> None:
    limit = settings.PRESET_VARIABLE_MAX_CHARS
    if len(text) > limit:
        raise too_large(field=field, limit="PRESET_VARIABLE_MAX_CHARS", limit_value=limit, size=len(text), what=what)


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
        or not all(isinstance(s, str) and 0 < len(s) <= 64 and "\x00" not in s for s in stop)
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
        default, description = item.get("default"), item.get("description", "")
        if any(isinstance(text, str) and "\x00" in text for text in (default, description)):
            # PostgreSQL's JSON cannot hold NUL: refused here rather than failing in the database.
            raise invalid("variables", f"Variable {item['name']} contains a null character.")
        if default is not None and not isinstance(default, str):
            raise invalid("variables", f"The default of {item['name']} must be a string.")
        if default is not None:
            _check_variable_text(default, field="variables", what=f"The default of {item['name']}")
        if not isinstance(description, str) or len(description) > MAX_VARIABLE_DESCRIPTION:
            raise invalid(
                "variables", f"The description of {item['name']} must be text of at most {MAX_VARIABLE_DESCRIPTION}."
            )
        cleaned.append(
            {
                "name": item["name"],
                "description": description,
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
    if (
        not isinstance(fallbacks, list)
        or len(fallbacks) > MAX_FALLBACK_MODELS
        or not all(isinstance(m, str) and MODEL_NAME.match(m) for m in fallbacks)
    ):
        raise invalid("policy", f"allowed_fallback_models must be a list of at most {MAX_FALLBACK_MODELS} model names.")
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
    """The distinct names used, in order of first use (built without a list of every occurrence)."""
    return list(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(system_prompt)))


def _occurrences(system_prompt: str) -> Iterator[re.Match[str]]:
    return PLACEHOLDER.finditer(system_prompt)


def rendered_length(system_prompt: str, resolved: dict[str, str]) -> int:
    """The length `render_prompt` would produce, from lengths alone: nothing is built to learn it."""
    return len(system_prompt) + sum(
        len(resolved.get(match.group(1), "")) - (match.end() - match.start()) for match in _occurrences(system_prompt)
    )


def _check_prompt_size(prompt: str) -> None:
    limit = settings.PRESET_PROMPT_MAX_CHARS
    if len(prompt) > limit:
        raise too_large(
            field="system_prompt",
            limit="PRESET_PROMPT_MAX_CHARS",
            limit_value=limit,
            size=len(prompt),
            what="The system prompt",
        )
    most = settings.PRESET_PLACEHOLDERS_MAX
    for count, _ in enumerate(_occurrences(prompt), start=1):
        if count > most:
            raise TooLarge(
                f"The system prompt uses more than {most} placeholders (PRESET_PLACEHOLDERS_MAX).",
                details={"field": "system_prompt", "limit": "PRESET_PLACEHOLDERS_MAX", "limit_value": most},
            )


def _check_rendered_size(system_prompt: str, resolved: dict[str, str], *, field: str) -> None:
    limit, size = settings.PRESET_RENDERED_PROMPT_MAX_CHARS, rendered_length(system_prompt, resolved)
    if size > limit:
        raise too_large(
            field=field,
            limit="PRESET_RENDERED_PROMPT_MAX_CHARS",
            limit_value=limit,
            size=size,
            what="The system prompt with its variables filled in",
        )


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
    _check_prompt_size(prompt)
    declared = {v["name"] for v in cleaned["variables"]}
    undeclared = [name for name in placeholders(prompt) if name not in declared]
    if undeclared:
        raise InvalidInput(
            f"The prompt uses undeclared variable(s): {', '.join(undeclared)}.",
            details={"field": "system_prompt", "undeclared_variables": undeclared},
        )
    defaults = {v["name"]: v["default"] or "" for v in cleaned["variables"]}
    _check_rendered_size(prompt, defaults, field="variables")  # it must at least render with its defaults
    return cleaned


def render_prompt(system_prompt: str, variables: list[dict[str, Any]], values: dict[str, Any]) -> str:
    """Substitute `{{ name }}` with the given value or the default; nothing else is interpreted.

    Each value is bounded, and the result's size is computed from lengths and refused before
    anything is built: a short prompt that repeats a placeholder must not multiply a value.
    """
    if not isinstance(values, dict) or not all(isinstance(value, str) for value in values.values()):
        raise invalid("variables", "variables must be an object whose values are strings.")
    declared = {v["name"]: v for v in variables}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        unknown = unknown[:MAX_NAMED_IN_ERROR]
        raise InvalidInput(
            f"Unknown variable(s): {', '.join(unknown)}.", details={"field": "variables", "unknown_variables": unknown}
        )
    for name, value in values.items():
        _check_variable_text(value, field=f"variables.{name}", what=f"The value of {name}")
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
    _check_rendered_size(system_prompt, resolved, field="variables")
    # One pass over the original text: a value that itself contains {{ x }} is not expanded again.
    return PLACEHOLDER.sub(lambda match: resolved[match.group(1)], system_prompt)
