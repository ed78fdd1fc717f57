"""Grants to people and teams, share links, and why global permissions change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from audit.models import AuditEvent
from presets.models import PresetLink
from presets.selectors import preset_list_visible
from tests.factories import MembershipFactory
from tests.presets.conftest import url


def share(api, owner, preset_id, **body):
    return api(owner).post(url("preset-share-list", preset_id=preset_id), body, format="json")


def test_grant_to_user_lists_and_revokes(api, alice, bob, create) -> None:
    preset = create(alice)
    detail = url("preset-detail", pk=preset["id"])
    assert api(bob).get(detail).status_code == 404
    granted = share(api, alice, preset["id"], user="bob", level="view")
    assert granted.status_code == 201
    assert granted.json()["id"] == f"user-{bob.pk}"
    assert api(bob).get(detail).json()["access"] == "view"
    regrant = share(api, alice, preset["id"], user="bob", level="edit")
    assert regrant.json()["level"] == "edit"
    listed = api(alice).get(url("preset-share-list", preset_id=preset["id"])).json()
    assert [(s["kind"], s["name"], s["level"]) for s in listed] == [("user", "bob", "edit")]
    revoke = api(alice).delete(url("preset-share-detail", preset_id=preset["id"], principal=f"user-{bob.pk}"))
    assert revoke.status_code == 204
    assert api(bob).get(detail).status_code == 404
    actions = list(AuditEvent.objects.filter(target_id=preset["id"]).values_list("action", flat=True))
    assert actions[:3] == ["preset.unshared", "preset.shared", "preset.shared"]


def test_grant_to_team_reaches_its_members(api, alice, bob, team, create) -> None:
    owner = MembershipFactory(org=team.org).user
    preset = create(owner, slug="for-eng")
    assert share(api, owner, preset["id"], team=str(team.pk), level="use").status_code == 201
    assert api(bob).get(url("preset-detail", pk=preset["id"])).json()["access"] == "use"


def test_shares_only_within_the_organisation(api, alice, carol, globex, create) -> None:
    from tests.factories import TeamFactory

    preset = create(alice)
    assert share(api, alice, preset["id"], user="carol", level="view").status_code == 400
    assert share(api, alice, preset["id"], team=str(TeamFactory(org=globex).pk), level="view").status_code == 400
    assert share(api, alice, preset["id"], level="view").status_code == 400
    assert share(api, alice, preset["id"], user="bob", team="x", level="view").status_code == 400


def test_only_managers_share(api, alice, bob, create) -> None:
    preset = create(alice)
    share(api, alice, preset["id"], user="bob", level="edit")
    response = share(api, bob, preset["id"], user="alice", level="view")
    assert response.status_code == 403


def test_revoking_an_unknown_principal_is_404(api, alice, create) -> None:
    preset = create(alice)
    known = url("preset-share-detail", preset_id=preset["id"], principal="user-1")
    for principal in ["user-999999", "team-00000000-0000-0000-0000-000000000000", "team-abc", "user-abc"]:
        target = known.replace("user-1", principal)
        assert api(alice).delete(target).status_code == 404


def test_global_permission_grant_does_not_widen_visibility(api, alice, bob, acme, create) -> None:
    preset = create(alice)
    for codename in ["view_preset", "change_preset", "use_preset"]:
        bob.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="presets"))
    bob = type(bob).objects.get(pk=bob.pk)  # drop the permission cache
    assert bob.has_perm("presets.view_preset")
    assert api(bob).get(url("preset-detail", pk=preset["id"])).status_code == 404
    assert not preset_list_visible(membership=bob.memberships.get(org=acme)).exists()


def make_link(api, owner, preset_id, **body):
    response = api(owner).post(url("preset-link-list", preset_id=preset_id), body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_link_token_is_shown_once_stored_hashed_and_opens_read_only(api, alice, bob, create) -> None:
    import hashlib

    preset = create(alice, system_prompt="Linked prompt.")
    link = make_link(api, alice, preset["id"])
    stored = PresetLink.objects.get(pk=link["id"])
    assert stored.token_hash == hashlib.sha256(link["token"].encode()).hexdigest()
    assert len(link["token"]) >= 32  # 192 random bits, URL-safe
    opened = api(bob).get(f"/api/v1/links/{link['token']}/")
    assert opened.status_code == 200
    assert (opened.json()["system_prompt"], opened.json()["access"]) == ("Linked prompt.", "view")
    assert "token" not in api(alice).get(url("preset-link-list", preset_id=preset["id"])).json()["results"][0]
    stored.refresh_from_db()
    assert stored.uses == 1
    assert AuditEvent.objects.filter(action="preset_link.opened", target_id=link["id"]).count() == 1


def test_use_link_hides_prompt_and_cannot_be_cloned(api, alice, bob, create) -> None:
    preset = create(alice)
    link = make_link(api, alice, preset["id"], level="use")
    assert api(bob).get(f"/api/v1/links/{link['token']}/").json()["system_prompt"] is None
    assert api(bob).post(f"/api/v1/links/{link['token']}/clone/", {}, format="json").status_code == 403


@pytest.mark.parametrize("state", ["revoked", "expired", "exhausted", "deleted"])
def test_dead_links_are_404(api, alice, bob, create, state) -> None:
    preset = create(alice)
    link = make_link(api, alice, preset["id"], max_uses=1)
    if state == "revoked":
        api(alice).delete(url("preset-link-detail", preset_id=preset["id"], pk=link["id"]))
    elif state == "expired":
        PresetLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "exhausted":  # its one use went to another person
        other = MembershipFactory(org=PresetLink.objects.get(pk=link["id"]).org).user
        assert api(other).get(f"/api/v1/links/{link['token']}/").status_code == 200
    else:
        api(alice).delete(url("preset-detail", pk=preset["id"]))
    response = api(bob).get(f"/api/v1/links/{link['token']}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_one_use_link_is_one_person_s_who_may_open_it_again_and_clone_it(api, alice, bob, create) -> None:
    preset = create(alice)
    link = make_link(api, alice, preset["id"], max_uses=1)
    opened = [api(bob).get(f"/api/v1/links/{link['token']}/").status_code for _ in range(2)]

    clone = api(bob).post(f"/api/v1/links/{link['token']}/clone/", {}, format="json")

    assert opened == [200, 200]
    assert clone.status_code == 201, clone.json()
    assert PresetLink.objects.get(pk=link["id"]).uses == 1
    newcomer = MembershipFactory(org=PresetLink.objects.get(pk=link["id"]).org).user
    assert api(newcomer).get(f"/api/v1/links/{link['token']}/").status_code == 404  # the one use is taken


def test_org_audience_link_is_404_outside_the_org_and_any_user_link_clones_across(api, alice, carol, create) -> None:
    preset = create(alice, slug="shared")
    org_link = make_link(api, alice, preset["id"])
    assert api(carol).get(f"/api/v1/links/{org_link['token']}/").status_code == 404
    open_link = make_link(api, alice, preset["id"], audience="any_signed_in_user")
    clone = api(carol).post(f"/api/v1/links/{open_link['token']}/clone/", {}, format="json")
    assert clone.status_code == 201
    assert (clone.json()["owner"], clone.json()["scope"], clone.json()["slug"]) == ("carol", "private", "shared-copy")
    assert api(carol).get(url("preset-detail", org="globex", pk=clone.json()["id"])).status_code == 200


def test_link_of_another_preset_cannot_be_revoked_through_this_one(api, alice, create) -> None:
    first, second = create(alice, slug="first"), create(alice, slug="second")
    link = make_link(api, alice, first["id"])
    assert api(alice).delete(url("preset-link-detail", preset_id=second["id"], pk=link["id"])).status_code == 404
    assert PresetLink.objects.get(pk=link["id"]).revoked_at is None


def test_garbage_tokens_are_404_and_anonymous_is_401(api, bob, acme) -> None:
    assert api(bob).get("/api/v1/links/not-a-token/").status_code == 404
    assert api().get("/api/v1/links/not-a-token/").status_code == 401


@pytest.mark.parametrize(
    "body", [{"max_uses": 0}, {"level": "edit"}, {"audience": "world"}, {"expires_at": "2001-01-01T00:00:00Z"}]
)
def test_invalid_link_requests_are_400(api, alice, create, body) -> None:
    preset = create(alice)
    response = api(alice).post(url("preset-link-list", preset_id=preset["id"]), body, format="json")
    assert response.status_code == 400
    assert not PresetLink.objects.exists()
