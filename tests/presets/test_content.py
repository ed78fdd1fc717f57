"""Content rules: parameter ranges, variables, policy, placeholders and safe rendering."""

from __future__ import annotations

import pytest

from chatpresets.errors import InvalidInput
from presets.content import render_prompt, validate_content, validate_params, validate_policy, validate_variables


def content(**overrides):
    return {"system_prompt": "Hi", "model": "smollm2", "params": {}, "variables": [], "policy": {}, **overrides}


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 2.1},
        {"temperature": -0.1},
        {"top_p": 1.5},
        {"max_tokens": 0},
        {"max_tokens": 1.5},
        {"presence_penalty": 3},
        {"frequency_penalty": -2.5},
        {"temperature": True},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"stop": "x"},
        {"seed_of_chaos": 1},
    ],
)
def test_out_of_range_or_unknown_params_are_refused(params) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_params(params)
    assert error.value.details == {"field": "params"}


def test_valid_params_pass() -> None:
    params = {"temperature": 0.7, "top_p": 1, "max_tokens": 512, "stop": ["###"], "presence_penalty": -1.5}
    assert validate_params(params) == params


@pytest.mark.parametrize(
    "variables",
    [
        [{"name": "1bad"}],
        [{"name": "a"}, {"name": "a"}],
        [{"name": "a", "default": 3}],
        [{"name": "a", "colour": "red"}],
        "nope",
    ],
)
def test_bad_variable_declarations_are_refused(variables) -> None:
    with pytest.raises(InvalidInput):
        validate_variables(variables)


@pytest.mark.parametrize(
    "policy",
    [
        {"pii_mode": "shout"},
        {"max_context_tokens": 10},
        {"daily_token_budget": 0},
        {"allowed_fallback_models": ["ok", "bad model"]},
        {"unknown": 1},
    ],
)
def test_bad_policy_is_refused(policy) -> None:
    with pytest.raises(InvalidInput):
        validate_policy(policy)


def test_undeclared_placeholder_is_named() -> None:
    with pytest.raises(InvalidInput) as error:
        validate_content(content(system_prompt="Hello {{ user }} from {{team}}", variables=[{"name": "team"}]))
    assert error.value.details["undeclared_variables"] == ["user"]


def test_render_fills_values_and_defaults() -> None:
    variables = [{"name": "tone", "default": "formal"}, {"name": "topic", "required": True}]
    assert render_prompt("Be {{tone}} about {{ topic }}.", variables, {"topic": "tax"}) == "Be formal about tax."


def test_render_names_missing_required_variables() -> None:
    with pytest.raises(InvalidInput) as error:
        render_prompt("{{a}} {{b}}", [{"name": "a", "required": True}, {"name": "b", "required": True}], {})
    assert error.value.details["missing_variables"] == ["a", "b"]


def test_render_refuses_unknown_values() -> None:
    with pytest.raises(InvalidInput) as error:
        render_prompt("x", [], {"ghost": "boo"})
    assert error.value.details["unknown_variables"] == ["ghost"]


def test_render_is_plain_substitution_not_a_template_engine() -> None:
    variables = [{"name": "a"}, {"name": "b", "default": "B"}]
    rendered = render_prompt("{{a}} {% if x %}{{ b }}", variables, {"a": "{{ b }} {{ settings.SECRET_KEY }}"})
    assert rendered == "{{ b }} {{ settings.SECRET_KEY }} {% if x %}B"
