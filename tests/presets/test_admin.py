"""The presets admin: staff review through the services, the gallery, the trash, links and libraries."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from presets import labels
from presets.models import Library, LibraryItem, Preset, PresetLabel, PresetLink, PresetVersion, Scope, Status
from presets.services import lifecycle, review
from tenancy.models import Organization, Role, User
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory, UserFactory
from tests.presets_world import build_preset_world, make_preset
from tests.server import ROOT

CHANGELIST = "admin:presets_preset_changelist"


@pytest.fixture
def staff_client(client: Client, approver: User) -> Client:
    """Quinn: platform staff and an approver of Acme, so the review rules let them decide Acme's presets."""
    approver.is_staff = approver.is_superuser = True
    approver.save()
    client.force_login(approver)
    return client


def pending_preset(org: Organization, author: User, slug: str, scope: str = Scope.ORG) -> Preset:
    preset = make_preset(org, author, slug, scope=scope)
    review.preset_submit(preset=preset, actor=author)
    return preset


def run_action(client: Client, action: str, presets: list[Any], comment: str = "", model: str = "preset") -> Any:
    body = {"action": action, "_selected_action": [str(p.pk) for p in presets], "comment": comment}
    return client.post(reverse(f"admin:presets_{model}_changelist"), body, follow=True)


def reported(response: Any, level: int) -> list[str]:
    return [message.message for message in response.context["messages"] if message.level == level]


def post_library_with_item(client: Client, library: Library, preset: Preset) -> Any:
    form = {
        "org": str(library.org_id),
        "name": library.name,
        "description": "",
        "kind": library.kind,
        "owner": str(library.owner_id),
        "team": "",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-preset": str(preset.pk),
        "items-0-position": "0",
    }
    return client.post(reverse("admin:presets_library_change", args=[library.pk]), form)


