"""Limits per team and member (LimitOverride rows set in the admin) and strictest-limit precedence."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from presets.services import lifecycle, review
from tenancy import services
from tenancy.models import LimitOverride
from tests.conversations.test_guardrails import limit
from tests.conversations.test_http import send, start
from tests.factories import MembershipFactory, TeamFactory
from tests.presets_world import make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")


def override(org, *, team=None, user=None, **limits) -> LimitOverride:
    return LimitOverride.objects.create(org=org, team=team, user=user, limits=limits)


def test_a_member_override_replaces_that_members_limits_only(api, acme, alice, bob) -> None:
    limit(acme, user_rpm=1)
    override(acme, user=bob, user_rpm=3)
    bob_chat, alice_chat = start(api, bob), start(api, alice)
    assert [send(api, bob, bob_chat["id"], str(n)).status_code for n in range(4)] == [201, 201, 201, 429]
    assert [send(api, alice, alice_chat["id"], str(n)).status_code for n in range(2)] == [201, 429]


def test_a_team_limit_is_shared_by_its_members_and_named(api, acme, alice, bob, team, carol) -> None:
    override(acme, team=team, team_rpm=1)
    assert send(api, alice, start(api, alice)["id"]).status_code == 201
    refused = send(api, bob, start(api, bob)["id"])
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "team_rpm:engineering"
    outsider = MembershipFactory(org=acme).user  # not in the team: not counted against it
    assert send(api, outsider, start(api, outsider)["id"]).status_code == 201


def test_an_override_added_between_turns_applies_to_the_next_turn(api, acme, bob) -> None:
    limit(acme, user_rpm=5)
    chat = start(api, bob)
    assert send(api, bob, chat["id"], "before").status_code == 201  # the organisation had no override then
    override(acme, user=bob, user_rpm=1)
    refused = send(api, bob, chat["id"], "after")
    assert (refused.status_code, refused.json()["error"]["details"]["limit"]) == (429, "user_rpm")


def test_a_member_joining_a_limited_team_is_limited_from_the_next_turn(api, acme, alice) -> None:
    newcomer = MembershipFactory(org=acme).user
    squad = TeamFactory(org=acme, name="Squad", slug="squad")
    services.team_member_add(team=squad, actor=alice, user=alice)
    override(acme, team=squad, team_rpm=1)
    chat = start(api, newcomer)
    assert send(api, newcomer, chat["id"], "outside").status_code == 201  # not counted against the team
    assert send(api, alice, start(api, alice)["id"]).status_code == 201  # the team's one call this minute
    services.team_member_add(team=squad, actor=alice, user=newcomer)
    refused = send(api, newcomer, chat["id"], "in the team")
    assert (refused.status_code, refused.json()["error"]["details"]["limit"]) == (429, "team_rpm:squad")


@pytest.fixture
def budget_preset(acme, bob):
    """An org preset whose approved version carries a daily token budget of 200, below one call."""
    approver = MembershipFactory(org=acme, role="approver").user
    preset = make_preset(acme, bob, "budgeted", scope="org")
    preset = lifecycle.preset_update(preset=preset, actor=bob, model="fake", policy={"daily_token_budget": 200})
    review.preset_submit(preset=preset, actor=bob)
    review.preset_approve(preset=preset, actor=approver, number=2)
    return preset


@pytest.mark.parametrize("strictest", ["org", "team", "user", "key", "preset"])
def test_the_strictest_of_org_team_user_key_and_preset_refuses(
    api, acme, alice, team, make_key, budget_preset, strictest
) -> None:
    budgets = {"org": 10_000, "team": 10_000, "user": 10_000, "key": 10_000}
    if strictest != "preset":
        budgets[strictest] = 150  # below one call's reservation and below the preset's 200
    limit(acme, org_tokens_day=budgets["org"], user_tokens_day=budgets["user"], key_tokens_day=budgets["key"])
    override(acme, team=team, team_tokens_day=budgets["team"])
    _, secret = make_key(alice, acme, ["chat"])
    chat = start(api, alice, preset=str(budget_preset.pk))
    response = api(key=secret).post(
        f"/api/v1/orgs/acme/conversations/{chat['id']}/messages/", {"content": "Hello"}, format="json"
    )
    assert response.status_code == 429
    expected = {"team": "team_tokens_day:engineering", "preset": "preset_tokens_day"}.get(
        strictest, f"{strictest}_tokens_day"
    )
    assert response.json()["error"]["details"]["limit"] == expected


def add_override(admin_client, acme, **fields):
    data = {"org": acme.pk, "team": "", "user": "", "limits": "{}", "note": "", **fields}
    return admin_client.post("/admin/tenancy/limitoverride/add/", data)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"limits": '{"user_rpm": 5}'}, "Choose either a team or a member"),
        ({"user": "bob", "limits": '{"team_rpm": 5}'}, "not a user limit"),
        ({"user": "bob", "limits": '{"user_rpm": -1}'}, "not a non-negative whole number"),
        ({"user": "bob", "limits": '{"user_cost_day": "lots"}'}, "not a non-negative amount"),
        ({"user": "bob", "limits": '{"user_cost_day": "Infinity"}'}, "not a non-negative amount"),
        ({"user": "bob", "limits": '{"user_tokens_day": 1000000000000000}'}, "at most 1000000000000"),
        ({"user": "carol", "limits": '{"user_rpm": 5}'}, "not a member of the organisation"),
        ({"team": "globex-team", "limits": '{"team_rpm": 5}'}, "belongs to another organisation"),
    ],
)
def test_the_admin_refuses_malformed_overrides(admin_client, acme, bob, carol, globex, team, fields, problem) -> None:
    people = {"bob": bob.pk, "carol": carol.pk}
    teams = {"globex-team": TeamFactory(org=globex, slug="research").pk}
    fields = {
        key: people.get(value, teams.get(value, value)) if key in ("user", "team") else value
        for key, value in fields.items()
    }
    response = add_override(admin_client, acme, **fields)
    assert response.status_code == 200  # the form again, with the error
    assert problem in response.content.decode()
    assert not LimitOverride.objects.exists()


def test_the_admin_saves_a_valid_override_and_audits_it(admin_client, acme, bob) -> None:
    response = add_override(admin_client, acme, user=bob.pk, limits='{"user_rpm": 90, "user_cost_month": "12.50"}')
    assert response.status_code == 302
    row = LimitOverride.objects.get()
    assert row.limits == {"user_rpm": 90, "user_cost_month": "12.50"}
    assert AuditEvent.objects.filter(action="admin.limitoverride.created", org=acme).exists()
