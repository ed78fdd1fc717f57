"""With the Celery broker unreachable, chat goes on: a conversation's first answer (whose title would be
queued) and a long conversation's turns (whose summary would be) answer at once, on a truncated window,
and nothing waits on the broker's connection retries."""

from __future__ import annotations

import logging
import time

import pytest
from django.urls import reverse

from conversations.models import Conversation, MessageStatus

pytestmark = pytest.mark.usefixtures("fake_llm", "broker_unreachable")


def test_turns_answer_while_the_broker_is_unreachable(
    api, alice, acme, caplog, django_capture_on_commit_callbacks
) -> None:
    chat = Conversation.objects.create(org=acme, user=alice, title="", model_override="fake-small")
    url = reverse("conversation-messages", kwargs={"org_slug": "acme", "pk": chat.pk})
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="chatpresets.queue_limits"):
        for n in range(8):  # the first answer would queue a title, the later ones a summary
            with django_capture_on_commit_callbacks(execute=True):
                response = api(alice).post(url, {"content": f"turn {n} " + "pad " * 15}, format="json")
            assert response.status_code == 201, response.json()
            assert response.json()["message"]["status"] == MessageStatus.COMPLETE
    assert time.monotonic() - started < 8  # kombu alone sleeps 2 s before each retry of a refused connection
    assert "broker unreachable" in caplog.text
    chat.refresh_from_db()
    assert (chat.title, chat.summary, chat.summary_through_seq) == ("", "", 0)
    assert not chat.messages.filter(status__in=[MessageStatus.PENDING, MessageStatus.STREAMING]).exists()