@pytest.mark.parametrize("model", ["preset", "presetversion", "presetlink", "library"])
def test_changelists_render(staff_client, acme, alice, bob, model) -> None:
    build_preset_world(acme, alice, bob)
    response = staff_client.get(reverse(f"admin:presets_{model}_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 0


def test_preset_changelist_offers_the_review_comment_with_its_actions(staff_client, acme, bob) -> None:
    pending_preset(acme, bob, "writer")
    page = staff_client.get(reverse(CHANGELIST)).content.decode()
    assert 'name="comment"' in page
    assert "Approve pending version" in page
    assert "Approve for public gallery" in page


def test_change_pages_render(staff_client, acme, alice, bob) -> None:
    world = build_preset_world(acme, alice, bob)
    LibraryItem.objects.create(org=acme, library=world.library, preset=world.own)
    version = PresetVersion.objects.get(preset=world.pending, number=1)
    for model, pk in [("preset", world.own.pk), ("presetversion", version.pk), ("presetlink", world.link.pk)]:
        assert staff_client.get(reverse(f"admin:presets_{model}_change", args=[pk])).status_code == 200
    assert staff_client.get(reverse("admin:presets_library_change", args=[world.library.pk])).status_code == 200
    assert staff_client.get(reverse("admin:presets_preset_history", args=[world.own.pk])).status_code == 200


def test_pending_view_lists_only_live_pending_presets(staff_client, acme, alice, bob) -> None:
    world = build_preset_world(acme, alice, bob)
    trashed_pending = pending_preset(acme, bob, "trashed-pending")
    lifecycle.preset_delete(preset=trashed_pending, actor=bob)
    response = staff_client.get(reverse("admin:presets_preset_pending"))
    assert response.status_code == 302
    listed = staff_client.get(response["Location"]).context["cl"].result_list
    assert [preset.pk for preset in listed] == [world.pending.pk]


def test_status_filter_lists_only_that_status(staff_client, acme, alice, bob) -> None:
    world = build_preset_world(acme, alice, bob)
    listed = staff_client.get(reverse(CHANGELIST), {"status__exact": "draft"}).context["cl"].result_list
    assert {preset.pk for preset in listed} == {world.draft.pk}


def test_trash_filter_splits_live_and_trashed_presets(staff_client, acme, alice, bob) -> None:
    world = build_preset_world(acme, alice, bob)
    trashed = staff_client.get(reverse(CHANGELIST), {"trash": "yes"}).context["cl"].result_list
    alive = staff_client.get(reverse(CHANGELIST), {"trash": "no"}).context["cl"].result_list
    assert [preset.pk for preset in trashed] == [world.trashed.pk]
    assert world.trashed.pk not in {preset.pk for preset in alive}
    assert world.pending.pk in {preset.pk for preset in alive}


def test_bulk_approve_with_comment_approves_another_authors_pending_version(staff_client, acme, bob, approver) -> None:
    preset = pending_preset(acme, bob, "writer")
    response = run_action(staff_client, "approve_pending", [preset], comment="Reads well.")
    assert response.status_code == 200
    assert reported(response, messages.SUCCESS) == ["Approved: 1 preset(s)."]
    preset.refresh_from_db()
    assert (preset.approved_version, preset.status) == (1, Status.APPROVED)
    version = PresetVersion.objects.get(preset=preset, number=1)
    assert (version.status, version.review_comment, version.reviewer) == (Status.APPROVED, "Reads well.", approver)
    event = AuditEvent.objects.get(action="preset.approved", target_id=str(preset.pk))
    assert event.payload == {"version": 1, "comment": "Reads well."}


def test_approving_ones_own_version_warns_and_changes_nothing(staff_client, acme, bob, approver) -> None:
    mine = pending_preset(acme, approver, "mine")
    theirs = pending_preset(acme, bob, "theirs")
    response = run_action(staff_client, "approve_pending", [mine, theirs], comment="ok")
    assert reported(response, messages.WARNING) == ["mine: A reviewer may not approve their own version."]
    mine.refresh_from_db()
    assert (mine.approved_version, mine.status) == (None, Status.PENDING_REVIEW)
    assert PresetVersion.objects.get(preset=mine).status == Status.PENDING_REVIEW
    assert Preset.objects.get(pk=theirs.pk).approved_version == 1  # one refusal does not stop the others
    assert not AuditEvent.objects.filter(action="preset.approved", target_id=str(mine.pk)).exists()


def staff_user(username: str, *permissions: str, superuser: bool = False) -> User:
    user = User.objects.create_user(username, is_staff=True, is_superuser=superuser)
    codenames = [permission.split(".")[1] for permission in permissions]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="presets", codename__in=codenames))
    return user


def offered_actions(client: Client) -> set[str]:
    choices = client.get(reverse(CHANGELIST)).context["action_form"].fields["action"].choices
    return {name for name, _ in choices if name} - {"delete_selected"}


REVIEW_ACTIONS = {"approve_pending", "reject_pending"}
STAFF_ACTIONS = {"approve_public", "restore_from_trash"}  # the model's change permission is enough


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("superuser", REVIEW_ACTIONS | STAFF_ACTIONS),
        ("moderator", REVIEW_ACTIONS),
        ("acme approver", REVIEW_ACTIONS | STAFF_ACTIONS),
        ("plain staff", STAFF_ACTIONS),
        ("plain staff, acme member", STAFF_ACTIONS),
    ],
)
def test_review_actions_are_offered_only_to_staff_who_may_use_them(client, acme, kind, expected) -> None:
    editor = ("presets.view_preset", "presets.change_preset")
    user = {
        "superuser": lambda: staff_user("root", superuser=True),
        "moderator": lambda: staff_user("mod", "presets.view_preset", "presets.moderate_preset"),
        "acme approver": lambda: staff_user("reviewer", *editor),
        "plain staff": lambda: staff_user("plain", *editor),
        "plain staff, acme member": lambda: staff_user("member", *editor),
    }[kind]()
    if kind.startswith("acme approver") or kind.endswith("acme member"):
        MembershipFactory(org=acme, user=user, role=Role.APPROVER if "approver" in kind else Role.MEMBER)
    client.force_login(user)
    assert offered_actions(client) == expected


