"""Thumbs on answers through the API: one vote per person per message, changeable, only on one's own answers."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Feedback, Message
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def exchange(acme, alice) -> tuple[Conversation, Message, Message]:
    conversation = Conversation.objects.create(org=acme, user=alice, title="Votes")
    question = Message.objects.create(org=acme, conversation=conversation, seq=1, role="user", content="Hi")
    answer = Message.objects.create(org=acme, conversation=conversation, seq=2, role="assistant", content="Hello")
    return conversation, question, answer


def url(message: Message, org: str = "acme") -> str:
    return f"/api/v1/orgs/{org}/conversations/{message.conversation_id}/messages/{message.pk}/feedback/"


def test_a_vote_is_stored_once_and_voting_again_changes_it(api, alice, exchange) -> None:
    _, _, answer = exchange
    client = api(alice)

    first = client.put(url(answer), {"vote": "up"}, format="json")
    second = client.put(url(answer), {"vote": "down", "reason": "Too vague"}, format="json")

    assert first.status_code == second.status_code == 200
    assert second.json()["vote"] == "down"
    (row,) = Feedback.objects.filter(message=answer)
    assert (row.user, row.vote, row.reason, row.org_id) == (alice, "down", "Too vague", answer.org_id)


def test_reading_a_vote_before_and_after_voting(api, alice, exchange) -> None:
    _, _, answer = exchange
    client = api(alice)
    assert client.get(url(answer)).json() == {"message": str(answer.pk), "vote": None, "reason": "", "updated_at": None}

    client.put(url(answer), {"vote": "up", "reason": "Spot on"}, format="json")

    body = client.get(url(answer)).json()
    assert (body["vote"], body["reason"]) == ("up", "Spot on")


def test_deleting_a_vote_takes_it_back(api, alice, exchange) -> None:
    _, _, answer = exchange
    client = api(alice)
    client.put(url(answer), {"vote": "up"}, format="json")

    assert client.delete(url(answer)).status_code == 204
    assert not Feedback.objects.filter(message=answer).exists()
    assert client.delete(url(answer)).status_code == 204  # taking back no vote is not an error


def test_only_answers_take_votes(api, alice, exchange) -> None:
    _, question, _ = exchange
    response = api(alice).put(url(question), {"vote": "up"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not Feedback.objects.exists()


def test_another_members_conversation_is_404_in_the_same_organisation(api, bob, exchange) -> None:
    _, _, answer = exchange
    assert api(bob).put(url(answer), {"vote": "down"}, format="json").status_code == 404
    assert api(bob).get(url(answer)).status_code == 404
    assert not Feedback.objects.exists()


def test_another_organisation_is_the_same_404_through_either_slug(api, carol, exchange) -> None:
    _, _, answer = exchange
    for org in ("acme", "globex"):
        response = api(carol).put(url(answer, org), {"vote": "up"}, format="json")
        assert response.status_code == 404, org
    assert not Feedback.objects.exists()


def test_a_role_that_may_not_chat_is_refused(api, acme, exchange) -> None:
    _, _, answer = exchange
    viewer = UserFactory()
    MembershipFactory(org=acme, user=viewer, role="viewer")
    response = api(viewer).put(url(answer), {"vote": "up"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vote": "sideways"}, "vote"),
        ({}, "vote"),
        ({"vote": None}, "vote"),
        ({"vote": "up", "reason": "x" * 501}, "reason"),
        ({"vote": "up", "reason": "nul\x00here"}, "reason"),
        ({"vote": "up", "reason": 12}, "reason"),
    ],
    ids=["unknown-vote", "missing-vote", "null-vote", "long-reason", "nul-reason", "number-reason"],
)
def test_bad_input_is_a_400_in_the_error_shape(api, alice, exchange, body, field) -> None:
    _, _, answer = exchange
    response = api(alice).put(url(answer), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]["fields"]
    assert not Feedback.objects.exists()
