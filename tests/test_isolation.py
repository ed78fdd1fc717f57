"""Another organisation's people and ids get 404 on every tenant route, and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.models import AuditEvent
from chatpresets.routing import websocket_urlpatterns
from tenancy.models import ApiKey, Membership, Role, Team, TeamMembership
from tests.factories import MembershipFactory, UserFactory
from tests.routes import CALLS, ROUTE_NAMES, Call, build_world

# Each websocket route has cross-organisation tests in tests/conversations/test_websocket.py.
WEBSOCKET_ROUTES_COVERED = {"ws-conversation"}

pytestmark = pytest.mark.usefixtures("fake_llm")  # chat routes call the model

ATTEMPTS = ("access.denied", "auth.signed_in")


def tenant_route_names(patterns: list[Any], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        text = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            names |= tenant_route_names(pattern.url_patterns, text)
        elif isinstance(pattern, URLPattern) and "org_slug" in text:
            names.add(pattern.name)
    return names


def snapshot() -> dict[str, Any]:
    return {
        "memberships": sorted(Membership.objects.values_list("id", "role")),
        "teams": sorted(Team.objects.values_list("id", "name", "slug", "description")),
        "team_memberships": sorted(TeamMembership.objects.values_list("id", "is_lead")),
        "api_keys": sorted(ApiKey.objects.values_list("id", "revoked_at")),
        # Attempts are recorded (the refusal itself, signing in); changes must not be.
        "audit_events": AuditEvent.objects.exclude(action__in=ATTEMPTS).count(),
    }


def request(client: Any, call: Call, kwargs: dict[str, Any], body: dict[str, Any] | None) -> Any:
    return getattr(client, call.method)(reverse(call.name, kwargs=kwargs) + call.query, body, format=call.body_format)


def test_every_tenant_route_is_in_the_catalogue() -> None:
    assert tenant_route_names(get_resolver().url_patterns) == ROUTE_NAMES
    assert {route.name for route in websocket_urlpatterns} == WEBSOCKET_ROUTES_COVERED


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_member_of_another_org_gets_404_and_changes_nothing(call: Call, acme, alice, carol, api) -> None:
    world = build_world(acme, alice)
    before = snapshot()
    response = request(api(carol), call, call.kwargs(world), call.body(world) if call.body else None)
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("call", [c for c in CALLS if c.addresses_object], ids=str)
def test_owner_of_another_org_cannot_reach_acme_ids_through_own_org(call: Call, acme, alice, globex, api) -> None:
    dave = UserFactory(username="dave")
    MembershipFactory(org=globex, user=dave, role=Role.OWNER)
    world = build_world(acme, alice)
    world.own_key = build_world(globex, dave).own_key if call.name == "api-key-detail" else world.own_key
    kwargs = {**call.kwargs(world), "org_slug": globex.slug}
    if call.name == "api-key-detail":
        kwargs["pk"] = ApiKey.objects.get(org=acme, user=alice, name="own").pk
    before = snapshot()
    response = request(api(dave), call, kwargs, call.body(world) if call.body else None)
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_anonymous_caller_is_refused_everywhere(call: Call, acme, alice, api) -> None:
    world = build_world(acme, alice)
    response = request(api(), call, call.kwargs(world), call.body(world) if call.body else None)
    if call.page:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_unknown_org_slug_is_the_same_404_as_a_foreign_one(api, carol, acme) -> None:
    foreign = api(carol).get(reverse("member-list", kwargs={"org_slug": "acme"}))
    missing = api(carol).get(reverse("member-list", kwargs={"org_slug": "no-such-org"}))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
