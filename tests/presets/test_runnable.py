"""A preset is refused when saved, not at its first message, if it could never run."""

from __future__ import annotations

import pytest

from presets.models import Preset
from tests.presets.conftest import url

pytestmark = pytest.mark.usefixtures("models")

BODY = {"name": "Writer", "slug": "writer", "system_prompt": "You write well.", "model": "smollm2"}


def post(api, user, **fields):
    return api(user).post(url("preset-list"), {**BODY, **fields}, format="json")


def test_a_model_the_service_lacks_is_400_listing_the_allowed_names(api, acme, alice, create) -> None:
    acme.settings = {**acme.settings, "allowed_models": ["gpt-4o", "smollm2"]}
    acme.save()
    refused = post(api, alice, model="gpt-9")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("unknown_model", "model")
    assert error["details"]["allowed"] == ["smollm2", "gpt-4o"]
    assert not Preset.objects.filter(slug="writer").exists()
    preset = create(alice)
    moved = api(alice).patch(url("preset-detail", pk=preset["id"]), {"model": "gpt-9"}, format="json")
    assert (moved.status_code, moved.json()["error"]["code"]) == (400, "unknown_model")
    assert Preset.objects.get(pk=preset["id"]).model == "smollm2"


def test_a_model_the_organisation_forbids_lists_the_allowed_names(api, acme, alice) -> None:
    acme.settings = {**acme.settings, "allowed_models": ["gpt-4o"]}
    acme.save()
    refused = post(api, alice, model="mistral-large")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"field": "model", "model": "mistral-large", "allowed": ["gpt-4o"]}


@pytest.mark.parametrize(
    ("fallback", "status", "code"), [("gpt-9", 400, "unknown_model"), ("gpt-4o", 403, "model_not_allowed")]
)
def test_fallback_models_are_checked_like_the_model(api, acme, alice, fallback, status, code) -> None:
    acme.settings = {**acme.settings, "allowed_models": ["smollm2", "mistral-large"]}
    acme.save()
    refused = post(api, alice, policy={"allowed_fallback_models": ["mistral-large", fallback]})
    assert refused.status_code == status
    error = refused.json()["error"]
    assert (error["code"], error["details"]["field"], error["details"]["model"]) == (
        code,
        "policy.allowed_fallback_models",
        fallback,
    )
    assert post(api, alice, policy={"allowed_fallback_models": ["mistral-large"]}).status_code == 201


def test_a_context_budget_below_the_answer_limit_is_400_with_the_numbers(api, alice) -> None:
    refused = post(api, alice, policy={"max_context_tokens": 300})  # smollm2 may answer 512 tokens
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "context_budget_too_small"
    details = error["details"]
    assert (details["field"], details["context_window"], details["answer_limit"]) == (
        "policy.max_context_tokens",
        300,
        512,
    )
    assert details["required_tokens"] == details["system_tokens"] + 512 + details["reply_priming"] > 300
    assert "300" in error["message"]
    assert post(api, alice, policy={"max_context_tokens": 300}, params={"max_tokens": 100}).status_code == 201


def test_raising_the_answer_limit_past_the_context_budget_is_refused(api, alice, create) -> None:
    preset = create(alice, policy={"max_context_tokens": 300}, params={"max_tokens": 100})
    detail = url("preset-detail", pk=preset["id"])
    refused = api(alice).patch(detail, {"params": {"max_tokens": 400}}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "context_budget_too_small")
    assert api(alice).patch(detail, {"description": "metadata only"}, format="json").status_code == 200
    assert Preset.objects.get(pk=preset["id"]).params == {"max_tokens": 100}


def test_the_organisations_answer_ceiling_counts_toward_the_budget(api, acme, alice) -> None:
    acme.settings = {**acme.settings, "max_tokens": 100}  # every call answers at most 100 tokens
    acme.save()
    assert post(api, alice, policy={"max_context_tokens": 300}).status_code == 201
