"""Background work: running summaries, titles, and sweeping abandoned streams."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services, tasks
from conversations.models import Conversation, Message, MessageStatus, UsageRecord
from tests.conversations.test_http import send

pytestmark = pytest.mark.usefixtures("fake_llm")


def add(conversation, seq, role, content, status=MessageStatus.COMPLETE):
    return Message.objects.create(
        org=conversation.org,
        conversation=conversation,
        seq=seq,
        role=role,
        content=content,
        token_count=5,
        status=status,
    )


@pytest.fixture
def conversation(acme, alice):
    chat = Conversation.objects.create(org=acme, user=alice)
    for seq in range(1, 7):
        add(chat, seq, "user" if seq % 2 else "assistant", f"message {seq}")
    return chat


def test_summary_folds_new_messages_into_the_old_summary(conversation, fake_llm) -> None:
    fake_llm.config.reply = "They talked about messages one to four."
    conversation.summary, conversation.summary_through_seq = "Earlier: greetings.", 2
    conversation.save()
    covered = tasks.summarise(conversation_id=str(conversation.pk), org_id=str(conversation.org_id), through_seq=4)
    assert covered == 4
    conversation.refresh_from_db()
    assert (conversation.summary, conversation.summary_through_seq) == ("They talked about messages one to four.", 4)
    assert conversation.summary_tokens > 0
    sent = fake_llm.requests[-1]["messages"][1]["content"]
    assert "Earlier: greetings." in sent
    assert "user: message 3" in sent
    assert "assistant: message 4" in sent
    assert "message 2" not in sent
    assert "message 5" not in sent
    usage = UsageRecord.objects.get(kind="summary", conversation=conversation)
    assert usage.completion_tokens > 0


def test_failed_summary_changes_nothing(conversation, fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    assert tasks.summarise(conversation_id=str(conversation.pk), org_id=str(conversation.org_id), through_seq=4) == 0
    conversation.refresh_from_db()
    assert (conversation.summary, conversation.summary_through_seq) == ("", 0)


def test_summary_task_refuses_another_organisations_conversation(conversation, globex) -> None:
    tasks.summarise(conversation_id=str(conversation.pk), org_id=str(globex.pk), through_seq=4)
    conversation.refresh_from_db()
    assert conversation.summary_through_seq == 0


def test_dropped_messages_trigger_a_summary_after_commit(
    api, alice, acme, fake_llm, django_capture_on_commit_callbacks
) -> None:
    from django.urls import reverse

    chat = Conversation.objects.create(org=acme, user=alice, title="t", model_override="fake-small")
    url = reverse("conversation-messages", kwargs={"org_slug": "acme", "pk": chat.pk})
    for n in range(8):
        with django_capture_on_commit_callbacks(execute=True):
            api(alice).post(url, {"content": f"turn {n} " + "pad " * 15}, format="json")
    chat.refresh_from_db()
    assert chat.summary_through_seq > 0
    assert chat.summary


def test_title_comes_from_the_first_exchange(conversation, fake_llm) -> None:
    fake_llm.config.reply = '"Counting messages"'
    title = tasks.generate_title(conversation_id=str(conversation.pk), org_id=str(conversation.org_id))
    conversation.refresh_from_db()
    assert title == conversation.title == "Counting messages"


def test_abandoned_streams_become_interrupted_and_keep_text(conversation) -> None:
    stale = add(conversation, 7, "assistant", "half an ans", status=MessageStatus.STREAMING)
    fresh = add(conversation, 8, "assistant", "still going", status=MessageStatus.STREAMING)
    Message.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert tasks.sweep_abandoned_streams() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.content, stale.error_code) == ("interrupted", "half an ans", "worker_lost")
    assert fresh.status == "streaming"


def test_following_an_answer_ends_it_once_stale_and_waits_while_it_is_fresh(conversation) -> None:
    stale = add(conversation, 7, "assistant", "half an ans", status=MessageStatus.STREAMING)
    Message.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    ended = services.answer_if_ended(message_id=stale.pk)
    assert (ended.status, ended.content, ended.error_code) == ("interrupted", "half an ans", "worker_lost")
    Message.objects.filter(pk=stale.pk).update(status=MessageStatus.STREAMING, updated_at=timezone.now())
    assert services.answer_if_ended(message_id=stale.pk) is None  # written recently: its process lives
    done = add(conversation, 8, "assistant", "all of it")
    assert services.answer_if_ended(message_id=done.pk).status == "complete"


def test_a_stale_unfinished_answer_is_interrupted_by_the_next_turn_without_the_sweep(
    api, alice, conversation, settings
) -> None:
    lost = add(conversation, 7, "assistant", "half an ans", status=MessageStatus.STREAMING)
    stale = timezone.now() - timedelta(seconds=settings.STREAM_ABANDONED_SECONDS + 1)
    Message.objects.filter(pk=lost.pk).update(updated_at=stale)
    response = send(api, alice, conversation.pk, "Are you still there?")
    assert response.status_code == 201
    assert response.json()["message"]["status"] == "complete"
    lost.refresh_from_db()
    assert (lost.status, lost.content, lost.error_code) == ("interrupted", "half an ans", "worker_lost")


def test_a_fresh_unfinished_answer_still_refuses_a_second_turn(api, alice, conversation) -> None:
    live = add(conversation, 7, "assistant", "", status=MessageStatus.PENDING)
    response = send(api, alice, conversation.pk, "Me too")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "turn_in_progress"
    live.refresh_from_db()
    assert live.status == "pending"


def test_deleted_conversations_are_purged_after_retention(conversation, acme, alice) -> None:
    from audit.models import AuditEvent

    recent = Conversation.objects.create(org=acme, user=alice, deleted_at=timezone.now() - timedelta(days=1))
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert tasks.purge_deleted_conversations() == 1
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert Conversation.objects.filter(pk=recent.pk).exists()
    assert AuditEvent.objects.filter(action="conversation.purged", target_id=str(conversation.pk)).exists()


def test_no_summary_or_title_is_made_for_an_owner_who_has_left(acme, alice, fake_llm) -> None:
    conversation = Conversation.objects.create(org=acme, user=alice, title="")
    Message.objects.create(org=acme, conversation=conversation, seq=1, role="user", content="Hi", token_count=3)
    Message.objects.create(org=acme, conversation=conversation, seq=2, role="assistant", content="Yo", token_count=3)
    alice.memberships.filter(org=acme).delete()
    assert tasks.generate_title(conversation_id=str(conversation.pk), org_id=str(acme.pk)) == ""
    assert fake_llm.requests == []


def test_a_summary_reserves_only_the_answer_its_model_may_write(conversation, acme, settings, fake_llm) -> None:
    # SUMMARY_MAX_TOKENS (300) is more than fake-small may write (50): the hold is prompt + 50.
    settings.SUMMARY_MAX_TOKENS = 300
    acme.settings = {**acme.settings, "summary_model": "fake-small", "limits": {"user_tokens_day": 200}}
    acme.save()
    assert tasks.summarise(conversation_id=str(conversation.pk), org_id=str(acme.pk), through_seq=4) == 4
    assert fake_llm.requests[-1]["max_tokens"] == 50
