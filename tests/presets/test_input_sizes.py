"""Input sizes through the API: each refusal is a 400 `too_large` naming the field and the limit."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from chatpresets.llm.catalogue import catalogue
from presets.diff import unified_diff
from presets.services import lifecycle
from tests.presets.conftest import url
from tests.presets_world import make_preset

ATTACK_PROMPT = "{{x}}" * 39_000


@pytest.fixture
def legacy_preset(acme, bob, settings):
    """bob's private preset with the issue's prompt, saved before the limits existed."""
    settings.PRESET_PROMPT_MAX_CHARS = settings.PRESET_PLACEHOLDERS_MAX = 10**6
    settings.PRESET_RENDERED_PROMPT_MAX_CHARS = 10**9
    original = settings.MODEL_CATALOGUE
    settings.MODEL_CATALOGUE = [{"name": "smollm2", "base_url": "http://127.0.0.1:9/v1", "context_window": 10**6}]
    catalogue.cache_clear()  # nor a check that the prompt fits the model's window
    preset = make_preset(acme, bob, "legacy", variables=[{"name": "x"}])
    preset = lifecycle.preset_update(preset=preset, actor=bob, system_prompt=ATTACK_PROMPT)
    settings.MODEL_CATALOGUE = original
    catalogue.cache_clear()
    settings.PRESET_PROMPT_MAX_CHARS, settings.PRESET_PLACEHOLDERS_MAX = 100_000, 100
    settings.PRESET_RENDERED_PROMPT_MAX_CHARS = 100_000
    return preset


def test_creating_the_issues_preset_is_refused(api, bob) -> None:
    body = {"name": "Boom", "slug": "boom", "system_prompt": ATTACK_PROMPT, "model": "smollm2"}
    response = api(bob).post(url("preset-list"), {**body, "variables": [{"name": "x"}]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["details"]["field"] == "system_prompt"
    assert error["details"]["limit"] == "PRESET_PROMPT_MAX_CHARS"


def test_a_preset_with_a_100000_character_default_is_refused(api, bob) -> None:
    body = {"name": "Big", "slug": "big", "system_prompt": "{{x}}", "model": "smollm2"}
    response = api(bob).post(
        url("preset-list"), {**body, "variables": [{"name": "x", "default": "d" * 100_000}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["limit"] == "PRESET_VARIABLE_MAX_CHARS"


@pytest.mark.parametrize("value_chars", [400_000, 1_000_000, 10_000])
def test_the_issues_conversation_is_refused_quickly(api, bob, legacy_preset, value_chars) -> None:
    body = {"preset": str(legacy_preset.pk), "variables": {"x": "z" * value_chars}}
    started = time.perf_counter()
    response = api(bob).post(reverse("conversation-list", kwargs={"org_slug": "acme"}), body, format="json")
    assert time.perf_counter() - started < 5
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_large"
    expected = "PRESET_VARIABLE_MAX_CHARS" if value_chars > 10_000 else "PRESET_RENDERED_PROMPT_MAX_CHARS"
    assert error["details"]["limit"] == expected


def test_applying_a_preset_with_an_oversized_value_is_refused(api, bob, acme) -> None:
    preset = make_preset(acme, bob, "greeter", variables=[{"name": "who"}])
    conversation = api(bob).post(reverse("conversation-list", kwargs={"org_slug": "acme"}), {}, format="json").json()
    path = reverse("conversation-preset", kwargs={"org_slug": "acme", "pk": conversation["id"]})
    body = {"preset": str(preset.pk), "variables": {"who": "w" * 10_001}}
    response = api(bob).post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "variables.who"
    body["variables"]["who"] = "w" * 10_000
    assert api(bob).post(path, body, format="json").status_code == 200


@pytest.mark.parametrize("route", ["library-list", "team-list"])
def test_descriptions_are_bounded(api, alice, route) -> None:
    body = {"name": "Big", "slug": "big", "description": "d" * 5_001}
    response = api(alice).post(url(route), body, format="json")
    assert response.status_code == 400
    assert "description" in response.json()["error"]["details"]["fields"]


def test_json_nested_too_deeply_is_a_parse_error_not_a_500(api, bob) -> None:
    response = api(bob).generic(
        "POST", url("preset-list"), "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def _apply(older: str, diff: str) -> str:
    """The newer text, rebuilt from the older one and a unified diff."""
    source, result, position = older.splitlines(), [], 0
    for line in diff.splitlines()[2:]:
        if hunk := re.match(r"@@ -(\d+)(?:,(\d+))? ", line):
            start = int(hunk.group(1)) - (0 if hunk.group(2) == "0" else 1)
            result += source[position:start]
            position = start
        elif line.startswith("+"):
            result.append(line[1:])
        else:
            assert source[position] == line[1:]
            result += [line[1:]] if line.startswith(" ") else []
            position += 1
    return "\n".join(result + source[position:])


def test_diff_of_adversarial_prompts_is_fast_and_still_correct() -> None:
    lines = [f"{i:02d}" for i in range(100)]  # difflib alone took 226 s on these two prompts
    older, newer = "\n".join(lines * 333), "\n".join(list(reversed(lines)) * 333)
    started = time.perf_counter()
    diff = unified_diff(older, newer, older_label="v1", newer_label="v2")
    assert time.perf_counter() - started < 1
    assert _apply(older, diff) == newer


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("a\nb\nc\nd\ne\nf\ng\nh", "a\nb\nc\nD\ne\nf\ng\nh"),
        ("same\n" * 3000 + "old", "same\n" * 3000 + "new"),
        ("\n".join(["x"] * 3000), "\n".join(["y"] * 3000)),  # a middle too long to search
        ("", "added"),
        ("gone", ""),
    ],
)
def test_diff_rebuilds_the_newer_prompt(older, newer) -> None:
    assert _apply(older, unified_diff(older, newer, older_label="v1", newer_label="v2")) == newer


def test_a_nul_in_a_variables_description_is_a_400_not_a_database_error(api, alice) -> None:
    body = {
        "name": "X",
        "slug": "x",
        "system_prompt": "Hi {{ v }}",
        "model": "smollm2",
        "variables": [{"name": "v", "description": "a\x00b"}],
    }

    response = api(alice).post("/api/v1/orgs/acme/presets/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"field": "variables"}
