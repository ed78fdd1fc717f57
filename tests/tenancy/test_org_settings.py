"""Organisation settings: a schema for every key, and plan limits that only staff may raise."""

from __future__ import annotations

import copy

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.org_settings import limit_names
from tests.conversations.test_http import send, start
from tests.conversations.test_usage import me_quota, quotas

ORG_URL = reverse("org-detail", kwargs={"org_slug": "acme"})


def patch_settings(api, user, value):
    return api(user).patch(ORG_URL, {"settings": value}, format="json")


@pytest.fixture
def tiny_free_plan(settings):
    """The free plan with a daily token quota too small for any turn."""
    plans = copy.deepcopy(settings.PLAN_LIMITS)
    plans["free"]["user_tokens_day"] = 10
    settings.PLAN_LIMITS = plans
    return plans["free"]


def test_an_owner_cannot_switch_off_the_plans_limits(api, acme, alice) -> None:
    before = me_quota(api(alice))["acme"]
    response = patch_settings(api, alice, {"limits": dict.fromkeys(sorted(limit_names()))})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "limit_above_plan"
    assert error["details"]["key"].startswith("limits.")
    assert error["details"]["plan"] == "free"
    assert error["details"]["plan_value"] is not None
    acme.refresh_from_db()
    assert acme.settings == {}
    assert me_quota(api(alice))["acme"] == before
    assert not AuditEvent.objects.filter(action="org.updated").exists()


def test_an_owner_cannot_raise_a_limit_above_the_plan(api, acme, alice, settings) -> None:
    plan_value = settings.PLAN_LIMITS["free"]["user_tokens_day"]
    response = patch_settings(api, alice, {"limits": {"user_tokens_day": plan_value + 1}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "limit_above_plan"
    assert error["details"] == {
        "key": "limits.user_tokens_day",
        "value": plan_value + 1,
        "plan": "free",
        "plan_value": plan_value,
    }


def test_an_absurd_limit_is_refused_even_where_the_plan_sets_none(api, acme, alice) -> None:
    for name in ("user_tokens_day", "key_tokens_day"):  # set by the free plan, and off in it
        response = patch_settings(api, alice, {"limits": {name: 10**15}})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_setting"
        assert response.json()["error"]["details"]["key"] == f"limits.{name}"


@pytest.mark.usefixtures("fake_llm")
def test_turns_refused_by_the_plan_stay_refused_after_an_attempt_to_lift_it(api, acme, alice, tiny_free_plan) -> None:
    chat = start(api, alice)
    assert send(api, alice, chat["id"]).json()["error"]["code"] == "quota_exceeded"
    for lifted in (None, 10**15, 1_000_000):
        assert patch_settings(api, alice, {"limits": {"user_tokens_day": lifted}}).status_code == 400
    refused = send(api, alice, chat["id"])
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "user_tokens_day"
    assert quotas(me_quota(api(alice))["acme"])["user_tokens_day"]["budget"] == 10


@pytest.mark.usefixtures("fake_llm")
def test_an_owner_may_tighten_a_limit_and_it_is_enforced(api, acme, alice) -> None:
    response = patch_settings(api, alice, {"limits": {"user_rpm": 1, "key_tokens_day": 5_000}})
    assert response.status_code == 200, response.json()
    chat = start(api, alice)
    assert send(api, alice, chat["id"], "one").status_code == 201
    refused = send(api, alice, chat["id"], "two")
    assert (refused.status_code, refused.json()["error"]["details"]["limit"]) == (429, "user_rpm")
    event = AuditEvent.objects.get(action="org.updated")
    assert event.payload["settings"]["after"]["limits"]["user_rpm"] == 1


def test_a_value_staff_granted_survives_the_owners_later_edits(api, acme, alice, settings) -> None:
    granted = settings.PLAN_LIMITS["free"]["user_rpm"] * 10
    acme.settings = {"limits": {"user_rpm": granted}}  # as staff set it in the admin
    acme.save()
    kept = patch_settings(api, alice, {"pii_mode": "block", "limits": {"user_rpm": granted}})
    assert kept.status_code == 200, kept.json()
    raised = patch_settings(api, alice, {"limits": {"user_rpm": granted + 1}})
    assert raised.json()["error"]["code"] == "limit_above_plan"
    assert patch_settings(api, alice, {"limits": {"user_rpm": 5}}).status_code == 200
    assert patch_settings(api, alice, {"limits": {"user_rpm": granted}}).status_code == 400  # a grant given up


@pytest.mark.parametrize(
    ("value", "code", "key"),
    [
        ({"plan": "enterprise"}, "unknown_setting", "plan"),
        ({"limits": {"team_rpm": 1}}, "unknown_setting", "limits.team_rpm"),
        ({"limits": {"user_rpm": -1}}, "invalid_setting", "limits.user_rpm"),
        ({"limits": {"org_cost_day": "Infinity"}}, "invalid_setting", "limits.org_cost_day"),
        ({"limits": {"org_cost_day": "NaN"}}, "invalid_setting", "limits.org_cost_day"),
        ({"limits": []}, "invalid_setting", "limits"),
        ({"max_tokens": "many"}, "invalid_setting", "max_tokens"),
        ({"max_context_tokens": 10**9}, "invalid_setting", "max_context_tokens"),
        ({"max_prompt_chars": 10**9}, "invalid_setting", "max_prompt_chars"),
        ({"pii_mode": "loud"}, "invalid_setting", "pii_mode"),
        ({"over_budget": "spend"}, "invalid_setting", "over_budget"),
        ({"soft_limit_percent": 0}, "invalid_setting", "soft_limit_percent"),
        ({"block_on_findings": "yes"}, "invalid_setting", "block_on_findings"),
        ({"blocklist": ["x"] * 501}, "invalid_setting", "blocklist"),
        ({"blocklist": ["x" * 201]}, "invalid_setting", "blocklist"),
        ({"allowed_models": ["not a model name"]}, "invalid_setting", "allowed_models"),
        ({"summary_model": 7}, "invalid_setting", "summary_model"),
    ],
)
def test_settings_outside_the_schema_are_400_naming_the_key(api, acme, alice, value, code, key) -> None:
    response = patch_settings(api, alice, value)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]["key"]) == (code, key)
    acme.refresh_from_db()
    assert acme.settings == {}