@pytest.mark.parametrize("kind", ["superuser", "moderator"])
def test_a_moderator_approves_another_organisations_version_as_an_audited_override(client, acme, bob, kind) -> None:
    moderator = staff_user("mod", "presets.view_preset", "presets.moderate_preset", superuser=kind == "superuser")
    client.force_login(moderator)
    preset = pending_preset(acme, bob, "writer")
    response = run_action(client, "approve_pending", [preset], comment="Checked against the policy.")
    assert reported(response, messages.SUCCESS) == ["Approved: 1 preset(s)."]
    preset.refresh_from_db()
    assert (preset.approved_version, preset.status) == (1, Status.APPROVED)
    assert PresetVersion.objects.get(preset=preset).reviewer == moderator
    event = AuditEvent.objects.get(action="preset.approved", target_id=str(preset.pk))
    assert event.actor_user == moderator
    assert event.payload == {"version": 1, "comment": "Checked against the policy.", "moderator_override": True}


def test_a_moderator_rejects_with_a_reason_as_an_audited_override(client, acme, bob) -> None:
    client.force_login(staff_user("mod", "presets.view_preset", "presets.moderate_preset"))
    preset = pending_preset(acme, bob, "writer")
    run_action(client, "reject_pending", [preset], comment="Breaks the platform's content policy.")
    assert PresetVersion.objects.get(preset=preset).status == Status.REJECTED
    event = AuditEvent.objects.get(action="preset.rejected", target_id=str(preset.pk))
    assert event.payload["moderator_override"] is True
    assert event.payload["comment"] == "Breaks the platform's content policy."


def test_a_moderator_still_may_not_approve_their_own_version(client, acme) -> None:
    moderator = staff_user("mod", "presets.view_preset", "presets.moderate_preset")
    MembershipFactory(org=acme, user=moderator, role=Role.MEMBER)
    client.force_login(moderator)
    mine = pending_preset(acme, moderator, "mine")
    response = run_action(client, "approve_pending", [mine])
    assert reported(response, messages.WARNING) == ["mine: A reviewer may not approve their own version."]
    assert Preset.objects.get(pk=mine.pk).status == Status.PENDING_REVIEW


def test_a_reviewer_without_moderation_decides_by_the_rules_and_is_not_an_override(
    client, acme, globex, bob, carol
) -> None:
    reviewer = staff_user("reviewer", "presets.view_preset", "presets.change_preset")
    MembershipFactory(org=acme, user=reviewer, role=Role.APPROVER)
    client.force_login(reviewer)
    ours, theirs = pending_preset(acme, bob, "ours"), pending_preset(globex, carol, "theirs")
    response = run_action(client, "approve_pending", [ours, theirs])
    assert reported(response, messages.WARNING) == ["theirs: You may not review this preset."]
    assert Preset.objects.get(pk=theirs.pk).status == Status.PENDING_REVIEW
    assert AuditEvent.objects.get(action="preset.approved").payload == {"version": 1, "comment": ""}


def test_staff_without_the_permission_posting_a_review_action_anyway_is_refused_cleanly(client, acme, bob) -> None:
    client.force_login(staff_user("plain", "presets.view_preset", "presets.change_preset"))
    preset = pending_preset(acme, bob, "writer")
    body = {"action": "approve_pending", "_selected_action": [str(preset.pk)], "comment": ""}
    response = client.post(reverse(CHANGELIST), body)
    assert response.status_code == 302
    assert reported(client.get(response["Location"]), messages.WARNING) == ["No action selected."]
    assert Preset.objects.get(pk=preset.pk).status == Status.PENDING_REVIEW
    assert not AuditEvent.objects.filter(action="preset.approved").exists()


