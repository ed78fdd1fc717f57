"""Content rules: parameter ranges, variables, policy, placeholders and safe rendering."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from chatpresets.errors import InvalidInput, TooLarge
from presets.content import (
    render_prompt,
    rendered_length,
    validate_content,
    validate_params,
    validate_policy,
    validate_variables,
)


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
        {"stop": ["a\x00"]},  # PostgreSQL's JSON cannot hold NUL
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
        [{"name": "a", "default": "x\x00"}],  # PostgreSQL's JSON cannot hold NUL
        [{"name": "a", "description": "x\x00"}],
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


# Input sizes: nothing a request sends may make the server build something much larger.

ATTACK_PROMPT = "{{x}}" * 39_000  # the issue's prompt: stored before the limits existed


def _refusal_cost(call) -> tuple[InvalidInput, float, int]:
    """The refusal `call` raises, how long it took, and the peak memory allocated meanwhile."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TooLarge) as error:
            call()
        return error.value, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_issues_attack_is_refused_for_the_values_length_without_building_anything() -> None:
    value = "z" * 400_000
    error, seconds, peak = _refusal_cost(lambda: render_prompt(ATTACK_PROMPT, [{"name": "x"}], {"x": value}))
    assert error.code == "too_large"
    assert error.details == {
        "field": "variables.x",
        "limit": "PRESET_VARIABLE_MAX_CHARS",
        "limit_value": 10_000,
        "size": 400_000,
    }
    assert seconds < 3  # tracemalloc slows it; building the prompt took minutes and 13 GB
    assert peak < 2_000_000


def test_values_within_their_limit_that_a_prompt_multiplies_are_refused_from_lengths_alone() -> None:
    value = "z" * 10_000  # allowed on its own; 39,000 copies would be 390 million characters
    error, seconds, peak = _refusal_cost(lambda: render_prompt(ATTACK_PROMPT, [{"name": "x"}], {"x": value}))
    assert error.details["limit"] == "PRESET_RENDERED_PROMPT_MAX_CHARS"
    assert error.details["field"] == "variables"
    assert error.details["size"] == 39_000 * 10_000
    assert seconds < 3  # tracemalloc slows it; building the prompt took minutes and 13 GB
    assert peak < 2_000_000


def test_a_rendered_prompt_at_the_limit_is_built_and_one_past_it_is_refused(settings) -> None:
    settings.PRESET_RENDERED_PROMPT_MAX_CHARS = 30
    variables = [{"name": "who"}]
    prompt = "Hi {{ who }} and {{who}}"  # 8 characters of text around two placeholders
    rendered = render_prompt(prompt, variables, {"who": "w" * 11})
    assert len(rendered) == 30
    with pytest.raises(TooLarge) as error:
        render_prompt(prompt, variables, {"who": "w" * 12})
    assert error.value.details["size"] == 32


@pytest.mark.parametrize(
    ("prompt", "values"),
    [
        ("plain", {}),
        ("{{a}}{{ b }}{{a}}", {"a": "", "b": "bee"}),
        ("x {{  a  }} y {{b}} {{ a}}", {"a": "long value " * 5, "b": "{{ a }}"}),
    ],
)
def test_rendered_length_is_the_length_of_the_rendered_prompt(prompt, values) -> None:
    variables = [{"name": "a"}, {"name": "b"}]
    assert rendered_length(prompt, {**{"a": "", "b": ""}, **values}) == len(render_prompt(prompt, variables, values))


def test_a_value_at_the_limit_is_accepted_and_one_past_it_refused(settings) -> None:
    settings.PRESET_VARIABLE_MAX_CHARS = 100
    assert render_prompt("{{ v }}", [{"name": "v"}], {"v": "a" * 100}) == "a" * 100
    with pytest.raises(TooLarge) as error:
        render_prompt("{{ v }}", [{"name": "v"}], {"v": "a" * 101})
    assert error.value.details["field"] == "variables.v"


def test_a_default_of_100000_characters_is_refused() -> None:
    with pytest.raises(TooLarge) as error:
        validate_variables([{"name": "x", "default": "d" * 100_000}])
    assert error.value.details == {
        "field": "variables",
        "limit": "PRESET_VARIABLE_MAX_CHARS",
        "limit_value": 10_000,
        "size": 100_000,
    }


def test_a_default_at_the_limit_is_accepted() -> None:
    assert validate_variables([{"name": "x", "default": "d" * 10_000}])[0]["default"] == "d" * 10_000


def test_a_long_or_non_text_variable_description_is_refused() -> None:
    for description in ("d" * 501, {"nested": "object"}):
        with pytest.raises(InvalidInput) as error:
            validate_variables([{"name": "x", "description": description}])
        assert error.value.details == {"field": "variables"}


def test_the_issues_prompt_cannot_be_saved_any_more() -> None:
    error, seconds, _ = _refusal_cost(
        lambda: validate_content(content(system_prompt=ATTACK_PROMPT, variables=[{"name": "x"}]))
    )
    assert error.details["field"] == "system_prompt"
    assert error.details["limit"] == "PRESET_PROMPT_MAX_CHARS"
    assert seconds < 3  # tracemalloc slows it; building the prompt took minutes and 13 GB


def test_placeholders_up_to_the_limit_are_accepted_and_one_more_refused(settings) -> None:
    settings.PRESET_PLACEHOLDERS_MAX = 3
    assert validate_content(content(system_prompt="{{a}}{{a}}{{ a }}", variables=[{"name": "a"}]))
    with pytest.raises(TooLarge) as error:
        validate_content(content(system_prompt="{{a}}{{a}}{{ a }}{{a}}", variables=[{"name": "a"}]))
    assert error.value.details == {"field": "system_prompt", "limit": "PRESET_PLACEHOLDERS_MAX", "limit_value": 3}


def test_a_prompt_whose_defaults_render_past_the_limit_is_refused(settings) -> None:
    settings.PRESET_RENDERED_PROMPT_MAX_CHARS = 1_000
    variables = [{"name": "a", "default": "a" * 400}]
    assert validate_content(content(system_prompt="{{a}}{{a}}", variables=variables))
    with pytest.raises(TooLarge) as error:
        validate_content(content(system_prompt="{{a}}{{a}}{{a}}", variables=variables))
    assert error.value.details["limit"] == "PRESET_RENDERED_PROMPT_MAX_CHARS"


@pytest.mark.parametrize("values", [["a"], "a", {"a": {"nested": "x" * 10}}, {"a": 3}])
def test_variable_values_must_be_an_object_of_strings(values) -> None:
    with pytest.raises(InvalidInput) as error:
        render_prompt("{{a}}", [{"name": "a"}], values)
    assert error.value.details == {"field": "variables"}


def test_more_than_ten_fallback_models_are_refused() -> None:
    with pytest.raises(InvalidInput):
        validate_policy({"allowed_fallback_models": [f"m{i}" for i in range(11)]})
