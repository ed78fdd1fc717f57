"""One chat caller on every chat transport: the same refusal gets the same code and message, and
what a key does there is audited with the key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from audit.models import AuditEvent
from chatpresets.asgi import application
from chatpresets.errors import DomainError, NotFound
from conversations.models import Conversation
from tenancy.chat_caller import BadApiKey, ChatNotAllowed, NotAuthenticated, chat_caller_as_stored
from tenancy.models import ApiKey, Membership, Role, User
from tests.api_docs import response_body
from tests.conversations.test_guardrails import limit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]

COMPLETION = {"model": "fake", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}

# Each refusal, the error every transport gives it; the websocket handshake closes with 4000 + status.
REFUSALS: dict[str, type[DomainError]] = {
    "no credentials": NotAuthenticated,
    "a forged key": BadApiKey,
    "a revoked key": BadApiKey,
    "another organisation's key": NotFound,
    "a key without the chat scope": ChatNotAllowed,
    "a role without chat": ChatNotAllowed,
}
URL_ONLY = {"another organisation's key"}  # /v1 acts in the key's own organisation: no URL to mismatch


@pytest.fixture
def world(acme, alice, carol, globex, make_key, member_with_role) -> dict[str, Any]:
    """Alice's conversation, and for each refusal the secret (None: no header) that earns it."""
    conversation = Conversation.objects.create(org=acme, user=alice, title="caller")
    revoked, revoked_secret = make_key(alice, acme, ["chat"])
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    secrets = {
        "no credentials": None,
        "a forged key": "cpk_000000000000_forged",
        "a revoked key": revoked_secret,
        "another organisation's key": make_key(carol, globex, ["chat"])[1],
        "a key without the chat scope": make_key(alice, acme, ["presets:read"])[1],
        "a role without chat": make_key(member_with_role(Role.VIEWER), acme, ["chat"])[1],
    }
    return {"conversation": conversation, "secrets": secrets}


def over_http(api: Callable, conversation: Conversation, secret: str | None) -> tuple[int, str, str]:
    path = f"/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
    return answer(api(key=secret).post(path, {"content": "hi"}, format="json"))


def over_completions(api: Callable, conversation: Conversation, secret: str | None) -> tuple[int, str, str]:
    return answer(api(key=secret).post("/v1/chat/completions", COMPLETION, format="json"))


def over_models(api: Callable, conversation: Conversation, secret: str | None) -> tuple[int, str, str]:
    return answer(api(key=secret).get("/v1/models"))


def answer(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def socket(conversation: Conversation, secret: str | None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {secret}".encode())] if secret else []
    return WebsocketCommunicator(application, f"/ws/orgs/acme/conversations/{conversation.pk}/", headers=headers)


async def handshake_close_code(conversation: Conversation, secret: str | None) -> int:
    communicator = socket(conversation, secret)
    connected, _ = await communicator.connect()
    assert connected  # refused handshakes are accepted, then closed, so the code reaches the client
    closing = await communicator.receive_output(timeout=5)
    await communicator.disconnect()
    return closing["code"]


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
async def test_every_refusal_is_the_same_error_on_every_transport(refusal, world, api) -> None:
    error, secret, conversation = REFUSALS[refusal], world["secrets"][refusal], world["conversation"]
    expected = (error.status_code, error.code, error.message)
    transports = [over_http] + ([] if refusal in URL_ONLY else [over_completions, over_models])
    for transport in transports:
        assert await sync_to_async(transport)(api, conversation, secret) == expected, transport.__name__
    assert await handshake_close_code(conversation, secret) == 4000 + error.status_code


def demote_to_viewer(api_key: ApiKey) -> None:
    Membership.objects.filter(org=api_key.org, user=api_key.user).update(role=Role.VIEWER)


def remove_member(api_key: ApiKey) -> None:
    Membership.objects.filter(org=api_key.org, user=api_key.user).delete()


def revoke_key(api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())


def drop_chat_scope(api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(scopes=["presets:read"])


# Changed without a signal, so only the per-frame check can see them.
CHANGES: dict[str, tuple[Callable[[ApiKey], Any], type[DomainError]]] = {
    "key revoked": (revoke_key, BadApiKey),
    "chat scope dropped": (drop_chat_scope, ChatNotAllowed),
    "demoted to viewer": (demote_to_viewer, ChatNotAllowed),
    "no longer a member": (remove_member, NotFound),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_an_open_socket_that_loses_access_says_which_refusal_closed_it(change, bob, acme, make_key) -> None:
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=bob)
    api_key, secret = await sync_to_async(make_key)(bob, acme, ["chat"])
    communicator = socket(conversation, secret)
    assert (await communicator.connect())[0]
    apply, error = CHANGES[change]
    await sync_to_async(apply)(api_key)
    await communicator.send_json_to({"type": "ping"})
    frame = await communicator.receive_json_from(timeout=5)
    assert (frame["code"], frame["details"]) == ("access_revoked", {"reason": error.code})
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


def test_a_deactivated_session_user_is_not_authenticated(acme, bob) -> None:
    User.objects.filter(pk=bob.pk).update(is_active=False)
    with pytest.raises(NotAuthenticated):
        chat_caller_as_stored(user_id=bob.pk, key_id=None, org_slug="acme")


def test_a_session_caller_has_no_key(acme, bob) -> None:
    caller = chat_caller_as_stored(user_id=bob.pk, key_id=None, org_slug="acme")
    assert (caller.membership.user_id, caller.api_key, caller.api_key_id) == (bob.pk, None, None)
    with pytest.raises(NotAuthenticated):
        _ = caller.required_api_key  # /v1 takes keys only


def soft_limit_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="quota.soft_limit_reached"))


def crossing_soft_limits(acme) -> None:
    """The first answer crosses the soft limit, which is audited (quota.soft_limit_reached)."""
    limit(acme, user_tokens_day=1_000)
    acme.settings = {**acme.settings, "soft_limit_percent": 1}
    acme.save()


def send_over_http(api: Callable, conversation: Conversation, secret: str, *, stream: bool = False) -> None:
    path = f"/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
    response = api(key=secret).post(path, {"content": "hi", "stream": stream}, format="json")
    assert response.status_code == (200 if stream else 201)
    if stream:
        assert b"event: done" in response_body(response)  # the answer, and its audit, come as it is read


@pytest.mark.parametrize("transport", ["send", "send streamed", "completions"])
def test_an_action_audited_over_http_records_the_key(transport, api, acme, alice, make_key) -> None:
    crossing_soft_limits(acme)
    api_key, secret = make_key(alice, acme, ["chat"])
    if transport.startswith("send"):
        conversation = Conversation.objects.create(org=acme, user=alice)
        send_over_http(api, conversation, secret, stream=transport == "send streamed")
    else:
        assert api(key=secret).post("/v1/chat/completions", COMPLETION, format="json").status_code == 200
    assert [event.actor_api_key_id for event in soft_limit_events()] == [api_key.pk]


async def test_an_action_audited_over_the_websocket_records_the_key(acme, alice, make_key) -> None:
    await sync_to_async(crossing_soft_limits)(acme)
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=alice)
    api_key, secret = await sync_to_async(make_key)(alice, acme, ["chat"])
    communicator = socket(conversation, secret)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "send", "content": "hi"})
    while (await communicator.receive_json_from(timeout=5))["type"] != "done":
        pass
    await communicator.disconnect()
    for _ in range(50):  # the audit is written with the answer; give its thread a moment
        if events := await sync_to_async(soft_limit_events)():
            break
        await asyncio.sleep(0.1)
    assert [event.actor_api_key_id for event in events] == [api_key.pk]