def test_reject_without_a_comment_changes_nothing_and_says_why(staff_client, acme, bob) -> None:
    preset = pending_preset(acme, bob, "writer")
    response = run_action(staff_client, "reject_pending", [preset], comment="   ")
    assert reported(response, messages.ERROR) == ["A rejection needs a comment for the author."]
    assert Preset.objects.get(pk=preset.pk).status == Status.PENDING_REVIEW
    assert PresetVersion.objects.get(preset=preset).status == Status.PENDING_REVIEW
    assert not AuditEvent.objects.filter(action="preset.rejected").exists()


def test_reject_with_a_comment_returns_the_version_to_its_author(staff_client, acme, bob) -> None:
    preset = pending_preset(acme, bob, "writer")
    run_action(staff_client, "reject_pending", [preset], comment="Too vague.")
    version = PresetVersion.objects.get(preset=preset)
    assert (version.status, version.review_comment) == (Status.REJECTED, "Too vague.")
    assert Preset.objects.get(pk=preset.pk).status == Status.REJECTED


def test_approving_a_version_that_is_not_pending_warns(staff_client, acme, bob) -> None:
    draft = make_preset(acme, bob, "draft", scope=Scope.ORG)
    response = run_action(staff_client, "approve_pending", [draft])
    assert reported(response, messages.WARNING) == ["draft: Version 1 is not pending review."]


def test_gallery_approval_sets_the_public_approved_version(staff_client, acme, bob, approver) -> None:
    preset = pending_preset(acme, bob, "public-writer", scope=Scope.PUBLIC)
    review.preset_approve(preset=preset, actor=approver, number=1)
    response = run_action(staff_client, "approve_public", [preset], comment="Fit for the gallery.")
    assert reported(response, messages.SUCCESS) == ["Approved for the gallery: 1 preset(s)."]
    assert Preset.objects.get(pk=preset.pk).public_approved_version == 1
    version = PresetVersion.objects.get(preset=preset)
    assert version.staff_reviewer == approver
    assert version.staff_approved_at is not None
    event = AuditEvent.objects.get(action="preset.public_approved")
    assert event.payload == {"version": 1, "comment": "Fit for the gallery."}


def test_gallery_approval_refuses_presets_without_an_org_approval(staff_client, acme, bob) -> None:
    preset = pending_preset(acme, bob, "public-writer", scope=Scope.PUBLIC)
    response = run_action(staff_client, "approve_public", [preset])
    assert reported(response, messages.WARNING) == [
        "public-writer: No version has been approved by the organisation yet."
    ]
    assert Preset.objects.get(pk=preset.pk).public_approved_version is None


def test_restore_action_brings_a_trashed_preset_back(staff_client, acme, alice) -> None:
    preset = lifecycle.preset_delete(preset=make_preset(acme, alice, "binned"), actor=alice)
    live = make_preset(acme, alice, "live")
    response = run_action(staff_client, "restore_from_trash", [preset, live])
    assert reported(response, messages.WARNING) == ["live: This preset is not in the trash."]
    preset.refresh_from_db()
    assert (preset.deleted_at, preset.deleted_by) == (None, None)
    assert AuditEvent.objects.filter(action="preset.restored", target_id=str(preset.pk)).exists()


def test_change_page_shows_the_diff_from_the_approved_version(staff_client, acme, bob, approver) -> None:
    preset = pending_preset(acme, bob, "writer")
    review.preset_approve(preset=preset, actor=approver, number=1)
    preset = lifecycle.preset_update(
        preset=preset, actor=bob, system_prompt="You are <writer>, version two.", params={"temperature": 0.2}
    )
    assert (preset.version, preset.status) == (2, Status.PENDING_REVIEW)
    page = staff_client.get(reverse("admin:presets_preset_change", args=[preset.pk])).content.decode()
    assert "--- v1 (approved)" in page
    assert "+++ v2 (current)" in page
    assert "-You are writer." in page
    assert "+You are &lt;writer&gt;, version two." in page  # the prompt is escaped, not rendered
    assert "params: {} → {&quot;temperature&quot;: 0.2}" in page


