"""The preset editor page: it saves through the API's serializer and services, and shows their refusals inline."""

from __future__ import annotations

from typing import Any

import pytest

from chatpresets.llm.catalogue import catalogue, default_model
from chatpresets.llm.tokens import count_text
from presets.models import Preset, PresetVersion
from tests.presets.pages import page, signed_in
from tests.presets_world import make_preset


def form(**fields: Any) -> dict[str, Any]:
    return {"name": "Writer", "slug": "writer", "system_prompt": "You write well.", "model": default_model(), **fields}


def test_saving_the_editor_creates_the_preset_with_its_variables_and_params(alice) -> None:
    body = form(
        system_prompt="Write for {{ audience }}.",
        **{"var-0-name": "audience", "var-0-default": "kids", "var-0-required": "on", "param-temperature": "0.3"},
    )
    response = signed_in(alice).post(page("preset-new-page"), body)

    preset = Preset.objects.get(slug="writer")
    assert response.status_code == 302
    assert response["Location"] == page("preset-page", pk=preset.pk)
    assert preset.variables == [{"name": "audience", "description": "", "default": "kids", "required": True}]
    assert preset.params == {"temperature": 0.3}
    assert preset.owner == alice


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"model": "no-such-model"}, "unknown_model"),
        ({"system_prompt": "x" * 100_001}, "too_large"),
        ({"policy-max_context_tokens": "300", "param-max_tokens": "290"}, "context_budget_too_small"),
        ({"system_prompt": "Hi {{ who }}"}, "invalid"),
        ({"slug": "not a slug"}, "invalid"),
    ],
)
def test_a_refused_save_shows_the_api_code_and_message_on_the_form(alice, fields, code) -> None:
    response = signed_in(alice).post(page("preset-new-page"), form(**fields))

    assert response.status_code == 400
    assert f'data-error-code="{code}"' in response.content.decode()
    assert not Preset.objects.filter(slug="writer").exists()
    assert response.context["form"]["name"] == "Writer"  # what was typed stays


def test_the_unknown_model_error_names_the_models_the_organisation_allows(alice) -> None:
    response = signed_in(alice).post(page("preset-new-page"), form(model="no-such-model"))

    assert default_model() in response.context["error"].message
    assert "model" in response.context["errors"]


def test_editing_saves_a_new_version_and_keeps_params_the_form_does_not_show(alice, acme) -> None:
    preset = make_preset(acme, alice, "writer", params={"presence_penalty": 0.5})
    body = form(system_prompt="You write better.", change_reason="sharper")

    response = signed_in(alice).post(page("preset-edit-page", pk=preset.pk), body)

    preset.refresh_from_db()
    assert response.status_code == 302
    assert preset.version == 2
    assert preset.params == {"presence_penalty": 0.5}
    assert PresetVersion.objects.get(preset=preset, number=2).change_reason == "sharper"


def test_save_and_submit_sends_an_org_preset_to_review(bob) -> None:
    response = signed_in(bob).post(page("preset-new-page"), form(scope="org", submit=""))

    preset = Preset.objects.get(slug="writer")
    assert response.status_code == 302
    assert preset.status == "pending_review"


def test_a_member_who_may_edit_but_not_manage_cannot_change_the_scope(alice, bob, acme) -> None:
    from presets.services import sharing

    preset = make_preset(acme, alice, "writer")
    sharing.share_grant(preset=preset, actor=alice, level="edit", user=bob)

    response = signed_in(bob).post(page("preset-edit-page", pk=preset.pk), form(scope="org"))

    preset.refresh_from_db()
    assert response.status_code == 403
    assert preset.scope == "private"


def test_the_token_count_uses_the_models_encoding(alice) -> None:
    prompt = "hello " * 50
    response = signed_in(alice).post(
        page("preset-token-count-page"), {"system_prompt": prompt, "model": default_model()}
    )

    assert response.status_code == 200
    assert response.context["tokens"] == count_text(prompt, catalogue()[default_model()].encoding) > 40
    assert not response.context["too_long"]


def test_the_editor_offers_only_the_models_the_organisation_allows(alice, acme) -> None:
    acme.settings = {**acme.settings, "allowed_models": [default_model()]}
    acme.save()

    response = signed_in(alice).get(page("preset-new-page"))

    assert response.context["models"] == [default_model()]


def test_a_nul_in_a_variable_is_refused_on_the_form(alice) -> None:
    body = form(system_prompt="Hi {{ v }}", **{"var-0-name": "v", "var-0-description": "a\x00b"})

    response = signed_in(alice).post(page("preset-new-page"), body)

    assert response.status_code == 400
    assert response.context["errors"] == {"variables": ["Variable v contains a null character."]}
