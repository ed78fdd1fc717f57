"""Sign-ins, failed sign-ins and each API key's first use of the day are on the trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tenancy import key_use
from tests.conversations.test_websocket import communicator, refusal

PASSWORD = "correct horse battery staple"  # tests/factories.py
ADDRESS = "192.0.2.55"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def sign_in(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ADDRESS)


def test_a_sign_in_is_recorded_on_the_platform_trail(client, alice) -> None:
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    [event] = events("auth.signed_in")
    assert (event.org, event.actor_user, event.target_id, event.ip) == (None, alice, str(alice.pk), ADDRESS)


def test_a_failed_sign_in_keeps_the_username_and_never_the_password(client, alice) -> None:
    assert sign_in(client, "alice", "hunter2-wrong").status_code == 200
    [event] = events("auth.sign_in_failed")
    assert (event.org, event.actor_user, event.target_id, event.ip) == (None, None, str(alice.pk), ADDRESS)
    assert event.payload == {"username": "alice"}
    assert "hunter2" not in str(event.payload)


def test_a_failed_sign_in_for_an_unknown_username_is_scrubbed_of_pii(client, db) -> None:
    assert sign_in(client, "jane.doe@example.com", "hunter2-wrong").status_code == 200
    [event] = events("auth.sign_in_failed")
    assert (event.target_type, event.target_id) == ("", "")
    assert "jane.doe" not in str(event.payload)
    assert "hunter2" not in str(event.payload)
    assert event.payload["username"] == "<EMAIL>"


def test_a_keys_first_use_of_the_day_is_recorded_once(api, acme, alice, make_key) -> None:
    key, secret = make_key(alice, acme, ["org:read"])
    url = reverse("org-detail", kwargs={"org_slug": "acme"})
    first = api(key=secret).get(url, HTTP_X_REQUEST_ID="first-use", REMOTE_ADDR=ADDRESS)
    assert first.status_code == api(key=secret).get(url).status_code == 200  # the second use: no event
    [event] = events(key_use.USED_TODAY)
    assert (event.org, event.actor_user, event.actor_api_key_id) == (acme, alice, key.pk)
    assert (event.target_id, event.request_id, event.ip) == (str(key.pk), "first-use", ADDRESS)
    assert event.payload == {"date": timezone.now().date().isoformat()}


def test_a_keys_later_uses_that_day_ask_the_cache_nothing(api, acme, alice, make_key, monkeypatch) -> None:
    _, secret = make_key(alice, acme, ["org:read"])
    url = reverse("org-detail", kwargs={"org_slug": "acme"})
    assert api(key=secret).get(url).status_code == 200
    asked: list[str] = []
    monkeypatch.setattr(key_use.cache, "add", lambda key, *args, **kwargs: asked.append(key))
    assert api(key=secret).get(url).status_code == api(key=secret).get(url).status_code == 200
    assert asked == []  # the process knows the day is marked
    assert len(events(key_use.USED_TODAY)) == 1


def test_the_next_day_records_a_new_first_use(api, acme, alice, make_key, monkeypatch) -> None:
    _, secret = make_key(alice, acme, ["org:read"])
    url = reverse("org-detail", kwargs={"org_slug": "acme"})
    assert api(key=secret).get(url).status_code == 200
    tomorrow = timezone.now() + timedelta(days=1)
    monkeypatch.setattr(key_use.timezone, "now", lambda: tomorrow)
    assert api(key=secret).get(url).status_code == 200
    assert [event.payload["date"] for event in events(key_use.USED_TODAY)] == [
        (tomorrow - timedelta(days=1)).date().isoformat(),
        tomorrow.date().isoformat(),
    ]


def test_a_refused_key_is_no_use(api, acme, alice, make_key) -> None:
    _, secret = make_key(alice, acme, ["org:read"])
    assert api(key=secret + "x").get(reverse("org-detail", kwargs={"org_slug": "acme"})).status_code == 401
    assert events(key_use.USED_TODAY) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fake_llm")
async def test_a_websocket_handshake_is_a_use_and_its_refusal_a_denial(acme, alice, make_key) -> None:
    from conversations.models import Conversation

    key, secret = await sync_to_async(make_key)(alice, acme, ["org:read"])
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=alice, title="T")
    path = f"/ws/orgs/acme/conversations/{conversation.pk}/"
    assert await refusal(communicator(path, secret)) == (True, 4403)  # no `chat` scope
    used = await sync_to_async(events)(key_use.USED_TODAY)
    denied = await sync_to_async(events)("access.denied")
    assert [(event.actor_api_key_id, event.org_id) for event in used] == [(key.pk, acme.pk)]
    assert [(event.actor_api_key_id, event.payload["status"]) for event in denied] == [(key.pk, 403)]


@pytest.mark.usefixtures("fake_llm")
def test_the_openai_compatible_api_counts_as_use(api, acme, alice, make_key) -> None:
    key, secret = make_key(alice, acme, ["chat"])
    assert api(key=secret).get("/v1/models").status_code == 200
    assert [event.actor_api_key_id for event in events(key_use.USED_TODAY)] == [key.pk]
