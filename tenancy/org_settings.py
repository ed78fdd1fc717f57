"""The schema of `Organization.settings`: every key the product reads, its type and its bounds.

Two callers, two rules. Staff (the admin's organisation form) may set any value the schema
accepts, including plan limits above the plan: they are the operator. Organisation admins (the
API) may only tighten the operator's limits: each `limits` value at most the plan's (or the value
staff granted), never off where the plan or staff set one. Keys that only narrow what the service
does (allowed models, answer and context ceilings) are theirs within sane bounds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings

from chatpresets.errors import InvalidInput
from tenancy.metering.rules import SUBJECT_LIMITS, parse_limit

PII_MODES = ("off", "redact_for_model", "redact_stored", "block")
MODEL_NAME = re.compile(r"^[A-Za-z0-9._:/@-]{1,100}$")
# A preset label (presets.labels): lower-case, URL- and `preset:<slug>#<label>`-safe.
LABEL_PATTERN = "[a-z0-9][a-z0-9_-]{0,39}"
LABEL_NAME = re.compile(f"^{LABEL_PATTERN}$")
# Presets' review finding threshold; an organisation may lower it, not raise it past the operator's.
MAX_PROMPT_CHARS = 20_000
MAX_TOKENS_CEILING = 10_000_000  # answer and context ceilings: far above any catalogue entry
MAX_LIST_ITEMS = 500
MAX_STREAMS_CEILING = 100_000
MAX_TERM_CHARS = 200


class UnknownSetting(InvalidInput):
    code = "unknown_setting"
    message = "The organisation settings contain a key the service does not know."


class InvalidSetting(InvalidInput):
    code = "invalid_setting"
    message = "An organisation setting has a value of the wrong type or out of range."


class LimitAbovePlan(InvalidInput):
    code = "limit_above_plan"
    message = "Organisations may only tighten their plan's limits; raising one is for the service's staff."


def _invalid(key: str, expected: str) -> InvalidSetting:
    return InvalidSetting(f"settings.{key} must be {expected}.", details={"key": key, "expected": expected})


def _whole(low: int, high: int) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _invalid(key, f"a whole number from {low} to {high}")

    return check


def _optional(check: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    return lambda key, value: None if value is None else check(key, value)


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value not in options:
            raise _invalid(key, f"one of {', '.join(options)}")

    return check


def _model_name(key: str, value: Any) -> None:
    if not isinstance(value, str) or not MODEL_NAME.match(value):
        raise _invalid(key, "a model name of 1-100 characters")


def _strings(pattern: re.Pattern[str] | None, what: str = "model names") -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        expected = f"a list of at most {MAX_LIST_ITEMS} strings of 1-{MAX_TERM_CHARS} characters"
        if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
            raise _invalid(key, expected)
        for item in value:
            if not isinstance(item, str) or not 1 <= len(item) <= MAX_TERM_CHARS:
                raise _invalid(key, expected)
            if pattern is not None and not pattern.match(item):
                raise _invalid(key, f"a list of {what}")

    return check


def _boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _invalid(key, "true or false")


def _percent(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
        raise _invalid(key, "a number above 0 and at most 100")


SCHEMA: dict[str, Callable[[str, Any], None]] = {
    "allowed_models": _optional(_strings(MODEL_NAME)),
    "max_tokens": _optional(_whole(1, MAX_TOKENS_CEILING)),
    "max_context_tokens": _optional(_whole(1, MAX_TOKENS_CEILING)),
    "over_budget": _choice(("refuse", "downgrade")),
    "downgrade_model": _optional(_model_name),
    "summary_model": _optional(_model_name),
    "pii_mode": _choice(PII_MODES),
    "soft_limit_percent": _percent,
    "max_prompt_chars": _whole(1, MAX_PROMPT_CHARS),
    "blocklist": _strings(None),
    "block_on_findings": _boolean,
    # Preset labels whose moves need review rights, besides `production` which always does.
    "protected_labels": _strings(LABEL_NAME, "label names (a-z, 0-9, - and _, at most 40)"),
    # The most tokens one replay before approval may spend (below the operator's REPLAY_MAX_TOKEN_BUDGET).
    "replay_max_token_budget": _optional(_whole(1, MAX_TOKENS_CEILING)),
    # The organisation's streams at once in one web process, below its share of MAX_CONCURRENT_STREAMS.
    "max_concurrent_streams": _optional(_whole(1, MAX_STREAMS_CEILING)),
    "limits": lambda key, value: None,  # checked name by name in limit_value()
}


def limit_names() -> set[str]:
    """Names an organisation's `limits` may hold: the plans' names (team_* live in override rows)."""
    return {f"{subject}_{limit}" for subject in ("org", "user", "key") for limit in SUBJECT_LIMITS}


def limit_value(name: str, value: Any) -> Decimal | int | None:
    """The value as a number for comparison (None is off), or InvalidSetting."""
    try:
        return parse_limit(name, value)
    except ValueError as error:
        raise _invalid(f"limits.{name}", f"null or {error}") from None


def validate(value: Any) -> dict[str, Any]:
    """The settings as given, or the first problem: unknown keys, wrong types, values out of range."""
    if not isinstance(value, dict):
        raise _invalid("", "a JSON object")
    for key, item in value.items():
        if key not in SCHEMA:
            raise UnknownSetting(details={"key": key, "known": sorted(SCHEMA)})
        SCHEMA[key](key, item)
    limits = value.get("limits", {})
    if not isinstance(limits, dict):
        raise _invalid("limits", "an object of limit names to values")
    for name, item in limits.items():
        if name not in limit_names():
            raise UnknownSetting(details={"key": f"limits.{name}", "known": sorted(limit_names())})
        limit_value(name, item)
    return value


def validate_tightening(value: Any, *, plan: str, current: dict[str, Any] | None) -> dict[str, Any]:
    """`validate`, and every limit no looser than the plan's value or the one staff already set."""
    validate(value)
    plan_limits = settings.PLAN_LIMITS.get(plan, {})
    current_limits = (current or {}).get("limits") or {}
    for name, item in (value.get("limits") or {}).items():
        ceiling = _looser(plan_limits.get(name), current_limits.get(name), name, name in current_limits)
        if ceiling is None:
            continue  # off in the plan and not set by staff: any sane value only tightens
        wanted = limit_value(name, item)
        if wanted is None or wanted > ceiling:
            raise LimitAbovePlan(
                details={"key": f"limits.{name}", "value": item, "plan": plan, "plan_value": plan_limits.get(name)}
            )
    return value


def _looser(plan_value: Any, current_value: Any, name: str, current_set: bool) -> Decimal | int | None:
    """The most this organisation may have now: the plan's value, or more where staff granted more."""
    if plan_value is None or (current_set and current_value is None):
        return None
    plan_number = limit_value(name, plan_value)
    if not current_set:
        return plan_number
    try:
        granted = limit_value(name, current_value)
    except InvalidSetting:
        return plan_number  # a stored value the schema no longer accepts grants nothing
    return max(plan_number, granted)
