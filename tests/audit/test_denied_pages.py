"""Browser pages record a 404 that hid another organisation's row as the API does (`access.denied` in
the caller's organisation, naming the id only); an id that exists nowhere records nothing, and the
answer is the same either way. Walks every page of the catalogue that addresses an object."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.routes import CALLS, Call, build_world

pytestmark = pytest.mark.usefixtures("fake_llm")

ADDRESS = "198.51.100.9"
ADDRESSING_PAGES = [call for call in CALLS if call.page and call.addresses_object]


def denials() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.denied").order_by("pk"))


@pytest.fixture
def dave(globex):
    """An owner of Globex (every page's role check passes), probing ids of Acme."""
    user = UserFactory(username="dave")
    MembershipFactory(org=globex, user=user, role=Role.OWNER)
    return user


def unknown_ids(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same URL with every UUID replaced by one that exists nowhere."""
    return {name: uuid.uuid4() if isinstance(value, uuid.UUID) else value for name, value in kwargs.items()}


def call_page(client: Any, call: Call, kwargs: dict[str, Any], body: Any) -> Any:
    url = reverse(call.name, kwargs=kwargs) + call.query
    return getattr(client, call.method)(url, body, format=call.body_format, REMOTE_ADDR=ADDRESS)


@pytest.mark.parametrize("call", ADDRESSING_PAGES, ids=str)
def test_a_page_hiding_another_orgs_row_records_it_in_the_callers_org(call: Call, acme, alice, globex, dave, api):
    world = build_world(acme, alice)
    kwargs = {**call.kwargs(world), "org_slug": "globex"}
    body = call.body(world) if call.body else None
    client = api(dave)
    missing = call_page(client, call, unknown_ids(kwargs), body)
    assert missing.status_code == 404
    assert denials() == []  # an id that exists nowhere is not an attempt on anything
    foreign = call_page(client, call, kwargs, body)
    assert foreign.status_code == 404
    assert foreign.content == missing.content  # existence does not leak through the answer
    [event] = denials()
    assert (event.org, event.actor_user, event.ip) == (globex, dave, ADDRESS)
    assert event.target_id in {str(value) for value in kwargs.values()}
    # exactly this: nothing names the organisation the row belongs to
    assert event.payload == {"status": 404, "code": "not_found", "route": call.name, "method": call.method.upper()}


def test_a_page_hiding_a_row_of_the_callers_own_org_records_nothing(acme, alice, bob, api) -> None:
    world = build_world(acme, alice)  # alice's private preset: bob, in the same organisation, cannot see it
    response = api(bob).get(reverse("preset-page", kwargs={"org_slug": "acme", "pk": world.presets.own.pk}))
    assert response.status_code == 404
    assert denials() == []


def test_a_foreign_organisation_is_recorded_once_on_the_platform_trail(acme, alice, carol, api) -> None:
    world = build_world(acme, alice)
    response = api(carol).get(reverse("preset-page", kwargs={"org_slug": "acme", "pk": world.presets.own.pk}))
    assert response.status_code == 404
    [event] = denials()  # page_membership's record; the page never looked the preset up
    assert (event.org, event.target_type) == (None, "tenancy.organization")


@pytest.mark.parametrize(("route", "method"), [("chat-start", "post"), ("chat-new", "get")])
def test_a_preset_id_sent_in_a_form_or_query_is_recorded_like_a_url_id(route, method, acme, alice, dave, api) -> None:
    world = build_world(acme, alice)
    url = reverse(route, kwargs={"org_slug": "globex"})
    client = api(dave)
    ids = (uuid.uuid4(), world.presets.own.pk)  # one that exists nowhere, then Acme's
    answers = [getattr(client, method)(url, {"preset": str(pk)}, format="multipart") for pk in ids]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert answers[0].content == answers[1].content
    [event] = denials()
    assert (event.actor_user, event.target_type, event.target_id) == (dave, "presets.preset", str(world.presets.own.pk))
    assert event.payload["route"] == route
