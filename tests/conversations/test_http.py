"""Conversations over HTTP: CRUD, presets, context preview, JSON answers, idempotency, errors."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from conversations import export
from conversations.models import Conversation, Message, UsageRecord
from presets.services import lifecycle, review
from tests.api_docs import response_body
from tests.factories import MembershipFactory
from tests.presets_world import make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")


def url(name: str, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": kwargs.pop("org", "acme"), **kwargs})


@pytest.fixture
def approved_preset(acme, bob):
    approver = MembershipFactory(org=acme, role="approver").user
    preset = make_preset(acme, bob, "tutor", scope="org")
    preset = lifecycle.preset_update(
        preset=preset,
        actor=bob,
        system_prompt="Teach {{subject}}.",
        model="fake",
        variables=[{"name": "subject", "required": True}],
        params={"temperature": 0.1, "max_tokens": 40},
    )
    review.preset_submit(preset=preset, actor=bob)
    review.preset_approve(preset=preset, actor=approver, number=2)
    return preset


def start(api, user, **body):
    response = api(user).post(url("conversation-list"), body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def send(api, user, conversation_id, content="Hello", **extra):
    headers = extra.pop("headers", {})
    return api(user).post(
        url("conversation-messages", pk=conversation_id), {"content": content, **extra}, format="json", **headers
    )


def exported(response) -> dict:
    """The body of a streamed JSON export."""
    assert response.status_code == 200
    return json.loads(response_body(response))


def test_answer_as_json_uses_the_preset_and_records_usage(api, alice, approved_preset, fake_llm) -> None:
    chat = start(api, alice, preset=str(approved_preset.pk), variables={"subject": "tides"})
    assert chat["preset_version"] is None  # follows the newest approved version
    response = send(api, alice, chat["id"], "What causes them?")
    assert response.status_code == 201
    body = response.json()
    assert (body["message"]["status"], body["message"]["model"], body["message"]["preset_version"]) == (
        "complete",
        "fake",
        2,
    )
    assert body["message"]["prompt_tokens"] > 0
    assert body["message"]["completion_tokens"] > 0
    assert float(body["message"]["cost"]) > 0
    sent = fake_llm.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Teach tides."}
    assert (sent["temperature"], sent["max_tokens"]) == (0.1, 40)
    usage = UsageRecord.objects.get(message_id=body["message"]["id"])
    assert (usage.kind, usage.user, usage.preset_id, usage.preset_version) == ("chat", alice, approved_preset.pk, 2)
    assert (usage.completion_tokens, str(usage.cost)) == (body["message"]["completion_tokens"], body["message"]["cost"])


def test_history_is_sent_and_listed_in_order(api, alice, fake_llm) -> None:
    chat = start(api, alice)
    send(api, alice, chat["id"], "one")
    send(api, alice, chat["id"], "two")
    roles = [(m["role"], m["content"]) for m in fake_llm.requests[-1]["messages"]]
    assert roles[1:] == [("user", "one"), ("assistant", roles[2][1]), ("user", "two")]
    listed = api(alice).get(url("conversation-messages", pk=chat["id"])).json()["results"]
    assert [m["seq"] for m in listed] == [1, 2, 3, 4]


def test_idempotency_key_returns_the_first_result_without_a_second_call(api, alice, fake_llm) -> None:
    chat = start(api, alice)
    first = send(api, alice, chat["id"], "pay once", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"})
    again = send(api, alice, chat["id"], "pay once", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert len(fake_llm.requests) == 1
    assert Message.objects.filter(conversation_id=chat["id"]).count() == 2
    changed = send(api, alice, chat["id"], "pay twice", headers={"HTTP_IDEMPOTENCY_KEY": "k-1"})
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("body", "code"), [({"content": ""}, "invalid"), ({}, "invalid"), ({"content": "x", "stream": "maybe"}, "invalid")]
)
def test_bad_send_bodies_are_400_and_store_nothing(api, alice, body, code) -> None:
    chat = start(api, alice)
    response = api(alice).post(url("conversation-messages", pk=chat["id"]), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not Message.objects.exists()


def test_malformed_json_is_400(api, alice) -> None:
    chat = start(api, alice)
    response = api(alice).generic(
        "POST", url("conversation-messages", pk=chat["id"]), "{", content_type="application/json"
    )
    assert response.status_code == 400


def test_too_long_message_is_400_with_the_numbers(api, alice, fake_llm) -> None:
    chat = start(api, alice, model_override="fake-small")
    response = send(api, alice, chat["id"], "word " * 400)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_too_long"
    assert error["details"]["required_tokens"] > error["details"]["available_tokens"]
    assert not Message.objects.exists()
    assert fake_llm.requests == []


def test_model_outage_is_503_and_keeps_the_user_message(api, alice, fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    chat = start(api, alice)
    response = send(api, alice, chat["id"], "hello?")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    stored = list(Message.objects.filter(conversation_id=chat["id"]).values_list("role", "status"))
    assert stored == [("user", "complete"), ("assistant", "failed")]


def test_api_key_needs_chat_scope_and_anonymous_is_401(api, alice, acme, make_key) -> None:
    chat = start(api, alice)
    _, read_only = make_key(alice, acme, ["presets:read"])
    assert send(api, None, chat["id"], headers={"HTTP_AUTHORIZATION": f"Bearer {read_only}"}).status_code == 403
    _, chat_key = make_key(alice, acme, ["chat"])
    assert send(api, None, chat["id"], headers={"HTTP_AUTHORIZATION": f"Bearer {chat_key}"}).status_code == 201
    assert send(api, None, chat["id"]).status_code == 401


def test_session_post_needs_csrf(alice, acme, client) -> None:
    from django.test import Client

    chat = Conversation.objects.create(org=acme, user=alice)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    response = strict.post(url("conversation-messages", pk=chat.pk), {"content": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_apply_preset_takes_effect_next_turn_and_flags_newer_versions(api, alice, bob, acme, approved_preset) -> None:
    chat = start(api, alice)
    applied = api(alice).post(
        url("conversation-preset", pk=chat["id"]),
        {"preset": str(approved_preset.pk), "version": 2, "variables": {"subject": "maths"}},
        format="json",
    )
    assert applied.status_code == 200
    assert applied.json()["preset_version"] == 2
    assert AuditEvent.objects.filter(action="conversation.preset_applied", target_id=chat["id"]).exists()
    approver = MembershipFactory(org=acme, role="approver").user
    newer = lifecycle.preset_update(preset=approved_preset, actor=bob, system_prompt="Teach {{subject}} gently.")
    review.preset_approve(preset=newer, actor=approver, number=3)
    assert api(alice).get(url("conversation-detail", pk=chat["id"])).json()["newer_version_available"] is True


def test_preset_of_another_org_or_unusable_version_is_refused(api, carol, alice, approved_preset) -> None:
    chat = start(api, alice)
    other = api(carol).post(url("conversation-list", org="globex"), {"preset": str(approved_preset.pk)}, format="json")
    assert other.status_code == 404
    missing_var = api(alice).post(
        url("conversation-preset", pk=chat["id"]), {"preset": str(approved_preset.pk)}, format="json"
    )
    assert missing_var.status_code == 400
    assert missing_var.json()["error"]["details"]["missing_variables"] == ["subject"]
    reader = MembershipFactory(org=approved_preset.org).user
    reader_chat = start(api, reader)
    draft = api(reader).post(
        url("conversation-preset", pk=reader_chat["id"]),
        {"preset": str(approved_preset.pk), "version": 1},
        format="json",
    )
    assert draft.status_code == 409
    assert draft.json()["error"]["code"] == "preset_not_approved"


def test_context_preview_shows_parts_budget_and_dropped_messages(api, alice, fake_llm) -> None:
    chat = start(api, alice, model_override="fake-small")
    for n in range(6):
        assert send(api, alice, chat["id"], f"message number {n} " + "pad " * 10).status_code == 201
    preview = api(alice).get(url("conversation-context", pk=chat["id"])).json()
    budget = preview["budget"]
    assert budget["available"] == 300 - 50 - 3
    assert budget["used"] <= budget["available"]
    kinds = [p["kind"] for p in preview["parts"]]
    assert kinds[0] == "system"
    assert set(kinds[1:]) == {"history"}
    assert preview["dropped"]["from_seq"] == 1
    kept = [p["seq"] for p in preview["parts"][1:]]
    assert kept == sorted(kept)
    assert kept[-1] == 12
    assert preview["dropped"]["through_seq"] == kept[0] - 1


def test_rename_and_delete(api, alice) -> None:
    chat = start(api, alice, title="Old")
    renamed = api(alice).patch(url("conversation-detail", pk=chat["id"]), {"title": "New"}, format="json")
    assert renamed.json()["title"] == "New"
    assert api(alice).delete(url("conversation-detail", pk=chat["id"])).status_code == 204
    assert api(alice).get(url("conversation-detail", pk=chat["id"])).status_code == 404
    assert Conversation.objects.get(pk=chat["id"]).deleted_at is not None


def test_conversations_are_private_to_their_user(api, alice, bob) -> None:
    chat = start(api, alice)
    assert api(bob).get(url("conversation-detail", pk=chat["id"])).status_code == 404
    assert api(bob).get(url("conversation-list")).json()["results"] == []
    assert send(api, bob, chat["id"]).status_code == 404


def test_regenerate_keeps_the_old_answer_out_of_the_prompt(api, alice, fake_llm) -> None:
    chat = start(api, alice)
    fake_llm.config.reply = "first answer"
    send(api, alice, chat["id"], "question")
    fake_llm.config.reply = "second answer"
    again = api(alice).post(url("conversation-regenerate", pk=chat["id"]), {}, format="json")
    assert again.status_code == 201
    assert again.json()["message"]["content"] == "second answer"
    assert fake_llm.requests[-1]["messages"][1:] == [{"role": "user", "content": "question"}]
    export = exported(api(alice).get(url("conversation-export", pk=chat["id"])))["messages"]
    assert [(m["role"], m["content"]) for m in export] == [("user", "question"), ("assistant", "second answer")]
    stored = Message.objects.filter(conversation_id=chat["id"], superseded=True).values_list("content", flat=True)
    assert list(stored) == ["first answer"]


def test_edit_replaces_the_last_question(api, alice, fake_llm) -> None:
    chat = start(api, alice)
    send(api, alice, chat["id"], "first")
    send(api, alice, chat["id"], "typo quesiton")
    edited = api(alice).post(url("conversation-edit", pk=chat["id"]), {"content": "typo question"}, format="json")
    assert edited.status_code == 201
    sent = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "user"]
    assert sent == ["first", "typo question"]


def test_regenerate_with_nothing_to_answer_is_409(api, alice) -> None:
    chat = start(api, alice)
    response = api(alice).post(url("conversation-regenerate", pk=chat["id"]), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_export_as_markdown_and_bad_format(api, alice, fake_llm) -> None:
    chat = start(api, alice, title="Tides")
    fake_llm.config.reply = "Because of the moon."
    send(api, alice, chat["id"], "Why tides?")
    markdown = api(alice).get(url("conversation-export", pk=chat["id"]) + "?as=markdown")
    assert markdown["Content-Type"].startswith("text/markdown")
    text = response_body(markdown).decode()
    assert text.startswith("# Tides")
    assert "## You\n\nWhy tides?" in text
    assert "## Assistant\n\nBecause of the moon." in text
    assert api(alice).get(url("conversation-export", pk=chat["id"]) + "?as=pdf").status_code == 400


def test_a_long_conversation_is_exported_whole_in_batches_of_messages(api, alice, monkeypatch) -> None:
    monkeypatch.setattr(export, "EXPORT_BATCH", 3)  # 10 messages: four batches, the last one short
    chat = Conversation.objects.create(org=alice.memberships.get().org, user=alice, title="Long")
    for seq in range(1, 11):
        role = "user" if seq % 2 else "assistant"
        Message.objects.create(org=chat.org, conversation=chat, seq=seq, role=role, content=f"m{seq}")
    Message.objects.filter(conversation=chat, seq=4).update(superseded=True)
    batches = [[m.seq for m in rows] for rows in export.transcript_batches(chat)]
    assert batches == [[1, 2, 3], [5, 6, 7], [8, 9, 10]]
    as_json = exported(api(alice).get(url("conversation-export", pk=chat.pk)))
    assert [m["content"] for m in as_json["messages"]] == [f"m{n}" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10)]
    assert as_json["conversation"]["title"] == "Long"
    markdown = response_body(api(alice).get(url("conversation-export", pk=chat.pk) + "?as=markdown"))
    assert markdown.decode().count("## ") == 9
