"""Cost controls: allowed models, answer and context ceilings, cost budgets and the downgrade policy."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chatpresets.llm import catalogue
from chatpresets.llm.cost_controls import controls_for
from conversations.models import Message, UsageRecord
from presets.services import lifecycle, review
from tenancy.metering.quota import get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tests.conversations.test_guardrails import NO_QUOTAS
from tests.conversations.test_http import send, start
from tests.factories import MembershipFactory
from tests.presets_world import make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")


def configure(org, *, limits: dict | None = None, **values) -> None:
    org.settings = {**org.settings, **values, "limits": {**NO_QUOTAS, **(limits or {})}}
    org.save()


def test_a_model_outside_allowed_models_is_403_on_every_path(api, acme, alice, make_key, fake_llm) -> None:
    configure(acme, allowed_models=["fake-backup"])
    refused = api(alice).post("/api/v1/orgs/acme/conversations/", {"model_override": "fake"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    chat = start(api, alice)  # the default model, "fake", is not allowed either
    assert send(api, alice, chat["id"]).json()["error"]["code"] == "model_not_allowed"
    _, secret = make_key(alice, acme, ["chat"])
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}
    assert api(key=secret).post("/v1/chat/completions", body, format="json").status_code == 403
    listed = api(key=secret).get("/v1/models").json()["data"]
    assert [m["id"] for m in listed if not m["id"].startswith("preset:")] == ["fake-backup"]
    assert fake_llm.requests == []


def test_the_organisation_caps_max_tokens_and_the_context_window(api, acme, alice, fake_llm) -> None:
    configure(acme, max_tokens=7, max_context_tokens=1000)
    chat = start(api, alice, params_override={"max_tokens": 200})
    assert send(api, alice, chat["id"]).status_code == 201
    assert fake_llm.requests[-1]["max_tokens"] == 7
    preview = api(alice).get(f"/api/v1/orgs/acme/conversations/{chat['id']}/context/").json()
    assert preview["budget"]["context_window"] == 1000


def test_a_cost_budget_refuses_with_budget_exceeded_and_spends_nothing(api, acme, alice, fake_llm) -> None:
    # "fake" costs 1.00 in and 2.00 out per million tokens: a call reserves about 0.0005.
    configure(acme, limits={"org_cost_day": "0.0001"})
    chat = start(api, alice)
    response = send(api, alice, chat["id"])
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["code"], error["details"]["limit"], error["details"]["budget"]) == (
        "budget_exceeded",
        "org_cost_day",
        "0.000100",
    )
    assert "Retry-After" in response
    assert (Message.objects.count(), fake_llm.requests) == (0, [])


def test_a_cost_budget_settles_to_the_real_cost(api, acme, alice) -> None:
    configure(acme, limits={"user_cost_month": "5"})
    chat = start(api, alice)
    answer = send(api, alice, chat["id"]).json()["message"]
    membership = alice.memberships.get(org=acme)
    (row,) = get_quota_store().usage(limits=quota_limits(subjects(membership), kind="cost"))
    assert row.reserved == 0
    assert Decimal(row.used) / 1_000_000 == pytest.approx(Decimal(answer["cost"]), abs=Decimal("0.000001"))


def test_over_budget_downgrade_answers_with_the_cheaper_model(api, acme, alice, fake_llm) -> None:
    # "fake-backup" has no prices in the test catalogue, so it always fits a cost budget.
    configure(acme, limits={"org_cost_day": "0.0001"}, over_budget="downgrade", downgrade_model="fake-backup")
    chat = start(api, alice)
    response = send(api, alice, chat["id"])
    assert response.status_code == 201
    assert response.json()["message"]["model"] == "fake-backup"
    assert fake_llm.requests[-1]["model"] == "fake-backup"


def test_summaries_and_titles_use_the_organisations_cheap_model(
    api, acme, alice, fake_llm, django_capture_on_commit_callbacks
) -> None:
    configure(acme, summary_model="fake-backup")
    chat = start(api, alice)
    with django_capture_on_commit_callbacks(execute=True):
        send(api, alice, chat["id"])  # the first exchange asks for a title once it is committed
    assert [r["model"] for r in fake_llm.requests] == ["fake", "fake-backup"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, (None, None, None, "refuse")),
        ({"allowed_models": ["a"], "max_tokens": 5, "max_context_tokens": 9, "over_budget": "downgrade"},
         (frozenset({"a"}), 5, 9, "downgrade")),
        ({"allowed_models": "a", "max_tokens": -1, "max_context_tokens": "9", "over_budget": "shrug"},
         (None, None, None, "refuse")),
    ],
)  # fmt: skip
def test_controls_read_only_well_formed_values(values, expected) -> None:
    controls = controls_for(values)
    assert (controls.allowed_models, controls.max_tokens, controls.max_context_tokens, controls.over_budget) == expected


@pytest.mark.parametrize("narrowed_by", ["organisation", "preset"])
def test_the_fallback_chain_skips_models_the_org_or_preset_does_not_allow(
    api, acme, alice, bob, fake_llm, narrowed_by
) -> None:
    chat = start(api, alice)
    if narrowed_by == "organisation":
        configure(acme, allowed_models=["fake"])
    else:
        approver = MembershipFactory(org=acme, role="approver").user
        preset = make_preset(acme, bob, "no-fallbacks", scope="org")
        preset = lifecycle.preset_update(preset=preset, actor=bob, model="fake", policy={"allowed_fallback_models": []})
        review.preset_submit(preset=preset, actor=bob)
        review.preset_approve(preset=preset, actor=approver, number=2)
        chat = start(api, alice, preset=str(preset.pk))
    fake_llm.inject("500", "500", "500")  # "fake" fails every retry; "fake-backup" would answer
    response = send(api, alice, chat["id"])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    assert [r["model"] for r in fake_llm.requests] == ["fake", "fake", "fake"]


def test_without_narrowing_the_fallback_answers(api, acme, alice, fake_llm) -> None:
    fake_llm.inject("500", "500", "500")
    response = send(api, alice, start(api, alice)["id"])
    assert response.json()["message"]["model"] == "fake-backup"


def test_cached_prompt_tokens_are_recorded_and_priced_when_the_provider_reports_them(
    api, acme, alice, fake_llm, settings
) -> None:
    fake = {**settings.MODEL_CATALOGUE[0], "stream_usage": True, "price_cached_in_per_million": "0.50"}
    settings.MODEL_CATALOGUE = [fake, *settings.MODEL_CATALOGUE[1:]]
    catalogue.catalogue.cache_clear()
    fake_llm.config.cached_tokens = 8
    answer = send(api, alice, start(api, alice)["id"]).json()["message"]
    assert fake_llm.requests[-1]["stream_options"] == {"include_usage": True}
    record = UsageRecord.objects.get(message_id=answer["id"])
    assert record.cached_tokens == 8
    full, cached, out = Decimal("1.00"), Decimal("0.50"), Decimal("2.00")
    expected = ((record.prompt_tokens - 8) * full + 8 * cached + record.completion_tokens * out) / 1_000_000
    assert record.cost == expected
    assert Decimal(answer["cost"]) == expected.quantize(Decimal(answer["cost"]))


def test_models_without_stream_usage_are_not_asked_for_it(api, acme, alice, fake_llm) -> None:
    send(api, alice, start(api, alice)["id"])
    assert "stream_options" not in fake_llm.requests[-1]
