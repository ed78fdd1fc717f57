"""Denied attempts are on the trail (`access.denied`): every 403, and a 404 that hid a row existing in
another organisation; never a 404 for what exists nowhere. The answer is the same either way."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.db import DatabaseError
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets import audit_sink
from conversations.models import Conversation
from presets.services import sharing
from tenancy.models import Role
from tests.conversations.test_websocket import communicator, refusal
from tests.factories import MembershipFactory, UserFactory
from tests.presets_world import gallery_tutor, make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")

ADDRESS = "198.51.100.4"


def denials() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.denied").order_by("pk"))


def preset_url(org_slug: str, pk: Any) -> str:
    return reverse("preset-detail", kwargs={"org_slug": org_slug, "pk": pk})


@pytest.fixture
def dave(globex):
    """An owner of Globex: a member of an organisation, probing ids of another."""
    user = UserFactory(username="dave")
    MembershipFactory(org=globex, user=user, role=Role.OWNER)
    return user


def test_a_role_refusal_is_recorded_with_who_where_and_how(api, acme, bob) -> None:
    response = api(bob).patch(
        reverse("org-detail", kwargs={"org_slug": "acme"}),
        {"name": "Mine"},
        format="json",
        HTTP_X_REQUEST_ID="deny-1",
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    [event] = denials()
    assert (event.org, event.actor_user, event.request_id, event.ip) == (acme, bob, "deny-1", ADDRESS)
    assert event.payload == {"status": 403, "code": "permission_denied", "route": "org-detail", "method": "PATCH"}
    assert event.actor_api_key_id is None


def test_a_key_scope_refusal_carries_the_key(api, acme, alice, make_key) -> None:
    key, secret = make_key(alice, acme, ["org:read"])
    response = api(key=secret).post(
        reverse("team-list", kwargs={"org_slug": "acme"}), {"name": "Ops", "slug": "ops"}, format="json"
    )
    assert response.status_code == 403
    [event] = denials()
    assert (event.org, event.actor_user, event.actor_api_key_id) == (acme, alice, key.pk)
    assert event.payload["route"] == "team-list"


def test_a_rule_refusal_keeps_its_own_code(api, acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "secret-sauce")
    sharing.share_grant(preset=preset, actor=alice, level="use", user=bob)
    url = reverse("preset-version-list", kwargs={"org_slug": "acme", "preset_id": preset.pk})
    assert api(bob).get(url).status_code == 403
    [event] = denials()
    assert (event.org, event.payload["code"]) == (acme, "prompt_hidden")


def test_another_orgs_existing_id_is_recorded_in_the_callers_org_only(api, acme, alice, globex, dave) -> None:
    preset = make_preset(acme, alice, "acme-only")
    foreign = api(dave).get(preset_url("globex", preset.pk), REMOTE_ADDR=ADDRESS)
    missing = api(dave).get(preset_url("globex", uuid.uuid4()), REMOTE_ADDR=ADDRESS)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()  # existence does not leak through the answer
    [event] = denials()  # the unknown id is not an attempt on anything
    assert (event.org, event.actor_user, event.ip) == (globex, dave, ADDRESS)
    assert (event.target_type, event.target_id) == ("presets.preset", str(preset.pk))
    # exactly this: nothing names the organisation the preset belongs to
    assert event.payload == {"status": 404, "code": "not_found", "route": "preset-detail", "method": "GET"}


def test_a_parent_id_from_another_org_is_recorded(api, acme, alice, globex, dave) -> None:
    preset = make_preset(acme, alice, "acme-parent")
    url = reverse("preset-version-list", kwargs={"org_slug": "globex", "preset_id": preset.pk})
    assert api(dave).get(url).status_code == 404
    [event] = denials()
    assert (event.org, event.target_id) == (globex, str(preset.pk))


def test_an_organisation_the_caller_is_not_in_goes_on_the_platform_trail(api, acme, carol) -> None:
    foreign = api(carol).get(reverse("member-list", kwargs={"org_slug": "acme"}))
    unknown = api(carol).get(reverse("member-list", kwargs={"org_slug": "no-such-org"}))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    [event] = denials()
    assert (event.org, event.actor_user) == (None, carol)
    assert (event.target_type, event.target_id) == ("tenancy.organization", str(acme.pk))


def test_a_page_refusal_is_recorded(api, acme, bob) -> None:
    response = api(bob).post(reverse("account-members", kwargs={"org_slug": "acme"}), {"user": "x"})
    assert response.status_code == 403
    [event] = denials()
    assert (event.org, event.payload["route"], event.payload["method"]) == (acme, "account-members", "POST")


def test_a_chat_refusal_is_recorded_whatever_the_transport(api, acme, alice, make_key) -> None:
    key, secret = make_key(alice, acme, ["org:read"])
    conversation = api(alice).post(reverse("conversation-list", kwargs={"org_slug": "acme"}), {}, format="json")
    url = reverse("conversation-messages", kwargs={"org_slug": "acme", "pk": conversation.json()["id"]})
    assert api(key=secret).post(url, {"content": "Hi"}, format="json").status_code == 403
    [event] = denials()
    assert (event.org, event.actor_api_key_id, event.payload["route"]) == (acme, key.pk, "chat")


def test_a_failed_write_leaves_the_refusal_unchanged(api, acme, bob, monkeypatch) -> None:
    url, client = reverse("org-detail", kwargs={"org_slug": "acme"}), api(bob)
    expected = client.patch(url, {"name": "Mine"}, format="json")

    def broken(**kwargs: Any) -> None:
        raise DatabaseError("the trail is unavailable")

    monkeypatch.setattr(audit_sink, "_writer", broken)
    response = client.patch(url, {"name": "Mine"}, format="json")
    assert (response.status_code, response.json()) == (expected.status_code, expected.json())


def test_routes_acting_in_a_named_org_record_their_refusals(api, acme, alice, globex, carol) -> None:
    tutor = gallery_tutor(acme, alice)
    url = f"/api/v1/gallery/{tutor.pk}/clone/"
    viewer = UserFactory(username="vera")
    MembershipFactory(org=globex, user=viewer, role=Role.VIEWER)
    assert api(carol).post(url, {"org": "acme"}, format="json").status_code == 404
    assert api(viewer).post(url, {"org": "globex"}, format="json").status_code == 403
    foreign, refused = denials()
    assert (foreign.org, foreign.actor_user, foreign.target_id) == (None, carol, str(acme.pk))
    assert (refused.org, refused.actor_user, refused.payload["route"]) == (globex, viewer, "gallery-clone")


def test_a_turn_on_another_orgs_conversation_is_recorded(api, acme, alice, globex, dave) -> None:
    conversation = Conversation.objects.create(org=acme, user=alice, title="Acme's")
    url = reverse("conversation-messages", kwargs={"org_slug": "globex", "pk": conversation.pk})
    assert api(dave).post(url, {"content": "Hi"}, format="json").status_code == 404
    [event] = denials()
    assert (event.org, event.actor_user, event.target_id) == (globex, dave, str(conversation.pk))
    assert (event.payload["route"], event.payload["method"]) == ("conversation-messages", "POST")


@pytest.mark.django_db(transaction=True)
async def test_a_handshake_on_another_orgs_conversation_is_recorded(acme, alice, globex, dave, make_key) -> None:
    _, secret = await sync_to_async(make_key)(dave, globex, ["chat"])
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=alice, title="Acme's")
    assert await refusal(communicator(f"/ws/orgs/globex/conversations/{conversation.pk}/", secret)) == (True, 4404)
    [event] = await sync_to_async(denials)()
    assert (event.org_id, event.target_id, event.payload["route"]) == (
        globex.pk,
        str(conversation.pk),
        "ws-conversation",
    )
