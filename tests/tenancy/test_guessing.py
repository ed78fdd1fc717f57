"""Guessing protection: passwords (django-axes) and API keys (tenancy/key_guard.py) lock out."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async as sync_to_async

from audit.models import AuditEvent
from conversations.models import Conversation
from tests.conversations.test_websocket import communicator, refusal
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"  # tests/factories.py
ATTACKER, ELSEWHERE = "203.0.113.7", "198.51.100.20"


def sign_in(client, username: str, password: str, address: str = ATTACKER, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_thirty_wrong_passwords_lock_the_account_even_for_the_right_one(client, alice, bob, settings) -> None:
    answers = [sign_in(client, "alice", f"guess-{n}").status_code for n in range(30)]
    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [200] * (limit - 1)  # the form again, "please enter a correct…"
    assert set(answers[limit:]) == {429}
    refused = sign_in(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert sign_in(client, "alice", PASSWORD, address=ELSEWHERE).status_code == 429  # the account is locked
    assert sign_in(client, "bob", PASSWORD, address=ATTACKER).status_code == 429  # and so is the address
    events = AuditEvent.objects.filter(action="auth.locked_out")
    assert events.count() >= 1
    assert {"alice"} <= {event.payload["username"] for event in events}


def test_another_account_from_another_address_still_signs_in(client, alice, bob) -> None:
    for n in range(30):
        sign_in(client, "alice", f"guess-{n}")
    response = sign_in(client, "bob", PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(bob.pk)


def test_the_admin_sign_in_is_guarded_too(client, db) -> None:
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for n in range(12):
        sign_in(client, "root", f"guess-{n}", path="/admin/login/")
    assert sign_in(client, "root", PASSWORD, path="/admin/login/").status_code == 429


def test_a_lockout_is_audited_once_per_cool_off(client, alice) -> None:
    for n in range(30):
        sign_in(client, "alice", f"guess-{n}")
    events = AuditEvent.objects.filter(action="auth.locked_out", payload__username="alice")
    assert events.count() == 1
    assert events.get().target_id == str(alice.pk)


# --- API keys ---------------------------------------------------------------------------------


@pytest.fixture
def acme_key(alice, acme, make_key) -> str:
    return make_key(alice, acme, ["chat", "org:read"])[1]


def wrong_key(n: int) -> str:
    return f"cpk_{n:012x}_not-the-secret"


def call_api(api, key: str, address: str = "127.0.0.1"):
    return api(key=key).get("/api/v1/me/", REMOTE_ADDR=address)


def call_openai(api, key: str, address: str = "127.0.0.1"):
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}
    return api(key=key).post("/v1/chat/completions", body, format="json", REMOTE_ADDR=address)


@pytest.mark.parametrize("call", [call_api, call_openai], ids=["drf", "openai_compat"])
def test_twenty_five_wrong_keys_then_429_even_for_the_right_key(api, acme_key, call, settings, fake_llm) -> None:
    statuses = [call(api, wrong_key(n)).status_code for n in range(25)]
    limit = settings.API_KEY_FAILURE_LIMIT
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}
    refused = call(api, acme_key)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "too_many_failed_attempts"
    assert 1 <= int(refused["Retry-After"]) <= settings.API_KEY_LOCKOUT_MINUTES * 60
    assert error["details"]["retry_after"] == int(refused["Retry-After"])
    assert call(api, acme_key, address="10.1.2.3").status_code in (200, 201)  # another address is unaffected
    event = AuditEvent.objects.get(action="auth.api_key_locked_out")
    assert event.payload["failures"] == limit


def test_the_right_key_before_the_limit_works_and_failures_add_up_across_transports(api, acme_key, settings) -> None:
    settings.API_KEY_FAILURE_LIMIT = 4
    assert [call_api(api, wrong_key(n)).status_code for n in range(2)] == [401, 401]
    assert call_api(api, acme_key).status_code == 200
    assert [call_openai(api, wrong_key(n)).status_code for n in range(2)] == [401, 401]
    assert call_api(api, acme_key).status_code == 429


def test_the_lockout_ends_after_its_cool_off(api, acme_key, settings) -> None:
    settings.API_KEY_LOCKOUT_MINUTES = 1 / 60  # one second
    settings.API_KEY_FAILURE_LIMIT = 2
    for n in range(3):
        call_api(api, wrong_key(n))
    assert call_api(api, acme_key).status_code == 429
    time.sleep(1.2)
    assert call_api(api, acme_key).status_code == 200


@pytest.fixture
def ws_path(acme, alice) -> str:
    conversation = Conversation.objects.create(org=acme, user=alice, title="ws")
    return f"/ws/orgs/acme/conversations/{conversation.pk}/"


@pytest.mark.django_db(transaction=True)
async def test_twenty_five_wrong_keys_then_the_websocket_handshake_is_refused(ws_path, acme_key, settings) -> None:
    async def handshake(secret: str) -> tuple[bool, int | None]:
        socket = communicator(ws_path, secret)
        socket.scope["client"] = [ATTACKER, 50000]
        return await refusal(socket)

    outcomes = [await handshake(wrong_key(n)) for n in range(25)]
    limit = settings.API_KEY_FAILURE_LIMIT
    assert outcomes[:limit] == [(True, 4401)] * limit
    assert set(outcomes[limit:]) == {(True, 4429)}
    assert await handshake(acme_key) == (True, 4429)
    assert await sync_to_async(AuditEvent.objects.filter(action="auth.api_key_locked_out").count)() == 1
