"""API keys: hashed at rest, scoped, expiring, revocable at once, bound to one organisation."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tenancy.models import ApiKey, Role
from tests.factories import MembershipFactory

MEMBERS = "member-list"


def members_url(slug: str = "acme") -> str:
    return reverse(MEMBERS, kwargs={"org_slug": slug})


def test_created_key_secret_is_shown_once_and_stored_only_as_hash(api, alice, acme) -> None:
    response = api(alice).post(
        reverse("api-key-list", kwargs={"org_slug": "acme"}), {"name": "ci", "scopes": ["org:read"]}, format="json"
    )
    assert response.status_code == 201
    secret = response.json()["key"]
    assert secret.startswith("cpk_")
    stored = ApiKey.objects.get(pk=response.json()["id"])
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.filter(pk=stored.pk).values().get())
    listed = api(alice).get(reverse("api-key-detail", kwargs={"org_slug": "acme", "pk": stored.pk})).json()
    assert "key" not in listed
    assert listed["prefix"] == stored.prefix


def test_key_authenticates_and_records_last_use(api, alice, acme, make_key) -> None:
    api_key, secret = make_key(alice, acme, ["org:read"])
    response = api(key=secret).get(members_url())
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_key_without_the_scope_is_refused(api, alice, acme, make_key) -> None:
    _, secret = make_key(alice, acme, ["presets:read"])
    response = api(key=secret).get(members_url())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_key_cannot_exceed_its_users_role(api, bob, acme, make_key) -> None:
    _, secret = make_key(bob, acme, ["org:write", "org:read"])
    response = api(key=secret).post(members_url(), {"user": "alice", "role": "admin"}, format="json")
    assert response.status_code == 403


def test_expired_key_is_refused(api, alice, acme, make_key) -> None:
    api_key, secret = make_key(alice, acme, ["org:read"])
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(key=secret).get(members_url())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revocation_takes_effect_on_the_next_request(api, alice, acme, make_key) -> None:
    api_key, secret = make_key(alice, acme, ["org:read"])
    client = api(key=secret)
    assert client.get(members_url()).status_code == 200
    revoke = api(alice).delete(reverse("api-key-detail", kwargs={"org_slug": "acme", "pk": api_key.pk}))
    assert revoke.status_code == 200
    assert revoke.json()["revoked_at"] is not None
    assert client.get(members_url()).status_code == 401
    assert AuditEvent.objects.filter(action="api_key.revoked", target_id=str(api_key.pk)).count() == 1


@pytest.mark.parametrize(
    "header",
    ["Bearer cpk_nothex", "Bearer cpk_000000000000_wrong", "Bearer ", "Bearer cpk_a_b_c"],
)
def test_malformed_or_unknown_key_is_401(api, acme, alice, header) -> None:
    client = api()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(members_url())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_tampered_secret_with_valid_prefix_is_refused(api, alice, acme, make_key) -> None:
    _, secret = make_key(alice, acme, ["org:read"])
    assert api(key=secret[:-2] + "xx").get(members_url()).status_code == 401


def test_key_only_works_under_its_own_organisation(api, alice, acme, globex, make_key) -> None:
    MembershipFactory(org=globex, user=alice, role=Role.OWNER)
    _, secret = make_key(alice, acme, ["org:read"])
    assert api(key=secret).get(members_url("globex")).status_code == 404
    assert api(alice).get(members_url("globex")).status_code == 200
    orgs = api(key=secret).get(reverse("org-list-list")).json()["results"]
    assert [org["slug"] for org in orgs] == ["acme"]
    me = api(key=secret).get(reverse("me")).json()
    assert [m["slug"] for m in me["memberships"]] == ["acme"]


def test_key_stops_working_when_its_user_leaves_the_organisation(api, alice, bob, acme, make_key) -> None:
    _, secret = make_key(bob, acme, ["org:read"])
    membership = bob.memberships.get(org=acme)
    assert (
        api(alice).delete(reverse("member-detail", kwargs={"org_slug": "acme", "pk": membership.pk})).status_code == 204
    )
    assert api(key=secret).get(members_url()).status_code == 401


def test_members_see_only_their_own_keys_and_admins_see_all(api, alice, bob, acme, make_key) -> None:
    alice_key, _ = make_key(alice, acme, ["org:read"])
    bob_key, _ = make_key(bob, acme, ["org:read"])
    bob_view = api(bob).get(reverse("api-key-list", kwargs={"org_slug": "acme"})).json()["results"]
    assert [k["id"] for k in bob_view] == [str(bob_key.pk)]
    detail = reverse("api-key-detail", kwargs={"org_slug": "acme", "pk": alice_key.pk})
    assert api(bob).get(detail).status_code == 404
    assert api(bob).delete(detail).status_code == 404
    alice_view = api(alice).get(reverse("api-key-list", kwargs={"org_slug": "acme"})).json()["results"]
    assert {k["id"] for k in alice_view} == {str(alice_key.pk), str(bob_key.pk)}


def test_key_cannot_mint_a_key_with_wider_scopes(api, alice, acme, make_key) -> None:
    _, secret = make_key(alice, acme, ["org:write"])
    url = reverse("api-key-list", kwargs={"org_slug": "acme"})
    wider = api(key=secret).post(url, {"name": "x", "scopes": ["org:write", "chat"]}, format="json")
    assert wider.status_code == 403
    assert wider.json()["error"]["code"] == "scope_escalation"
    same = api(key=secret).post(url, {"name": "y", "scopes": ["org:write"]}, format="json")
    assert same.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": ["org:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"scopes": ["org:read"]}, "name"),
    ],
)
def test_invalid_key_requests_name_the_field_and_create_nothing(api, alice, acme, body, field) -> None:
    response = api(alice).post(reverse("api-key-list", kwargs={"org_slug": "acme"}), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]
    assert ApiKey.objects.count() == 0


def test_body_cannot_choose_the_keys_user_or_organisation(api, bob, alice, acme, globex) -> None:
    body = {"name": "x", "scopes": ["org:read"], "user": alice.pk, "org": str(globex.pk)}
    response = api(bob).post(reverse("api-key-list", kwargs={"org_slug": "acme"}), body, format="json")
    assert response.status_code == 201
    api_key = ApiKey.objects.get(pk=response.json()["id"])
    assert (api_key.user, api_key.org) == (bob, acme)