def test_change_page_says_when_there_is_no_approved_version(staff_client, acme, bob) -> None:
    preset = make_preset(acme, bob, "draft", scope=Scope.ORG)
    page = staff_client.get(reverse("admin:presets_preset_change", args=[preset.pk])).content.decode()
    assert "No approved version." in page


def test_admin_edit_changes_metadata_through_the_service_and_leaves_review_state(staff_client, acme, bob) -> None:
    preset = pending_preset(acme, bob, "writer")
    form = {"name": "Writer Pro", "description": "Better", "tags": '["prose"]', "status": "approved", "version": "9"}
    response = staff_client.post(reverse("admin:presets_preset_change", args=[preset.pk]), form)
    assert response.status_code == 302, response.content[:2000]
    preset.refresh_from_db()
    assert (preset.name, preset.description, preset.tags) == ("Writer Pro", "Better", ["prose"])
    assert (preset.status, preset.version, preset.approved_version) == (Status.PENDING_REVIEW, 1, None)
    assert AuditEvent.objects.get(action="preset.updated").payload["changes"]
    assert set(AuditEvent.objects.get(action="admin.preset.changed").payload["fields"]) == {
        "name",
        "description",
        "tags",
    }


def test_history_revert_cannot_roll_back_review_state_or_content(staff_client, acme, bob, approver) -> None:
    preset = pending_preset(acme, bob, "writer")
    review.preset_approve(preset=preset, actor=approver, number=1)
    lifecycle.preset_update(preset=preset, actor=bob, system_prompt="You are writer, version two.")
    first = preset.history.order_by("history_id").first()
    url = reverse("admin:presets_preset_simple_history", args=[preset.pk, first.history_id])
    assert "Revert" not in staff_client.get(url).content.decode().split("<form", 1)[1]
    staff_client.post(url, {"name": "Old name", "description": "", "tags": "[]"})
    preset.refresh_from_db()
    assert (preset.version, preset.status, preset.system_prompt) == (
        2,
        Status.PENDING_REVIEW,
        "You are writer, version two.",
    )
    assert preset.name == "Old name"  # only the editable metadata, through preset_update


def test_presets_and_versions_cannot_be_added_or_hard_deleted_here(staff_client, acme, bob) -> None:
    preset = pending_preset(acme, bob, "writer")
    version = PresetVersion.objects.get(preset=preset)
    assert staff_client.get(reverse("admin:presets_preset_add")).status_code == 403
    assert staff_client.get(reverse("admin:presets_preset_delete", args=[preset.pk])).status_code == 403
    assert staff_client.get(reverse("admin:presets_presetversion_add")).status_code == 403
    assert staff_client.post(reverse("admin:presets_presetversion_change", args=[version.pk]), {}).status_code == 403


def test_link_revoke_action(staff_client, acme, alice, bob) -> None:
    world = build_preset_world(acme, alice, bob)
    run_action(staff_client, "revoke", [world.link], model="presetlink")
    assert PresetLink.objects.get(pk=world.link.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="preset_link.revoked").exists()


def test_library_inline_refuses_a_preset_of_another_organisation(staff_client, acme, alice, globex, carol) -> None:
    library = Library.objects.create(org=acme, name="Favourites", owner=alice)
    foreign = make_preset(globex, carol, "foreign")
    response = post_library_with_item(staff_client, library, foreign)
    assert response.status_code == 200
    assert "foreign belongs to another organisation." in response.content.decode()
    assert not LibraryItem.objects.filter(library=library).exists()


def test_library_inline_adds_a_preset_of_the_same_organisation(staff_client, acme, alice) -> None:
    library = Library.objects.create(org=acme, name="Favourites", owner=alice)
    own = make_preset(acme, alice, "own")
    response = post_library_with_item(staff_client, library, own)
    assert response.status_code == 302, response.content[:2000]
    item = LibraryItem.objects.get(library=library)
    assert (item.preset_id, item.org_id) == (own.pk, acme.pk)


