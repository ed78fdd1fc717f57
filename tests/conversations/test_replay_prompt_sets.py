"""Prompt sets: kept with a preset by its editors and reviewers, bounded, audited, replayed alone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from conversations.replays.models import MAX_PROMPT_CHARS, PromptSet, Replay
from tests.factories import MembershipFactory
from tests.presets.pages import signed_in
from tests.replays_world import preset_in_review

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def preset(acme, bob, alice):
    return preset_in_review(acme, bob, "tutor", alice)


def sets_url(preset, pk=None) -> str:
    kwargs = {"org_slug": preset.org.slug, "preset_id": preset.pk}
    if pk is None:
        return reverse("preset-prompt-set-list", kwargs=kwargs)
    return reverse("preset-prompt-set-detail", kwargs={**kwargs, "pk": pk})


def test_the_presets_editor_keeps_prompt_sets_and_every_change_is_audited(api, bob, preset) -> None:
    created = api(bob).post(sets_url(preset), {"name": "Smoke", "prompts": ["Hi?", "Why?"]}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    changed = api(bob).patch(sets_url(preset, pk), {"prompts": ["Hi?", "How?"]}, format="json")
    assert changed.json()["prompts"] == ["Hi?", "How?"]
    same = api(bob).patch(sets_url(preset, pk), {"name": "Smoke"}, format="json")
    assert same.status_code == 200
    assert api(bob).delete(sets_url(preset, pk)).status_code == 204
    events = AuditEvent.objects.filter(target_id=pk).order_by("pk")
    assert [event.action for event in events] == ["prompt_set.created", "prompt_set.updated", "prompt_set.deleted"]
    assert events[1].payload["prompts_replaced"] is True


def test_a_member_who_neither_edits_nor_reviews_reads_but_may_not_write(api, acme, preset) -> None:
    PromptSet.objects.create(org=acme, preset=preset, name="Smoke", prompts=["Hi?"])
    reader = MembershipFactory(org=acme, role="member").user
    assert len(api(reader).get(sets_url(preset)).json()["results"]) == 1
    refused = api(reader).post(sets_url(preset), {"name": "Mine", "prompts": ["Hi?"]}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")


def test_another_tenant_gets_404_for_the_preset_and_its_prompt_sets(api, acme, carol, preset) -> None:
    prompt_set = PromptSet.objects.create(org=acme, preset=preset, name="Smoke", prompts=["Hi?"])
    assert api(carol).get(sets_url(preset, prompt_set.pk)).status_code == 404
    assert api(carol).delete(sets_url(preset, prompt_set.pk)).status_code == 404
    assert PromptSet.objects.filter(pk=prompt_set.pk).exists()


@pytest.mark.parametrize(
    "prompts",
    [
        [],
        ["x" * (MAX_PROMPT_CHARS + 1)],
        ["a NUL \x00 byte"],
        ["Hi?"] * 51,
        [""],
        [" \n "],
        [7],
    ],
    ids=["empty", "huge", "nul", "too-many", "blank", "whitespace", "number"],
)
def test_out_of_bounds_prompts_are_refused(api, bob, preset, prompts) -> None:
    response = api(bob).post(sets_url(preset), {"name": "Bad", "prompts": prompts}, format="json")
    assert response.status_code == 400, response.content
    assert not PromptSet.objects.exists()


def test_a_duplicate_name_is_409(api, acme, bob, preset) -> None:
    PromptSet.objects.create(org=acme, preset=preset, name="Smoke", prompts=["Hi?"])
    response = api(bob).post(sets_url(preset), {"name": "Smoke", "prompts": ["Hi?"]}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "already_exists")


def test_a_prompt_set_replays_each_prompt_alone(
    api, acme, alice, preset, fake_llm, django_capture_on_commit_callbacks
) -> None:
    prompt_set = PromptSet.objects.create(org=acme, preset=preset, name="Smoke", prompts=["Hi?", "Why?"])
    url = reverse("preset-replay-list", kwargs={"org_slug": "acme", "preset_id": preset.pk})
    body = {"source": "prompt_set", "prompt_set": str(prompt_set.pk), "token_budget": 5000}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(url, body, format="json")
    assert response.status_code == 201, response.content
    assert Replay.objects.get().status == "done"
    sent = [[m["content"] for m in request["messages"]] for request in fake_llm.requests]
    assert sent == [
        ["You are tutor.", "Hi?"],
        ["You are tutor, the candidate.", "Hi?"],
        ["You are tutor.", "Why?"],
        ["You are tutor, the candidate.", "Why?"],
    ]


def test_another_presets_prompt_set_is_404(api, acme, alice, bob, preset, django_capture_on_commit_callbacks) -> None:
    other = preset_in_review(acme, bob, "other", alice)
    theirs = PromptSet.objects.create(org=acme, preset=other, name="Smoke", prompts=["Hi?"])
    url = reverse("preset-replay-list", kwargs={"org_slug": "acme", "preset_id": preset.pk})
    body = {"source": "prompt_set", "prompt_set": str(theirs.pk), "token_budget": 5000}
    assert api(alice).post(url, body, format="json").status_code == 404


def test_the_admin_shows_replays_and_prompt_sets_read_only(client, acme, alice) -> None:
    from tests.replays_world import build_replay_world

    world = build_replay_world(acme, alice)
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    page = client.get(reverse("admin:conversations_replay_change", args=[world.queued.pk]))
    assert page.status_code == 200
    assert b"Pending" in page.content  # the item, as its status reads
    assert b'name="items-0-status"' not in page.content  # the items are shown, not editable
    assert b'name="token_budget"' not in page.content  # nothing editable
    assert client.post(reverse("admin:conversations_replay_delete", args=[world.queued.pk])).status_code == 403
    page = client.get(reverse("admin:conversations_promptset_change", args=[world.prompt_set.pk]))
    assert (page.status_code, b'name="name"' in page.content) == (200, False)
    assert client.get(reverse("admin:conversations_replay_add")).status_code == 403


def page_url(name: str, preset, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": preset.org.slug, "preset_id": preset.pk, **kwargs})


def test_the_review_page_form_saves_one_prompt_per_line_and_deletes_a_set(alice, preset) -> None:
    client = signed_in(alice)  # the reviewer, whose review page holds the form
    form = {"name": "Smoke", "prompts": "Hi?\r\n\r\n  Why?  \nHow?\n"}
    saved = client.post(page_url("prompt-set-create-page", preset), form)
    assert saved.status_code == 302
    prompt_set = PromptSet.objects.get(preset=preset)
    assert (prompt_set.name, prompt_set.prompts) == ("Smoke", ["Hi?", "Why?", "How?"])  # blank lines dropped
    fragment = client.get(page_url("preset-replays-page", preset)).content.decode()
    assert "Smoke" in fragment
    deleted = client.post(page_url("prompt-set-delete-page", preset, pk=prompt_set.pk))
    assert deleted.status_code == 302
    assert not PromptSet.objects.exists()
    actions = AuditEvent.objects.filter(target_id=str(prompt_set.pk)).values_list("action", flat=True)
    assert sorted(actions) == ["prompt_set.created", "prompt_set.deleted"]


@pytest.mark.parametrize(
    "form",
    [
        {"name": "Empty", "prompts": "\n \n"},
        {"name": "", "prompts": "Hi?"},
        {"name": "Huge", "prompts": "x" * (MAX_PROMPT_CHARS + 1)},
        {"name": "Nul", "prompts": "a\x00b"},
        {"name": "Many", "prompts": "\n".join(f"q{n}" for n in range(51))},
    ],
    ids=["no-prompts", "no-name", "huge-prompt", "nul", "too-many"],
)
def test_a_bad_prompt_set_form_is_refused_with_its_code_and_saves_nothing(bob, preset, form) -> None:
    refused = signed_in(bob).post(page_url("prompt-set-create-page", preset), form)
    assert refused.status_code == 400
    assert "invalid" in refused.content.decode()
    assert not PromptSet.objects.exists()


def test_the_form_is_refused_to_a_member_who_neither_edits_nor_reviews(acme, preset) -> None:
    reader = MembershipFactory(org=acme, role="member").user
    refused = signed_in(reader).post(page_url("prompt-set-create-page", preset), {"name": "x", "prompts": "Hi?"})
    assert refused.status_code == 403
    assert not PromptSet.objects.exists()
