"""Chatting with another organisation's preset, from the gallery or through a share link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.utils import timezone

from audit.models import AuditEvent
from conversations.models import Conversation, UsageRecord
from conversations.outside_presets import conversation_from_link
from presets.models import Preset, PresetLink
from presets.services import lifecycle, review, sharing
from tenancy import services as tenancy_services
from tenancy.metering.quota import get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tenancy.models import Role
from tests.conversations.test_cost_controls import configure
from tests.conversations.test_websocket import communicator, frames_until_done, reply
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.presets_world import gallery_tutor, make_preset

pytestmark = pytest.mark.usefixtures("fake_llm")

SUBJECT = {"variables": {"subject": "tides"}}


@pytest.fixture
def tutor(acme, alice) -> Preset:
    return gallery_tutor(acme, alice)


def from_gallery(api, user, preset_id, **body):
    return api(user).post(f"/api/v1/gallery/{preset_id}/conversations/", {**SUBJECT, **body}, format="json")


def from_link(api, user, token, **body):
    return api(user).post(f"/api/v1/links/{token}/conversations/", {**SUBJECT, **body}, format="json")


def link_to(preset, owner, *, level="use", audience="any_signed_in_user", **fields) -> tuple[PresetLink, str]:
    fields = {"expires_at": None, "max_uses": None, **fields}
    return sharing.link_create(preset=preset, actor=owner, level=level, audience=audience, **fields)


def send_in(api, user, org, conversation_id, content="Hello"):
    return api(user).post(
        f"/api/v1/orgs/{org}/conversations/{conversation_id}/messages/", {"content": content}, format="json"
    )


def test_a_gallery_preset_runs_in_the_callers_org_at_its_gallery_version(api, carol, globex, tutor, fake_llm) -> None:
    started = from_gallery(api, carol, tutor.pk, title="Tides")
    assert started.status_code == 201, started.json()
    chat = started.json()
    assert (chat["preset"], chat["preset_version"], chat["preset_via"]) == (str(tutor.pk), 2, "gallery")
    assert Conversation.objects.get(pk=chat["id"]).org == globex
    answer = send_in(api, carol, "globex", chat["id"], "Why two a day?")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["message"]["preset_version"] == 2
    assert fake_llm.requests[-1]["messages"][0] == {"role": "system", "content": "Teach tides simply."}
    usage = UsageRecord.objects.get(message_id=answer.json()["message"]["id"])
    assert (usage.org, usage.user, usage.preset_id, usage.preset_version) == (globex, carol, tutor.pk, 2)
    event = AuditEvent.objects.get(org=globex, action="conversation.created")
    assert (event.actor_user, event.payload) == (
        carol,
        {"preset": str(tutor.pk), "preset_version": 2, "via": "gallery"},
    )


def test_quotas_and_the_presets_daily_budget_are_charged_to_the_callers_org(
    api, acme, alice, carol, globex, tutor
) -> None:
    chat = from_gallery(api, carol, tutor.pk).json()
    assert send_in(api, carol, "globex", chat["id"]).status_code == 201
    policy = {"daily_token_budget": 100_000}

    def used(user, org) -> dict[str, int]:
        membership = user.memberships.get(org=org)
        limits = [q for q in quota_limits(subjects(membership), preset_id=tutor.pk, policy=policy)]
        return {row.name: row.used for row in get_quota_store().usage(limits=limits)}

    spent = UsageRecord.objects.get(org=globex)
    tokens = spent.prompt_tokens + spent.completion_tokens
    assert tokens > 0
    assert used(carol, globex)["preset_tokens_day"] == tokens
    assert used(carol, globex)["org_tokens_day"] == tokens
    assert set(used(alice, acme).values()) == {0}  # the owner's organisation spent nothing
    assert not UsageRecord.objects.filter(org=acme).exists()


def test_the_callers_org_limits_refuse_the_turn(api, carol, globex, tutor) -> None:
    chat = from_gallery(api, carol, tutor.pk).json()
    configure(globex, limits={"org_tokens_day": 10})
    refused = send_in(api, carol, "globex", chat["id"])
    assert (refused.status_code, refused.json()["error"]["details"]["limit"]) == (429, "org_tokens_day")


def test_the_inspector_shows_what_the_gallery_shows_and_a_use_link_hides_the_prompt(api, alice, carol, tutor) -> None:
    chat = from_gallery(api, carol, tutor.pk).json()
    context = api(carol).get(f"/api/v1/orgs/globex/conversations/{chat['id']}/context/")
    assert context.status_code == 200
    assert context.json()["parts"][0]["content"] == "Teach tides simply."  # the gallery shows this prompt
    _, token = link_to(tutor, alice, level="use")
    linked = from_link(api, carol, token).json()
    context = api(carol).get(f"/api/v1/orgs/globex/conversations/{linked['id']}/context/").json()
    assert context["parts"][0]["content"] is None
    assert "draft" not in str(context)


def test_a_link_conversation_counts_a_use_and_audits_on_both_sides(api, acme, alice, carol, globex, tutor) -> None:
    link, token = link_to(tutor, alice)
    started = from_link(api, carol, token)
    assert started.status_code == 201, started.json()
    assert (started.json()["preset_version"], started.json()["preset_via"]) == (2, "link")
    link.refresh_from_db()
    assert link.uses == 1
    assert AuditEvent.objects.filter(org=acme, action="preset_link.opened", actor_user=carol).count() == 1
    created = AuditEvent.objects.get(org=globex, action="conversation.created")
    assert created.payload["via"] == "link"
    assert send_in(api, carol, "globex", started.json()["id"]).status_code == 201


def test_a_revoked_link_or_an_unpublished_preset_stops_the_conversation(api, alice, carol, tutor) -> None:
    link, token = link_to(tutor, alice)
    linked = from_link(api, carol, token).json()
    gallery = from_gallery(api, carol, tutor.pk).json()
    sharing.link_revoke(link=link, actor=alice)
    assert send_in(api, carol, "globex", linked["id"]).status_code == 404
    assert send_in(api, carol, "globex", gallery["id"]).status_code == 201  # the gallery still shows it
    lifecycle.preset_delete(preset=tutor, actor=alice)
    assert send_in(api, carol, "globex", gallery["id"]).status_code == 404
    context = api(carol).get(f"/api/v1/orgs/globex/conversations/{gallery['id']}/context/")
    assert context.status_code == 404


def test_applying_an_own_preset_ends_the_borrowed_one(api, carol, globex, tutor) -> None:
    chat = from_gallery(api, carol, tutor.pk).json()
    own = make_preset(globex, carol, "mine")
    body = {"preset": str(own.pk), "variables": {}}
    applied = api(carol).post(f"/api/v1/orgs/globex/conversations/{chat['id']}/preset/", body, format="json")
    assert (applied.status_code, applied.json()["preset"], applied.json()["preset_via"]) == (200, str(own.pk), "")
    assert send_in(api, carol, "globex", chat["id"]).status_code == 201


@pytest.mark.parametrize(
    "make",
    [
        lambda preset, owner: link_to(preset, owner, audience="org")[1],  # carol is not in the audience
        lambda preset, owner: link_to(preset, owner, expires_at=timezone.now() - timedelta(seconds=1))[1],
        lambda preset, owner: link_to(preset, owner, max_uses=0)[1],
        lambda preset, owner: _revoked(preset, owner),
        lambda preset, owner: _trashed(preset, owner),
        lambda preset, owner: "no-such-token",
    ],
    ids=["other-audience", "expired", "used-up", "revoked", "trashed-preset", "unknown"],
)
def test_a_link_that_does_not_reach_the_caller_is_404_and_starts_nothing(api, alice, carol, tutor, make) -> None:
    token = make(tutor, alice)
    refused = from_link(api, carol, token)
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    assert not Conversation.objects.exists()


def _revoked(preset, owner) -> str:
    link, token = link_to(preset, owner)
    sharing.link_revoke(link=link, actor=owner)
    return token


def _trashed(preset, owner) -> str:
    _, token = link_to(preset, owner)
    lifecycle.preset_delete(preset=preset, actor=owner)
    return token


def test_a_preset_not_in_the_gallery_is_the_same_404(api, acme, alice, carol, tutor) -> None:
    private = make_preset(acme, alice, "private-one")
    lifecycle.preset_update(preset=tutor, actor=alice, scope="org")  # leaves the gallery
    for preset_id in (private.pk, tutor.pk, "00000000-0000-0000-0000-000000000000"):
        refused = from_gallery(api, carol, preset_id)
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    assert api(carol).post("/api/v1/gallery/null,null/conversations/", {}, format="json").status_code == 404
    assert not Conversation.objects.exists()


def test_roles_org_choice_and_keys(api, acme, carol, globex, tutor, make_key) -> None:
    viewer = MembershipFactory(org=globex, role=Role.VIEWER).user
    refused = from_gallery(api, viewer, tutor.pk)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    assert from_gallery(api, carol, tutor.pk, org="acme").status_code == 404  # not her organisation
    assert from_gallery(api, carol, tutor.pk, org="no-such-org").status_code == 404
    MembershipFactory(org=OrganizationFactory(slug="initech"), user=carol, role=Role.MEMBER)
    ambiguous = from_gallery(api, carol, tutor.pk)
    assert (ambiguous.status_code, ambiguous.json()["error"]["details"]["field"]) == (400, "org")
    assert from_gallery(api, carol, tutor.pk, org="initech").json()["preset_via"] == "gallery"
    _, chat_key = make_key(carol, globex, ["chat"])
    by_key = api(key=chat_key).post(f"/api/v1/gallery/{tutor.pk}/conversations/", SUBJECT, format="json")
    assert by_key.status_code == 201  # a key acts in its own organisation
    assert Conversation.objects.get(pk=by_key.json()["id"]).org == globex
    _, read_key = make_key(carol, globex, ["presets:read"])
    refused = api(key=read_key).post(f"/api/v1/gallery/{tutor.pk}/conversations/", SUBJECT, format="json")
    assert refused.status_code == 403
    _, token = link_to(tutor, tutor.owner)
    assert api(key=chat_key).post(f"/api/v1/links/{token}/conversations/", SUBJECT, format="json").status_code == 403
    assert api().post(f"/api/v1/gallery/{tutor.pk}/conversations/", SUBJECT, format="json").status_code in (401, 403)


def test_bad_input_is_400(api, carol, tutor) -> None:
    for body in (
        {"title": "a\x00b"},
        {"org": "glo\x00bex"},
        {"variables": {"subject": 3, "x": []}},
        {"title": "x" * 201},
    ):
        refused = from_gallery(api, carol, tutor.pk, **body)
        assert refused.status_code == 400, body
    missing = api(carol).post(f"/api/v1/gallery/{tutor.pk}/conversations/", {}, format="json")
    assert missing.status_code == 400  # the required variable
    assert not Conversation.objects.exists()


def test_a_model_the_callers_org_does_not_allow_is_refused_before_anything_is_stored(
    api, alice, carol, globex, tutor
) -> None:
    configure(globex, allowed_models=["fake-backup"])
    refused = from_gallery(api, carol, tutor.pk)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "model_not_allowed")
    link, token = link_to(tutor, alice)
    assert from_link(api, carol, token).status_code == 403
    link.refresh_from_db()
    assert (link.uses, Conversation.objects.count()) == (0, 0)  # the refused start counted no use


def test_an_expired_link_stops_the_conversation_it_started(api, alice, carol, tutor) -> None:
    link, token = link_to(tutor, alice, expires_at=timezone.now() + timedelta(hours=1))
    chat = from_link(api, carol, token).json()
    assert send_in(api, carol, "globex", chat["id"]).status_code == 201
    PresetLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert send_in(api, carol, "globex", chat["id"]).status_code == 404


def test_a_purged_preset_is_not_silently_replaced_by_no_preset(api, alice, carol, tutor, fake_llm) -> None:
    chat = from_gallery(api, carol, tutor.pk).json()
    lifecycle.preset_delete(preset=tutor, actor=alice)
    lifecycle.preset_purge_expired(now=timezone.now() + lifecycle.retention() + timedelta(days=1))
    assert Conversation.objects.get(pk=chat["id"]).preset_id is None
    calls = len(fake_llm.requests)
    assert send_in(api, carol, "globex", chat["id"]).status_code == 404
    assert len(fake_llm.requests) == calls
    body = {"preset": None}
    cleared = api(carol).post(f"/api/v1/orgs/globex/conversations/{chat['id']}/preset/", body, format="json")
    assert cleared.json()["preset_via"] == ""
    assert send_in(api, carol, "globex", chat["id"]).status_code == 201


def test_newer_version_available_follows_what_the_route_shows(api, acme, alice, carol, tutor) -> None:
    gallery = from_gallery(api, carol, tutor.pk).json()
    _, token = link_to(tutor, alice)
    linked = from_link(api, carol, token).json()
    approver = MembershipFactory(org=acme, role="approver").user
    review.preset_approve(preset=tutor, actor=approver, number=3)  # the organisation's, not yet the gallery's

    def newer(chat) -> bool:
        return api(carol).get(f"/api/v1/orgs/globex/conversations/{chat['id']}/").json()["newer_version_available"]

    assert (newer(gallery), newer(linked)) == (False, True)
    review.preset_staff_approve_public(preset=tutor, staff=UserFactory(is_staff=True), number=3)
    assert newer(gallery) is True
    assert send_in(api, carol, "globex", gallery["id"]).json()["message"]["preset_version"] == 2  # still pinned


@pytest.mark.django_db(transaction=True)
async def test_a_use_link_conversation_streams_over_the_websocket_until_the_link_is_revoked(
    carol, globex, acme, alice, fake_llm
) -> None:
    tutor = await sync_to_async(gallery_tutor)(acme, alice)
    link, token = await sync_to_async(link_to)(tutor, alice, level="use")
    membership = await sync_to_async(carol.memberships.get)(org=globex)
    chat = await sync_to_async(conversation_from_link)(
        membership=membership, token=token, variables={"subject": "tides"}
    )
    _, key = await sync_to_async(tenancy_services.api_key_create)(
        org=globex, actor=carol, name="ws", scopes=["chat"], expires_at=None
    )
    socket = communicator(f"/ws/orgs/globex/conversations/{chat.pk}/", key)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": "Why two a day?"})
    frames = await frames_until_done(socket)
    assert frames[-1]["type"] == "done"
    (turn,) = [r for r in fake_llm.requests if r["messages"][-1]["content"] == "Why two a day?"]
    assert turn["messages"][0] == {"role": "system", "content": "Teach tides simply."}  # run, though never shown
    await sync_to_async(sharing.link_revoke)(link=link, actor=alice)
    await socket.send_json_to({"type": "send", "content": "And the moon?"})
    refused = await reply(socket)
    assert (refused["type"], refused["code"]) == ("error", "not_found")
    await socket.disconnect()
