"""The editor's form fields turned into the body `POST /presets/` takes, and a preset back into fields.

Parameters and policy keys the form does not show (set through the API) are kept as they were.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from presets.content import PII_MODES

SHOWN_PARAMS = ("temperature", "top_p", "max_tokens")
SHOWN_POLICY_NUMBERS = ("max_context_tokens", "daily_token_budget")
BLANK_VARIABLE_ROWS = 2
MAX_VARIABLE_ROWS = 60  # above content.MAX_VARIABLES, so the service's own limit is what refuses


def _number(raw: str) -> Any:
    """An int or a float when the text is one; otherwise the text, for the service to refuse by name."""
    raw = raw.strip()
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def _overlay(base: dict[str, Any], post: QueryDict, names: tuple[str, ...], prefix: str) -> dict[str, Any]:
    merged = dict(base)
    for name in names:
        raw = post.get(f"{prefix}{name}", "").strip()
        if raw:
            merged[name] = _number(raw)
        else:
            merged.pop(name, None)
    return merged


def _variables(post: QueryDict) -> list[dict[str, Any]]:
    rows = []
    for index in range(MAX_VARIABLE_ROWS):
        name = post.get(f"var-{index}-name", "").strip()
        if not name:
            continue
        rows.append(
            {
                "name": name,
                "description": post.get(f"var-{index}-description", ""),
                "default": post.get(f"var-{index}-default") or None,
                "required": post.get(f"var-{index}-required") == "on",
            }
        )
    return rows


def body_from_form(post: QueryDict, *, params: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The API body for these fields; `params` and `policy` are the preset's current ones (empty when new)."""
    policy = _overlay(policy, post, SHOWN_POLICY_NUMBERS, "policy-")
    pii_mode = post.get("policy-pii_mode", "")
    if pii_mode:
        policy["pii_mode"] = pii_mode
    else:
        policy.pop("pii_mode", None)
    fallbacks = [name for name in post.getlist("policy-allowed_fallback_models") if name]
    if fallbacks:
        policy["allowed_fallback_models"] = fallbacks
    else:
        policy.pop("allowed_fallback_models", None)
    body: dict[str, Any] = {
        "name": post.get("name", ""),
        "slug": post.get("slug", ""),
        "description": post.get("description", ""),
        "tags": [tag.strip() for tag in post.get("tags", "").split(",") if tag.strip()],
        "scope": post.get("scope", "private"),
        "system_prompt": post.get("system_prompt", ""),
        "model": post.get("model", ""),
        "params": _overlay(params, post, SHOWN_PARAMS, "param-"),
        "variables": _variables(post),
        "policy": policy,
        "change_reason": post.get("change_reason", ""),
    }
    if post.get("team"):
        body["team"] = post["team"]
    return body


def fields_from_body(body: dict[str, Any]) -> dict[str, Any]:
    """What the form shows: the body's values, tags as one line and blank rows for new variables."""
    variables = list(body.get("variables") or [])
    return {
        **body,
        "tags_text": ", ".join(body.get("tags") or []),
        "team_id": str(body.get("team") or ""),
        "params": body.get("params") or {},
        "policy": body.get("policy") or {},
        "variable_rows": [*variables, *({} for _ in range(BLANK_VARIABLE_ROWS))],
        "pii_modes": sorted(PII_MODES),
    }
