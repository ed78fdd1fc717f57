"""A PATCH changes only the fields it names: `{}` is a valid no-op on every PATCH route, as the schema says."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Role
from tests.routes import CALLS, Call, build_world

PATCHES = [call for call in CALLS if call.method == "patch"]


def test_every_patch_route_is_covered() -> None:
    assert {call.name for call in PATCHES} >= {"conversation-detail", "team-member-detail", "preset-detail"}


@pytest.mark.parametrize("call", PATCHES, ids=str)
def test_an_empty_patch_changes_nothing_and_succeeds(call: Call, acme, member_with_role, api) -> None:
    owner = member_with_role(Role.OWNER)
    world = build_world(acme, owner)
    url = reverse(call.name, kwargs=call.kwargs(world))
    client = api(owner)
    before = client.get(url).json()
    events = AuditEvent.objects.count()

    response = client.patch(url, {}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("call", PATCHES, ids=str)
def test_a_patch_still_needs_the_role_that_may_make_it(call: Call, acme, member_with_role, api) -> None:
    viewer = member_with_role(Role.VIEWER)
    world = build_world(acme, viewer)

    assert Role.VIEWER not in call.allowed

    response = api(viewer).patch(reverse(call.name, kwargs=call.kwargs(world)), {}, format="json")

    assert response.status_code == (404 if Role.VIEWER in call.invisible_to else 403)
