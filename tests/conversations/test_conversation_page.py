"""The conversation page as the server renders it: a window of the newest messages, older pages on
request, escaped content, the caller's votes, and the Context panel."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from conversations.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_chat(acme, alice) -> Conversation:
    conversation = Conversation.objects.create(org=acme, user=alice, title="Long")
    Message.objects.bulk_create(
        Message(
            org=acme,
            conversation=conversation,
            seq=seq,
            role="user" if seq % 2 else "assistant",
            content=f"message {seq}",
            token_count=3,
        )
        for seq in range(1, 501)
    )
    return conversation


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def seqs(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-seq="(\d+)"', html)]


def test_a_long_conversation_paints_only_its_newest_messages(alice, long_chat) -> None:
    response = signed_in(alice).get(f"/o/acme/chat/{long_chat.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert seqs(html) == list(range(471, 501))
    assert 'data-before-seq="471"' in html  # older ones load on scroll, from here back


def test_older_messages_come_a_page_at_a_time_until_the_first(alice, long_chat) -> None:
    client = signed_in(alice)

    page = client.get(f"/o/acme/chat/{long_chat.pk}/messages/?before_seq=471").content.decode()
    first = client.get(f"/o/acme/chat/{long_chat.pk}/messages/?before_seq=21").content.decode()

    assert seqs(page) == list(range(421, 471))
    assert 'data-before-seq="421"' in page
    assert seqs(first) == list(range(1, 21))
    assert "data-before-seq" not in first  # nothing older: no loader


def test_superseded_messages_leave_the_page(acme, alice) -> None:
    conversation = Conversation.objects.create(org=acme, user=alice)
    Message.objects.create(org=acme, conversation=conversation, seq=1, role="user", content="q")
    Message.objects.create(org=acme, conversation=conversation, seq=2, role="assistant", content="a", superseded=True)
    Message.objects.create(org=acme, conversation=conversation, seq=3, role="assistant", content="b")

    html = signed_in(alice).get(f"/o/acme/chat/{conversation.pk}/").content.decode()

    assert seqs(html) == [1, 3]


def test_message_content_is_escaped_and_votes_are_pressed(acme, alice) -> None:
    conversation = Conversation.objects.create(org=acme, user=alice)
    hostile = "<img src=x onerror=alert(1)>"
    Message.objects.create(org=acme, conversation=conversation, seq=1, role="user", content=hostile)
    answer = Message.objects.create(org=acme, conversation=conversation, seq=2, role="assistant", content="ok")
    Feedback.objects.create(org=acme, message=answer, user=alice, vote="down")

    html = signed_in(alice).get(f"/o/acme/chat/{conversation.pk}/").content.decode()

    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert re.search(r'data-vote="down"[^>]*aria-pressed="true"', html)
    assert re.search(r'data-vote="up"[^>]*aria-pressed="false"', html)


def test_a_huge_before_seq_reads_from_the_newest(alice, long_chat) -> None:
    response = signed_in(alice).get(f"/o/acme/chat/{long_chat.pk}/messages/?before_seq={10**30}")
    assert response.status_code == 200
    assert seqs(response.content.decode()) == list(range(451, 501))


def test_the_context_panel_shows_the_system_prompt_kept_messages_and_budget(acme, alice, fake_llm) -> None:
    conversation = Conversation.objects.create(org=acme, user=alice)
    Message.objects.create(org=acme, conversation=conversation, seq=1, role="user", content="<b>hi</b>", token_count=9)

    html = signed_in(alice).get(f"/o/acme/chat/{conversation.pk}/context/").content.decode()

    assert "System prompt" in html
    assert "User #1" in html
    assert "&lt;b&gt;hi&lt;/b&gt;" in html
    assert re.search(r"data-context-used>\d+ of \d+<", html)


def test_another_persons_conversation_is_404_on_every_part_of_the_page(bob, long_chat) -> None:
    client = signed_in(bob)
    for suffix in ("", "messages/", "context/"):
        assert client.get(f"/o/acme/chat/{long_chat.pk}/{suffix}").status_code == 404, suffix
