"""Creating, editing (versions), deleting, restoring, purging and cloning presets over the API."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from presets.models import Preset, PresetVersion
from presets.services import lifecycle
from presets.tasks import purge_expired_trash
from tests.presets.conftest import url


def test_private_preset_is_created_approved_with_version_one(api, alice, create) -> None:
    body = create(alice, tags=["writing"], params={"temperature": 0.2})
    assert (body["version"], body["status"], body["approved_version"], body["access"]) == (1, "approved", 1, "manage")
    assert body["owner"] == "alice"
    assert body["system_prompt"] == "You write well."
    event = AuditEvent.objects.get(action="preset.created")
    assert event.payload["slug"] == "writer"


def test_content_change_makes_a_new_version_and_metadata_change_does_not(api, alice, create) -> None:
    preset = create(alice)
    detail = url("preset-detail", pk=preset["id"])
    assert api(alice).patch(detail, {"description": "about"}, format="json").json()["version"] == 1
    body = {"system_prompt": "You write tersely.", "change_reason": "shorter"}
    edited = api(alice).patch(detail, body, format="json")
    assert edited.json()["version"] == 2
    history = Preset.history.filter(id=preset["id"]).order_by("history_id")
    assert [h.version for h in history] == [1, 1, 2]
    assert history.last().history_change_reason == "shorter"
    assert history.last().history_user.username == "alice"
    assert list(PresetVersion.objects.filter(preset_id=preset["id"]).values_list("number", flat=True)) == [2, 1]


def test_field_injection_is_ignored(api, alice, bob, globex, create) -> None:
    body = create(
        alice, owner=bob.pk, org=str(globex.pk), status="approved", approved_version=9, version=7, deleted_at="x"
    )
    preset = Preset.objects.get(pk=body["id"])
    assert (preset.owner, preset.org.slug, preset.version, preset.approved_version) == (alice, "acme", 1, 1)
    patch = {"owner": bob.pk, "status": "approved", "approved_version": 5, "org": str(globex.pk)}
    api(alice).patch(url("preset-detail", pk=body["id"]), patch, format="json")
    preset.refresh_from_db()
    assert (preset.owner, preset.org.slug, preset.approved_version) == (alice, "acme", 1)


def test_editor_cannot_change_scope(api, alice, bob, create) -> None:
    from presets.services.sharing import share_grant

    body = create(alice)
    share_grant(preset=Preset.objects.get(pk=body["id"]), actor=alice, level="edit", user=bob)
    detail = url("preset-detail", pk=body["id"])
    assert api(bob).patch(detail, {"scope": "org"}, format="json").status_code == 403
    assert api(bob).patch(detail, {"system_prompt": "Edited by bob"}, format="json").status_code == 200
    assert Preset.objects.get(pk=body["id"]).scope == "private"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slug": "Not A Slug"}, "slug"),
        ({"params": {"temperature": 5}}, "params"),
        ({"system_prompt": "Hi {{ who }}"}, "system_prompt"),
        ({"scope": "team"}, "team"),
        ({"model": "has spaces"}, "model"),
        ({"tags": ["x" * 51]}, "tags"),
    ],
)
def test_invalid_presets_are_400_naming_the_field_and_create_nothing(api, alice, fields, field) -> None:
    body = {"name": "X", "slug": "x", "system_prompt": "Hi", "model": "smollm2", **fields}
    response = api(alice).post(url("preset-list"), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["details"].get("fields", {}) or error["details"].get("field") == field
    assert not Preset.objects.exists()


def test_team_scope_needs_a_team_of_this_org_the_author_belongs_to(api, bob, carol, globex, team, create) -> None:
    from tests.factories import TeamFactory

    other = TeamFactory(org=globex)
    refused = api(bob).post(
        url("preset-list"),
        {"name": "T", "slug": "t", "system_prompt": "Hi", "model": "m", "scope": "team", "team": str(other.pk)},
        format="json",
    )
    assert refused.status_code == 400
    body = create(bob, slug="team-one", scope="team", team=str(team.pk))
    assert (body["team"], body["status"], body["approved_version"]) == ("engineering", "draft", None)


def test_duplicate_slug_is_409_even_while_the_first_is_in_the_trash(api, alice, create) -> None:
    preset = create(alice)
    api(alice).delete(url("preset-detail", pk=preset["id"]))
    again = api(alice).post(
        url("preset-list"), {"name": "W", "slug": "writer", "system_prompt": "x", "model": "smollm2"}, format="json"
    )
    assert again.status_code == 409


def test_delete_moves_to_trash_and_restore_brings_it_back(api, alice, bob, create) -> None:
    preset = create(alice)
    detail = url("preset-detail", pk=preset["id"])
    assert api(alice).delete(detail).status_code == 204
    assert api(alice).get(detail).status_code == 404
    assert [p["id"] for p in api(alice).get(url("preset-list")).json()["results"]] == []
    assert [p["id"] for p in api(alice).get(url("preset-trash")).json()["results"]] == [preset["id"]]
    assert api(bob).get(url("preset-trash")).json()["results"] == []
    assert api(bob).post(url("preset-restore", pk=preset["id"])).status_code == 404
    restored = api(alice).post(url("preset-restore", pk=preset["id"]))
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert api(alice).get(detail).status_code == 200


def test_restore_after_retention_is_refused_and_purge_removes_it(api, alice, create, settings) -> None:
    preset = create(alice)
    api(alice).delete(url("preset-detail", pk=preset["id"]))
    Preset.objects.filter(pk=preset["id"]).update(deleted_at=timezone.now() - timedelta(days=31))
    response = api(alice).post(url("preset-restore", pk=preset["id"]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "retention_expired"
    assert purge_expired_trash.delay().get() == 1
    assert not Preset.objects.filter(pk=preset["id"]).exists()
    assert not Preset.history.filter(id=preset["id"]).exists()
    assert AuditEvent.objects.filter(action="preset.purged", target_id=preset["id"]).exists()


def test_purge_keeps_presets_inside_the_retention_period(alice, acme) -> None:
    from tests.presets_world import make_preset

    preset = lifecycle.preset_delete(preset=make_preset(acme, alice, "recent"), actor=alice)
    assert lifecycle.preset_purge_expired() == 0
    assert Preset.objects.filter(pk=preset.pk).exists()


def test_clone_is_private_owned_by_caller_with_lineage(api, alice, bob, create) -> None:
    from presets.services.sharing import share_grant

    source = create(alice, slug="source")
    share_grant(preset=Preset.objects.get(pk=source["id"]), actor=alice, level="view", user=bob)
    clone = api(bob).post(url("preset-clone", pk=source["id"]), {}, format="json")
    assert clone.status_code == 201
    body = clone.json()
    assert (body["owner"], body["scope"], body["slug"]) == ("bob", "private", "source-copy")
    assert body["forked_from"] == source["id"]
    assert body["forked_from_version"] == 1
    assert api(bob).post(url("preset-clone", pk=source["id"]), {}, format="json").json()["slug"] == "source-copy-2"


def test_use_only_grant_hides_the_prompt_and_refuses_clone(api, alice, bob, create) -> None:
    from presets.services.sharing import share_grant

    source = create(alice, slug="secret")
    share_grant(preset=Preset.objects.get(pk=source["id"]), actor=alice, level="use", user=bob)
    seen = api(bob).get(url("preset-detail", pk=source["id"])).json()
    assert (seen["access"], seen["system_prompt"]) == ("use", None)
    refused = api(bob).post(url("preset-clone", pk=source["id"]), {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "prompt_hidden"
    assert api(bob).get(url("preset-version-list", preset_id=source["id"])).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_produce_consecutive_versions(acme, alice) -> None:
    from tests.presets_world import make_preset

    preset = make_preset(acme, alice, "busy")
    barrier = threading.Barrier(4)

    def edit(n: int) -> None:
        barrier.wait()
        try:
            lifecycle.preset_update(preset=preset, actor=alice, system_prompt=f"Edit number {n}")
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    preset.refresh_from_db()
    assert preset.version == 5
    assert sorted(PresetVersion.objects.filter(preset=preset).values_list("number", flat=True)) == [1, 2, 3, 4, 5]
    prompts = {h.version: h.system_prompt for h in Preset.history.filter(id=preset.pk)}
    assert len({prompts[n] for n in range(2, 6)}) == 4


def test_a_preset_may_name_only_a_model_the_organisation_allows(api, acme, alice, create, models) -> None:
    existing = create(alice, slug="before")  # written before the restriction: it keeps its model
    acme.settings = {**acme.settings, "allowed_models": ["gpt-4o"]}
    acme.save()
    body = {"name": "New", "slug": "new", "system_prompt": "You help.", "model": "smollm2"}
    refused = api(alice).post(url("preset-list"), body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert create(alice, slug="allowed", model="gpt-4o")["model"] == "gpt-4o"
    detail = url("preset-detail", pk=existing["id"])
    assert api(alice).patch(detail, {"description": "still fine"}, format="json").status_code == 200
    moved = api(alice).patch(detail, {"model": "mistral-large"}, format="json")
    assert moved.status_code == 403
    assert moved.json()["error"]["details"]["model"] == "mistral-large"
