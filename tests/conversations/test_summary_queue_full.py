"""With the summaries queue full a long conversation's turns still answer, on a truncated window,
and the summary catches up once the queue has room."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from chatpresets import queue_limits
from conversations import tasks
from conversations.models import Conversation

pytestmark = pytest.mark.usefixtures("fake_llm")


def test_turns_go_on_truncated_while_the_summaries_queue_is_full(
    api, alice, acme, settings, caplog, django_capture_on_commit_callbacks
) -> None:
    settings.CELERY_QUEUE_MAX_DEPTH = {"summaries": 1}
    finished = queue_limits.count_running(tasks.summarise)  # the one slot is taken
    chat = Conversation.objects.create(org=acme, user=alice, title="t", model_override="fake-small")
    url = reverse("conversation-messages", kwargs={"org_slug": "acme", "pk": chat.pk})
    try:
        with caplog.at_level(logging.WARNING, logger="chatpresets.queue_limits"):
            for n in range(8):
                with django_capture_on_commit_callbacks(execute=True):
                    response = api(alice).post(url, {"content": f"turn {n} " + "pad " * 15}, format="json")
                assert response.status_code == 201, response.json()
                assert response.json()["message"]["status"] == "complete"
    finally:
        finished()
    chat.refresh_from_db()
    assert (chat.summary, chat.summary_through_seq) == ("", 0)  # nothing was queued meanwhile
    assert "queue summaries is full" in caplog.text
    with django_capture_on_commit_callbacks(execute=True):
        assert api(alice).post(url, {"content": "and now? " + "pad " * 15}, format="json").status_code == 201
    chat.refresh_from_db()
    assert chat.summary_through_seq > 0