def test_bulk_deleting_libraries_is_audited(staff_client, acme, alice) -> None:
    library = Library.objects.create(org=acme, name="Favourites", owner=alice)
    body = {"action": "delete_selected", "_selected_action": [str(library.pk)], "post": "yes"}
    staff_client.post(reverse("admin:presets_library_changelist"), body)
    assert not Library.objects.filter(pk=library.pk).exists()
    assert AuditEvent.objects.filter(action="admin.library.deleted", target_id=str(library.pk)).exists()


def test_the_moderator_permission_documented_in_rbac_md_exists(db) -> None:
    documented = (ROOT / "docs" / "rbac.md").read_text()
    assert f"`{review.MODERATE_PERMISSION}`" in documented
    app_label, codename = review.MODERATE_PERMISSION.split(".")
    assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()


@pytest.fixture
def staging(acme, alice, approver) -> PresetLabel:
    """`staging` of an org preset whose versions 1 and 2 are approved, pointing at version 1."""
    preset = approved_preset(acme, alice, "labelled", approver, versions=2)
    labels.label_move(preset=preset, name="staging", version=1, actor=alice)
    return PresetLabel.objects.get(preset=preset, name="staging")


def move_in_admin(client: Client, label: PresetLabel, version: int) -> Any:
    url = reverse("admin:presets_presetlabel_change", args=[label.pk])
    return client.post(url, {"version": str(version), "_save": "Save"}, follow=True)


def label_events(label: PresetLabel, action: str) -> list[dict]:
    events = AuditEvent.objects.filter(action=action, target_id=str(label.preset_id)).order_by("created_at")
    return [event.payload for event in events]


def test_staff_list_labels(staff_client, staging) -> None:
    listed = staff_client.get(reverse("admin:presets_presetlabel_changelist"))
    assert listed.status_code == 200
    assert "staging" in listed.content.decode()
    assert staff_client.get(reverse("admin:presets_presetlabel_add")).status_code == 403


def test_staff_move_a_label_through_the_label_rules_and_it_is_audited(staff_client, staging, approver) -> None:
    moved = move_in_admin(staff_client, staging, 2)
    assert reported(moved, messages.SUCCESS)
    assert labels.label_version(preset=staging.preset, name="staging") == 2
    assert label_events(staging, "preset.label_moved")[-1] == {"label": "staging", "before": 1, "after": 2}
    assert AuditEvent.objects.filter(action="preset.label_moved", actor_user=approver).count() == 1


def test_a_move_to_an_unapproved_version_is_refused_in_the_admin(staff_client, staging) -> None:
    refused = move_in_admin(staff_client, staging, 9)
    assert any("not moved" in text for text in reported(refused, messages.ERROR))
    assert labels.label_version(preset=staging.preset, name="staging") == 1
    assert len(label_events(staging, "preset.label_moved")) == 1  # the fixture's move only


def test_staff_outside_the_organisation_may_not_move_production(client, staging, alice) -> None:
    labels.label_move(preset=staging.preset, name="production", version=2, actor=alice)
    production = PresetLabel.objects.get(preset=staging.preset, name="production")
    outsider = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client.force_login(outsider)
    refused = move_in_admin(client, production, 1)
    assert reported(refused, messages.ERROR)
    assert labels.label_version(preset=staging.preset, name="production") == 2


def test_staff_delete_labels_through_the_service(staff_client, staging) -> None:
    deleted = run_action(staff_client, "delete_labels", [staging], model="presetlabel")
    assert reported(deleted, messages.SUCCESS)
    assert not PresetLabel.objects.filter(pk=staging.pk).exists()
    assert label_events(staging, "preset.label_deleted") == [{"label": "staging", "before": 1, "after": None}]


def test_a_refused_delete_is_reported_and_keeps_the_label(client, staging) -> None:
    outsider = UserFactory(username="ops", is_staff=True, is_superuser=True)  # no membership of Acme
    client.force_login(outsider)
    refused = run_action(client, "delete_labels", [staging], model="presetlabel")
    assert reported(refused, messages.WARNING)
    assert PresetLabel.objects.filter(pk=staging.pk).exists()
    assert label_events(staging, "preset.label_deleted") == []
