"""Preset list, detail, diff, revert, clone, trash and restore pages, through the API's selectors and services."""

from __future__ import annotations

from presets.models import Preset, Scope
from presets.services import lifecycle, review, sharing
from tests.presets.pages import page, signed_in
from tests.presets_world import make_preset


def test_the_list_searches_and_filters_what_the_caller_may_see(acme, alice, bob) -> None:
    make_preset(acme, alice, "haiku-writer", tags=["poetry"])
    make_preset(acme, alice, "sql-helper", tags=["code"])
    make_preset(acme, bob, "bobs-secret")

    found = signed_in(alice).get(page("presets-page"), {"q": "haiku"}).context["page"]
    tagged = signed_in(alice).get(page("presets-page"), {"tag": "code"}).context["page"]
    everything = signed_in(alice).get(page("presets-page")).context["page"]

    assert [p.slug for p in found] == ["haiku-writer"]
    assert [p.slug for p in tagged] == ["sql-helper"]
    assert "bobs-secret" not in {p.slug for p in everything}  # private to bob


def test_the_list_refuses_an_unknown_filter_value_with_400(alice) -> None:
    response = signed_in(alice).get(page("presets-page"), {"scope": "everyone"})

    assert response.status_code == 400
    assert "scope" in response.context["errors"]


def test_a_htmx_search_answers_with_only_the_results(acme, alice) -> None:
    make_preset(acme, alice, "haiku-writer")

    response = signed_in(alice).get(page("presets-page"), {"q": "haiku"}, headers={"HX-Request": "true"})

    assert response.templates[0].name == "presets/_results.html"
    assert "haiku" in response.content.decode().lower()


def test_a_use_grantee_sees_the_preset_without_its_prompt(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "secret-sauce")
    sharing.share_grant(preset=preset, actor=alice, level="use", user=bob)

    response = signed_in(bob).get(page("preset-page", pk=preset.pk))

    body = response.content.decode()
    assert "data-prompt-hidden" in body
    assert "You are secret-sauce." not in body
    assert response.context["versions"] == []  # as the API's versions routes, which need `view`


def test_the_diff_page_lays_two_versions_side_by_side(acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt="You are writer, and terse.")

    response = signed_in(alice).get(page("preset-diff-page", pk=preset.pk), {"a": "2", "b": "1"})

    rows = [row for row in response.context["rows"] if row.kind == "changed"]
    assert (response.context["older"], response.context["newer"]) == (1, 2)
    assert [(row.left, row.right) for row in rows] == [("You are writer.", "You are writer, and terse.")]


def test_the_diff_page_refuses_a_missing_or_odd_version(acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    client = signed_in(alice)

    assert client.get(page("preset-diff-page", pk=preset.pk), {"a": "1", "b": "x²"}).status_code == 400
    assert client.get(page("preset-diff-page", pk=preset.pk), {"a": "1", "b": "9"}).status_code == 404
    assert client.get(page("preset-diff-page", pk=preset.pk), {"a": "1", "b": "99999999999"}).status_code == 400


def test_revert_makes_a_new_version_with_the_old_content(acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt="Changed.")

    response = signed_in(alice).post(page("preset-revert-page", pk=preset.pk), {"version": "1"})

    preset.refresh_from_db()
    assert response.status_code == 302
    assert (preset.version, preset.system_prompt) == (3, "You are writer.")


def test_revert_to_a_version_that_does_not_exist_is_404_and_a_bad_one_400(acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    client = signed_in(alice)

    assert client.post(page("preset-revert-page", pk=preset.pk), {"version": "7"}).status_code == 404
    assert client.post(page("preset-revert-page", pk=preset.pk), {"version": "x"}).status_code == 400


def test_clone_copies_the_readable_version_privately_and_opens_the_copy(acme, alice, bob, approver) -> None:
    preset = make_preset(acme, alice, "writer", scope=Scope.ORG)
    review.preset_submit(preset=preset, actor=alice)
    review.preset_approve(preset=preset, actor=approver, number=1)

    response = signed_in(bob).post(page("preset-clone-page", pk=preset.pk), {"name": "Mine"})

    copy = Preset.objects.get(owner=bob)
    assert response["Location"] == page("preset-page", pk=copy.pk)
    assert (copy.name, copy.scope, copy.system_prompt) == ("Mine", Scope.PRIVATE, "You are writer.")


def test_clone_of_an_unapproved_preset_the_caller_only_views_is_refused(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer", scope=Scope.ORG)
    sharing.share_grant(preset=preset, actor=alice, level="view", user=bob)

    response = signed_in(bob).post(page("preset-clone-page", pk=preset.pk))

    assert response.status_code == 409
    assert "preset_not_approved" in response.content.decode()


def test_trash_and_restore(acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    client = signed_in(alice)

    client.post(page("preset-delete-page", pk=preset.pk))
    in_trash = [p.pk for p in client.get(page("presets-trash-page")).context["presets"]]
    assert in_trash == [preset.pk]
    assert client.get(page("preset-page", pk=preset.pk)).status_code == 404

    client.post(page("preset-restore-page", pk=preset.pk))
    preset.refresh_from_db()
    assert preset.deleted_at is None


def test_an_editor_who_does_not_manage_the_preset_cannot_trash_it(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer")
    sharing.share_grant(preset=preset, actor=alice, level="edit", user=bob)

    response = signed_in(bob).post(page("preset-delete-page", pk=preset.pk))

    preset.refresh_from_db()
    assert response.status_code == 403
    assert preset.deleted_at is None


def test_the_owner_is_offered_every_action_and_a_use_grantee_none(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "writer")
    sharing.share_grant(preset=preset, actor=alice, level="use", user=bob)
    actions = ("Edit", "Share", "Clone", "Move to trash")

    owner = signed_in(alice).get(page("preset-page", pk=preset.pk)).content.decode()
    user = signed_in(bob).get(page("preset-page", pk=preset.pk)).content.decode()

    assert all(f">{action}</" in owner for action in actions)
    assert not any(f">{action}</" in user for action in actions)
