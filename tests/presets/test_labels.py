"""Labels: implicit `production`, protected moves, approved targets only, audit, and who follows them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets.errors import InvalidInput
from presets import labels
from presets.models import Preset, PresetLabel
from presets.services import lifecycle, review
from tests.presets.conftest import url
from tests.presets_world import make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def tutor(acme, bob, approver) -> Preset:
    """An org preset by bob: v1 a draft never submitted, v2 and v3 approved (so production is v3)."""
    preset = make_preset(acme, bob, "tutor", scope="org")
    for number, prompt in ((2, "Version two."), (3, "Version three.")):
        preset = lifecycle.preset_update(preset=preset, actor=bob, system_prompt=prompt, model="fake")
        if number == 2:  # later edits of an approved preset go to review by themselves
            review.preset_submit(preset=preset, actor=bob)
        review.preset_approve(preset=preset, actor=approver, number=number)
    return Preset.objects.get(pk=preset.pk)


def label_url(preset: Preset, name: str | None = None) -> str:
    if name is None:
        return url("preset-label-list", preset_id=preset.pk)
    return reverse("preset-label-detail", kwargs={"org_slug": "acme", "preset_id": preset.pk, "name": name})


def moved(api, user, preset: Preset, name: str, version: int):
    return api(user).put(label_url(preset, name), {"version": version}, format="json")


def test_production_follows_the_newest_approval_until_moved_and_again_once_deleted(tutor, approver) -> None:
    assert labels.label_version(preset=tutor, name="production") == 3
    labels.label_move(preset=tutor, name="production", version=2, actor=approver)
    assert labels.label_version(preset=tutor, name="production") == 2
    labels.label_delete(preset=tutor, name="production", actor=approver)
    assert labels.label_version(preset=tutor, name="production") == 3
    assert labels.label_version(preset=tutor, name="staging") is None
    events = AuditEvent.objects.filter(action__in=["preset.label_moved", "preset.label_deleted"]).order_by("pk")
    assert [(e.action, e.payload) for e in events] == [
        ("preset.label_moved", {"label": "production", "before": 3, "after": 2}),
        ("preset.label_deleted", {"label": "production", "before": 2, "after": 3}),
    ]


def test_moving_production_needs_review_rights_while_staging_needs_edit(api, tutor, bob, approver) -> None:
    refused = moved(api, bob, tutor, "production", 2)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "label_protected"
    assert moved(api, bob, tutor, "staging", 2).json()["version"] == 2
    answer = moved(api, approver, tutor, "production", 2)
    assert answer.status_code == 200
    assert answer.json() == {**answer.json(), "name": "production", "version": 2, "implicit": False}
    assert answer.json()["moved_by"] == approver.username
    assert AuditEvent.objects.filter(action="preset.label_moved").count() == 2


def test_labels_the_organisation_protects_need_review_rights_too(api, acme, tutor, bob, approver) -> None:
    acme.settings = {**acme.settings, "protected_labels": ["canary"]}
    acme.save()
    assert moved(api, bob, tutor, "canary", 2).json()["error"]["code"] == "label_protected"
    assert api(bob).delete(label_url(tutor, "production")).status_code == 403
    assert moved(api, approver, tutor, "canary", 2).status_code == 200
    assert api(bob).delete(label_url(tutor, "canary")).status_code == 403
    assert PresetLabel.objects.filter(preset=tutor, name="canary").exists()


def test_members_who_may_not_write_presets_are_refused_by_role(api, acme, tutor) -> None:
    from tests.factories import MembershipFactory

    viewer = MembershipFactory(org=acme, role="viewer").user
    assert api(viewer).get(label_url(tutor)).status_code == 200
    refused = moved(api, viewer, tutor, "staging", 2)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")


@pytest.mark.parametrize("version", [1, 4, 99])
def test_a_label_points_only_at_an_approved_version(api, tutor, approver, version) -> None:
    refused = moved(api, approver, tutor, "staging", version)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "label_version_not_approved"
    assert not PresetLabel.objects.exists()
    assert not AuditEvent.objects.filter(action="preset.label_moved").exists()


@pytest.mark.parametrize("name", ["", "Upper", "with space", "-dash-first", "x" * 41, "a#b"])
def test_label_names_are_short_lower_case_slugs(tutor, approver, name) -> None:
    with pytest.raises(InvalidInput):
        labels.label_move(preset=tutor, name=name, version=2, actor=approver)


def test_the_list_shows_the_implicit_production_first(api, tutor, bob) -> None:
    moved(api, bob, tutor, "staging", 2)
    listed = api(bob).get(label_url(tutor)).json()
    assert [(item["name"], item["version"], item["implicit"], item["protected"]) for item in listed] == [
        ("production", 3, True, True),
        ("staging", 2, False, False),
    ]
    assert api(bob).get(label_url(tutor, "staging")).json()["version"] == 2
    missing = api(bob).get(label_url(tutor, "canary"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "label_not_found")
    assert api(bob).delete(label_url(tutor, "canary")).json()["error"]["code"] == "label_not_found"


def test_another_organisation_gets_404_and_changes_nothing(api, tutor, carol, approver) -> None:
    labels.label_move(preset=tutor, name="staging", version=2, actor=approver)
    for response in (
        api(carol).get(label_url(tutor)),
        moved(api, carol, tutor, "staging", 3),
        api(carol).delete(label_url(tutor, "staging")),
    ):
        assert response.status_code == 404
    assert labels.label_version(preset=tutor, name="staging") == 2


def test_the_owner_of_a_private_preset_moves_its_production_label(acme, bob, alice) -> None:
    own = make_preset(acme, bob, "notes")
    own = lifecycle.preset_update(preset=own, actor=bob, system_prompt="Second.")
    assert labels.label_version(preset=own, name="production") == 2  # approved as written
    labels.label_move(preset=own, name="production", version=1, actor=bob)
    assert labels.label_version(preset=own, name="production") == 1
    with pytest.raises(labels.LabelVersionNotApproved):
        labels.label_move(preset=own, name="staging", version=3, actor=bob)
    with pytest.raises(labels.LabelProtected):  # an org owner does not see, let alone label, bob's own presets
        labels.label_move(preset=own, name="production", version=2, actor=alice)


def conversation_url(name: str, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": "acme", **kwargs})


def test_a_conversation_follows_its_label_at_every_turn(api, tutor, alice, approver, fake_llm) -> None:
    labels.label_move(preset=tutor, name="staging", version=2, actor=approver)
    body = {"preset": str(tutor.pk), "preset_label": "staging"}
    chat = api(alice).post(conversation_url("conversation-list"), body, format="json").json()
    assert (chat["preset_label"], chat["preset_version"]) == ("staging", None)
    send = conversation_url("conversation-messages", pk=chat["id"])
    first = api(alice).post(send, {"content": "Hi"}, format="json")
    assert first.json()["message"]["preset_version"] == 2
    assert fake_llm.requests[-1]["messages"][0]["content"] == "Version two."
    labels.label_move(preset=tutor, name="staging", version=3, actor=approver)
    api(alice).post(send, {"content": "Again"}, format="json")
    assert fake_llm.requests[-1]["messages"][0]["content"] == "Version three."
    labels.label_delete(preset=tutor, name="staging", actor=approver)
    gone = api(alice).post(send, {"content": "Once more"}, format="json")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "label_not_found")
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize(
    ("extra", "code"),
    [({"preset_version": 2}, "invalid"), ({"preset_label": "canary"}, "label_not_found")],
)
def test_a_conversation_follows_a_label_that_exists_and_pins_no_version_too(api, tutor, alice, extra, code) -> None:
    body = {"preset": str(tutor.pk), "preset_label": "canary", **extra}
    refused = api(alice).post(conversation_url("conversation-list"), body, format="json")
    assert refused.json()["error"]["code"] == code
    assert not AuditEvent.objects.filter(action="conversation.created").exists()


def test_the_openai_route_reads_a_preset_label(api, acme, tutor, bob, approver, make_key, fake_llm) -> None:
    labels.label_move(preset=tutor, name="staging", version=2, actor=approver)
    _, secret = make_key(bob, acme, ["chat"])

    def complete(model: str):
        body = {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
        return api(key=secret).post("/v1/chat/completions", body, format="json")

    assert complete("preset:tutor#staging").status_code == 200
    assert fake_llm.requests[-1]["messages"][0]["content"] == "Version two."
    assert complete("preset:tutor#production").status_code == 200
    assert fake_llm.requests[-1]["messages"][0]["content"] == "Version three."
    missing = complete("preset:tutor#canary")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "label_not_found")
    for malformed in ("preset:tutor#Bad!", "preset:tutor@2#staging", "preset:tutor#"):
        assert complete(malformed).status_code == 400
    assert len(fake_llm.requests) == 2


def test_the_preset_page_lists_labels_and_moves_them_by_the_same_rules(client, tutor, bob, approver) -> None:
    page = reverse("preset-page", kwargs={"org_slug": "acme", "pk": tutor.pk})
    move = reverse("preset-label-move-page", kwargs={"org_slug": "acme", "pk": tutor.pk})
    client.force_login(bob)
    assert "production" in client.get(page).content.decode()
    assert client.post(move, {"name": "production", "version": 2}).status_code == 403
    assert client.post(move, {"name": "staging", "version": 2}).status_code == 302
    client.force_login(approver)
    assert client.post(move, {"name": "production", "version": 2}).status_code == 302
    assert labels.label_version(preset=tutor, name="production") == 2
    delete = reverse("preset-label-delete-page", kwargs={"org_slug": "acme", "pk": tutor.pk, "name": "production"})
    assert client.post(delete).status_code == 302
    assert labels.label_version(preset=tutor, name="production") == 3


def test_the_admin_shows_labels_read_only(client, tutor, alice, approver) -> None:
    labels.label_move(preset=tutor, name="staging", version=2, actor=approver)
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    page = client.get(reverse("admin:presets_preset_change", args=[tutor.pk])).content.decode()
    assert "<li>production: v3 (newest approved)</li><li>staging: v2</li>" in page
