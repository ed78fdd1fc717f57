"""Versions: immutable content per number, cached; diffs; revert; child ids of other presets."""

from __future__ import annotations

from django.core.cache import cache
from django.test import override_settings

from presets import selectors
from presets.models import Preset
from tests.presets.conftest import url


def edit(api, user, preset_id, prompt, **extra):
    response = api(user).patch(url("preset-detail", pk=preset_id), {"system_prompt": prompt, **extra}, format="json")
    assert response.status_code == 200
    return response.json()


def test_version_n_always_returns_the_same_content(api, alice, create) -> None:
    preset = create(alice, system_prompt="One.")
    edit(api, alice, preset["id"], "Two.", params={"temperature": 0.5})
    edit(api, alice, preset["id"], "Three.")
    api(alice).patch(url("preset-detail", pk=preset["id"]), {"description": "later metadata"}, format="json")
    v1 = api(alice).get(url("preset-version-detail", preset_id=preset["id"], number=1)).json()
    v2 = api(alice).get(url("preset-version-detail", preset_id=preset["id"], number=2)).json()
    assert (v1["system_prompt"], v1["params"], v1["content_version"]) == ("One.", {}, 1)
    assert (v2["system_prompt"], v2["params"]) == ("Two.", {"temperature": 0.5})
    assert v2["review"]["number"] == 2
    listed = api(alice).get(url("preset-version-list", preset_id=preset["id"])).json()["results"]
    assert [v["number"] for v in listed] == [3, 2, 1]


def test_version_content_is_cached_under_a_key_with_the_number(alice, acme) -> None:
    from tests.presets_world import make_preset

    preset = make_preset(acme, alice, "cached")
    selectors._process_cache.clear()
    with override_settings(PRESET_CONTENT_CACHE_SECONDS=600):
        first = selectors.version_content(preset_id=preset.pk, number=1)
    assert cache.get(f"preset-version:{preset.pk}:1") == first
    stored_for = cache._cache.get_client().ttl(cache.make_and_validate_key(f"preset-version:{preset.pk}:1"))
    assert 590 <= stored_for <= 600  # versions stop being read: their copy must not stay in Redis forever
    Preset.history.filter(id=preset.pk).delete()  # the cache, not the table, must answer now
    selectors._process_cache.clear()
    assert selectors.version_content(preset_id=preset.pk, number=1) == first
    assert selectors.version_content(preset_id=preset.pk, number=2) is None


def test_diff_shows_prompt_lines_and_changed_params(api, alice, create) -> None:
    preset = create(alice, system_prompt="Line A\nLine B\n")
    edit(api, alice, preset["id"], "Line A\nLine C\n", params={"temperature": 1.0})
    diff = api(alice).get(url("preset-version-diff", preset_id=preset["id"], number=2) + "?against=1").json()
    assert "-Line B" in diff["prompt_diff"]
    assert "+Line C" in diff["prompt_diff"]
    assert diff["changed"] == {"params": {"before": {}, "after": {"temperature": 1.0}}}


def test_diff_needs_a_valid_against(api, alice, create) -> None:
    preset = create(alice)
    base = url("preset-version-diff", preset_id=preset["id"], number=1)
    assert api(alice).get(base).status_code == 400
    assert api(alice).get(base + "?against=x").status_code == 400
    assert api(alice).get(base + "?against=7").status_code == 404


def test_revert_makes_a_new_version_with_old_content(api, alice, create) -> None:
    preset = create(alice, system_prompt="Original.")
    edit(api, alice, preset["id"], "Changed.")
    reverted = api(alice).post(url("preset-review-revert", pk=preset["id"]), {"version": 1}, format="json").json()
    assert (reverted["version"], reverted["system_prompt"]) == (3, "Original.")
    assert Preset.history.filter(id=preset["id"]).first().history_change_reason == "reverted to version 1"
    missing = api(alice).post(url("preset-review-revert", pk=preset["id"]), {"version": 9}, format="json")
    assert missing.status_code == 404


def test_versions_of_another_preset_are_not_reachable_through_this_one(api, alice, bob, create) -> None:
    mine = create(alice, slug="mine")
    theirs = create(bob, slug="theirs")
    assert api(alice).get(url("preset-version-detail", preset_id=theirs["id"], number=1)).status_code == 404
    assert api(alice).get(url("preset-version-list", preset_id=theirs["id"])).status_code == 404
    assert api(alice).get(url("preset-version-detail", preset_id=mine["id"], number=1)).status_code == 200


def test_readers_see_only_approved_versions(api, bob, alice, create) -> None:
    from tests.factories import MembershipFactory

    approver = MembershipFactory(org=alice.memberships.get().org, role="approver").user
    preset = create(bob, slug="org-v", scope="org", system_prompt="v1")
    api(bob).post(url("preset-review-submit", pk=preset["id"]))
    api(approver).post(url("preset-review-approve", pk=preset["id"]), {"version": 1})
    edit(api, bob, preset["id"], "v2 pending")
    reader = MembershipFactory(org=alice.memberships.get().org, role="member").user
    listed = api(reader).get(url("preset-version-list", preset_id=preset["id"])).json()["results"]
    assert [v["number"] for v in listed] == [1]
    assert api(reader).get(url("preset-version-detail", preset_id=preset["id"], number=2)).status_code == 404


def test_a_team_member_reads_no_team_draft_in_detail_versions_or_clone(api, alice, bob, team, create) -> None:
    """One rule for reading a version: below `edit`, approved versions only, wherever it is read."""
    preset = create(alice, slug="team-draft", scope="team", team=str(team.pk), system_prompt="Secret draft.")
    detail = api(bob).get(url("preset-detail", pk=preset["id"]))
    versions = api(bob).get(url("preset-version-list", preset_id=preset["id"])).json()["results"]
    clone = api(bob).post(url("preset-clone", pk=preset["id"]), {"slug": "mine"}, format="json")
    assert (detail.status_code, detail.json()["access"]) == (200, "view")
    assert (detail.json()["content_version"], detail.json()["system_prompt"]) == (None, None)
    assert versions == []
    assert (clone.status_code, clone.json()["error"]["code"]) == (409, "preset_not_approved")
    lead_detail = api(alice).get(url("preset-detail", pk=preset["id"])).json()
    assert (lead_detail["content_version"], lead_detail["system_prompt"]) == (1, "Secret draft.")
