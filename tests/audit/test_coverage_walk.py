"""Every mutating route in the catalogue records exactly one audit event per successful call (2xx,
or a page's redirect after its POST), carrying the actor, the API key when the call used one, the
request id sent and the client address.

A route added to tests/routes.py (test_isolation makes every tenant route appear there) is walked
here: one that changes something without recording it fails, unless it is listed in EXEMPT with
the reason its writes are kept elsewhere.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from conversations import services as conversations
from presets.services import sharing
from tenancy.models import Membership
from tenancy.permissions import Scope
from tests.presets_world import gallery_tutor
from tests.routes import CALLS, Call, World, build_world

pytestmark = pytest.mark.usefixtures("fake_llm")

CLIENT_ADDRESS = "203.0.113.7"
MUTATING = frozenset({"post", "put", "patch", "delete"})

# (route name, method) → why a successful call records no event.
EXEMPT: dict[tuple[str, str], str] = {
    # A chat turn is the content of the caller's own conversation: its Message rows and its one
    # UsageRecord are its record, and one event per message would make the trail a second transcript.
    ("conversation-messages", "post"): "a chat turn (Message and UsageRecord rows)",
    ("conversation-regenerate", "post"): "a chat turn (Message and UsageRecord rows)",
    ("conversation-edit", "post"): "a chat turn (Message and UsageRecord rows)",
    # A thumbs up or down on an answer in one's own conversation: the Feedback row is the record.
    ("message-feedback", "put"): "a vote on an answer (the Feedback row)",
    ("message-feedback", "delete"): "a vote on an answer (the Feedback row)",
    # POST only because the draft travels in a form: it counts tokens and changes nothing.
    ("preset-token-count-page", "post"): "a computation, not a change",
}

# (route name, method) → the events a successful call records, when it is more than one change.
COMPOUND: dict[tuple[str, str], list[str]] = {
    # Promoting moves the slot's label (audited as every label move is) and stops the experiment.
    ("experiment-promote", "post"): ["preset.label_moved", "experiment.promoted"],
}

WALKED = [call for call in CALLS if call.method in MUTATING and (call.name, call.method) not in EXEMPT]
API_WALKED = [call for call in WALKED if not call.page]  # pages take the session only


def prepare(call: Call, world: World) -> None:
    """Bring the world to where the call has something to do (outside the counted window)."""
    if call.name == "chat-upgrade":  # upgrades a conversation pinned at an older version of its preset
        membership = Membership.objects.get(org=world.org, user=world.caller)
        preset = world.presets.own
        conversations.conversation_apply_preset(
            conversation=world.conversation, membership=membership, preset=preset, version=1, variables={}
        )


def walk(call: Call, world: World, client: Any, request_id: str) -> tuple[Any, list[AuditEvent]]:
    prepare(call, world)
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    url = reverse(call.name, kwargs=call.kwargs(world)) + call.query
    body = call.body(world) if call.body else None
    response = getattr(client, call.method)(
        url, body, format=call.body_format, HTTP_X_REQUEST_ID=request_id, REMOTE_ADDR=CLIENT_ADDRESS
    )
    return response, list(AuditEvent.objects.filter(pk__gt=last).order_by("pk"))


def assert_one_event(
    response: Any, events: list[AuditEvent], *, world: World, request_id: str, key: Any, call: Call
) -> None:
    call_name, method = call.name, call.method
    assert response.status_code < 400, (response.status_code, getattr(response, "content", b"")[:300])
    expected = COMPOUND.get((call_name, method))
    if expected is not None:
        assert [event.action for event in events] == expected
        events = events[-1:]
    assert len(events) == 1, [event.action for event in events]
    event = events[0]
    assert (event.org_id, event.actor_user_id, event.actor_label) == (world.org.pk, world.caller.pk, "alice")
    assert (event.request_id, event.ip) == (request_id, CLIENT_ADDRESS)
    assert event.actor_api_key_id == (key.pk if key is not None else None)


@pytest.mark.parametrize("call", WALKED, ids=str)
def test_session_call_records_exactly_one_event(call: Call, acme, alice, api) -> None:
    world = build_world(acme, alice)
    client = api(alice)  # signs in (an `auth.signed_in` event) before the counted call
    response, events = walk(call, world, client, request_id=f"walk-{call.name}")
    assert_one_event(response, events, world=world, request_id=f"walk-{call.name}", key=None, call=call)


@pytest.mark.parametrize("call", API_WALKED, ids=str)
def test_api_key_call_records_exactly_one_event_with_the_key(call: Call, acme, alice, api, make_key) -> None:
    world = build_world(acme, alice)
    key, secret = make_key(alice, acme, [scope.value for scope in Scope])
    client = api(key=secret)
    assert client.get(reverse("org-detail", kwargs={"org_slug": acme.slug})).status_code == 200  # today's first use
    response, events = walk(call, world, client, request_id=f"key-{call.name}")
    assert_one_event(response, events, world=world, request_id=f"key-{call.name}", key=key, call=call)


def test_exemptions_name_mutating_routes_of_the_catalogue() -> None:
    catalogued = {(call.name, call.method) for call in CALLS}
    assert set(EXEMPT) <= catalogued
    assert all(method in MUTATING for _, method in EXEMPT)


VARIABLES = {"variables": {"subject": "tides"}}  # the gallery preset's required variable


def outside_calls(tutor: Any, token: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The mutating routes outside an organisation's URL (not in the catalogue): path and body."""
    return {
        "org-list": ("/api/v1/orgs/", {"name": "Initech", "slug": "initech"}),
        "gallery-clone": (f"/api/v1/gallery/{tutor.pk}/clone/", {"org": "globex"}),
        "link-clone": (f"/api/v1/links/{token}/clone/", {"org": "globex"}),
        "gallery-conversations": (f"/api/v1/gallery/{tutor.pk}/conversations/", {"org": "globex", **VARIABLES}),
        "link-conversations": (f"/api/v1/links/{token}/conversations/", {"org": "globex", **VARIABLES}),
    }


@pytest.mark.parametrize(
    "route", ["org-list", "gallery-clone", "link-clone", "gallery-conversations", "link-conversations"]
)
def test_routes_outside_an_org_record_exactly_one_event(route: str, acme, alice, globex, carol, api) -> None:
    tutor = gallery_tutor(acme, alice)
    _, token = sharing.link_create(
        preset=tutor, actor=alice, level="view", audience="any_signed_in_user", expires_at=None, max_uses=None
    )
    path, body = outside_calls(tutor, token)[route]
    client = api(carol)
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client.post(path, body, format="json", HTTP_X_REQUEST_ID=f"out-{route}", REMOTE_ADDR=CLIENT_ADDRESS)
    assert response.status_code == 201, response.json()
    events = list(AuditEvent.objects.filter(pk__gt=last).order_by("pk"))
    # One event in the organisation acted in; a link's use is also one event on its own organisation's trail.
    acted_in = [event for event in events if event.org_id != acme.pk]
    assert len(acted_in) == 1, [event.action for event in events]
    assert [event.action for event in events if event.org_id == acme.pk] in ([], ["preset_link.opened"])
    for event in events:
        assert (event.actor_user, event.request_id, event.ip) == (carol, f"out-{route}", CLIENT_ADDRESS)