def test_every_setting_the_product_reads_is_accepted_within_its_bounds(api, acme, alice) -> None:
    value = {
        "allowed_models": ["gpt-4o-mini"],
        "max_tokens": 512,
        "max_context_tokens": 4096,
        "over_budget": "downgrade",
        "downgrade_model": "gpt-4o-mini",
        "summary_model": "gpt-4o-mini",
        "pii_mode": "redact_for_model",
        "soft_limit_percent": 90,
        "max_prompt_chars": 5_000,
        "blocklist": ["competitor"],
        "block_on_findings": True,
        "limits": {"org_cost_day": "2.50", "user_tokens_day": 1_000},
    }
    response = patch_settings(api, alice, value)
    assert response.status_code == 200, response.json()
    acme.refresh_from_db()
    assert acme.settings == value


def test_an_org_admin_who_is_not_owner_is_held_to_the_same_rule(api, acme, member_with_role) -> None:
    admin = member_with_role("admin")
    response = patch_settings(api, admin, {"limits": {"org_rpm": None}})
    assert response.json()["error"]["code"] == "limit_above_plan"


# --- staff, in the admin ----------------------------------------------------------------------


def admin_form(acme, settings_json: str) -> dict:
    return {
        "name": acme.name,
        "slug": acme.slug,
        "plan": acme.plan,
        "settings": settings_json,
        "membership_set-TOTAL_FORMS": "0",
        "membership_set-INITIAL_FORMS": "0",
        "team_set-TOTAL_FORMS": "0",
        "team_set-INITIAL_FORMS": "0",
    }


@pytest.mark.usefixtures("fake_llm")
def test_staff_raise_a_limit_above_the_plan_in_the_admin_and_it_is_audited(
    admin_client, api, acme, alice, tiny_free_plan
) -> None:
    url = reverse("admin:tenancy_organization_change", args=[acme.pk])
    response = admin_client.post(url, admin_form(acme, '{"limits": {"user_tokens_day": 1000000}}'))
    assert response.status_code == 302, response.content[:2000]
    acme.refresh_from_db()
    assert acme.settings == {"limits": {"user_tokens_day": 1_000_000}}
    event = AuditEvent.objects.get(action="org.limits_changed")
    assert event.payload == {"limits": {"before": None, "after": {"user_tokens_day": 1_000_000}}}
    assert event.actor_label == "admin"
    assert send(api, alice, start(api, alice)["id"]).status_code == 201


@pytest.mark.parametrize(
    ("settings_json", "problem"),
    [
        ('{"limits": {"user_tokens_day": 1000000000000000}}', "must be null or a non-negative whole number"),
        ('{"colour": "blue"}', "contain a key the service does not know"),
    ],
)
def test_the_admin_refuses_settings_outside_the_schema(admin_client, acme, settings_json, problem) -> None:
    url = reverse("admin:tenancy_organization_change", args=[acme.pk])
    response = admin_client.post(url, admin_form(acme, settings_json))
    assert response.status_code == 200  # the form again, with the error
    assert problem in response.content.decode()
    acme.refresh_from_db()
    assert acme.settings == {}
