"""The API keys, members and teams pages: the API's rules through HTML forms (and htmx partials)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.models import ApiKey, Membership, Role, Team, TeamMembership
from tests.factories import MembershipFactory, TeamFactory, TeamMembershipFactory, UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, org: str = "acme", **kwargs: Any) -> str:
    return reverse(name, kwargs={"org_slug": org, **kwargs})


# --- API keys --------------------------------------------------------------------------------


def test_a_new_key_secret_is_shown_once_and_works_against_the_api(api, acme, bob) -> None:
    client = signed_in(bob)
    created = client.post(url("account-keys"), {"name": "laptop", "scopes": ["org:read"]})
    assert created.status_code == 201
    key = ApiKey.objects.get(org=acme, user=bob, name="laptop")
    secret = created.context["secret"]
    assert key.prefix in secret
    assert secret.encode() in created.content
    assert api(key=secret).get(reverse("me")).status_code == 200

    listed = client.get(url("account-keys"))
    assert key.prefix.encode() in listed.content
    assert secret.encode() not in listed.content


def test_revoking_a_key_from_the_page_stops_it_working(api, acme, bob, make_key) -> None:
    key, secret = make_key(bob, acme, ["org:read"])
    response = signed_in(bob).post(url("account-key-revoke", pk=key.pk), **HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content  # htmx gets the section only
    assert b"revoked" in response.content
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api(key=secret).get(reverse("me")).status_code == 401


def test_a_member_sees_and_revokes_only_their_own_keys_an_admin_all(acme, alice, bob, make_key) -> None:
    alices, _ = make_key(alice, acme, ["org:read"], name="alice-key")
    bobs, _ = make_key(bob, acme, ["org:read"], name="bob-key")
    as_bob = signed_in(bob).get(url("account-keys"))
    assert list(as_bob.context["keys"]) == [bobs]
    assert signed_in(bob).post(url("account-key-revoke", pk=alices.pk)).status_code == 404
    assert set(signed_in(alice).get(url("account-keys")).context["keys"]) == {alices, bobs}
    assert signed_in(alice).post(url("account-key-revoke", pk=bobs.pk)).status_code == 302
    alices.refresh_from_db()
    bobs.refresh_from_db()
    assert (alices.revoked_at, bobs.revoked_at is not None) == (None, True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "k"}, b"Scopes: This list may not be empty."),
        ({"name": "k", "scopes": ["root"]}, b"is not a valid choice"),
        ({"name": "", "scopes": ["chat"]}, b"Name: This field may not be blank."),
        ({"name": "k", "scopes": ["chat"], "expires_at": "2001-01-01T00:00"}, b"The expiry must be in the future."),
        ({"name": "k", "scopes": ["chat"], "expires_at": "soon"}, b"Datetime has wrong format"),
    ],
)
def test_bad_key_forms_are_refused_with_the_reason_and_nothing_is_made(acme, bob, form, message) -> None:
    response = signed_in(bob).post(url("account-keys"), form, **HTMX)
    assert response.status_code == 400
    assert message in response.content
    assert not ApiKey.objects.filter(user=bob).exists()


def test_keys_page_is_404_in_another_org(carol, acme) -> None:
    assert signed_in(carol).get(url("account-keys")).status_code == 404
    assert signed_in(carol).post(url("account-keys"), {"name": "k", "scopes": ["chat"]}).status_code == 404


# --- members ---------------------------------------------------------------------------------


def test_admin_adds_a_member_by_email_and_changes_their_role(acme, alice) -> None:
    newcomer = UserFactory(username="newcomer", email="New@Example.com")
    client = signed_in(alice)
    added = client.post(url("account-members"), {"user": "new@example.com", "role": "viewer"})
    assert (added.status_code, added["Location"]) == (302, url("account-members"))
    membership = Membership.objects.get(org=acme, user=newcomer)
    assert membership.role == Role.VIEWER

    changed = client.post(url("account-member-role", pk=membership.pk), {"role": "approver"}, **HTMX)
    assert changed.status_code == 200
    membership.refresh_from_db()
    assert membership.role == Role.APPROVER


def test_demoting_the_last_owner_is_refused_with_the_api_message(acme, alice) -> None:
    own = Membership.objects.get(org=acme, user=alice)
    response = signed_in(alice).post(url("account-member-role", pk=own.pk), {"role": "admin"}, **HTMX)
    assert response.status_code == 409
    assert b"An organisation must keep at least one owner." in response.content
    own.refresh_from_db()
    assert own.role == Role.OWNER
    removed = signed_in(alice).post(url("account-member-remove", pk=own.pk))
    assert removed.status_code == 409
    assert b"An organisation must keep at least one owner." in removed.content
    assert Membership.objects.filter(pk=own.pk).exists()


def test_an_admin_cannot_grant_the_owner_role(acme, bob) -> None:
    admin = MembershipFactory(org=acme, role=Role.ADMIN).user
    target = Membership.objects.get(org=acme, user=bob)
    response = signed_in(admin).post(url("account-member-role", pk=target.pk), {"role": "owner"}, **HTMX)
    assert response.status_code == 403
    assert b"Only an owner can grant" in response.content
    target.refresh_from_db()
    assert target.role == Role.MEMBER


def test_removing_a_member_revokes_their_keys_and_updates_the_teams_too(acme, alice, bob, make_key) -> None:
    key, _ = make_key(bob, acme, ["chat"])
    TeamMembershipFactory(team=TeamFactory(org=acme), user=bob)
    target = Membership.objects.get(org=acme, user=bob)
    response = signed_in(alice).post(url("account-member-remove", pk=target.pk), **HTMX)
    assert response.status_code == 200
    assert b'hx-swap-oob="true"' in response.content  # the teams section is swapped as well
    assert b'data-team-member="bob"' not in response.content
    assert not Membership.objects.filter(pk=target.pk).exists()
    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"user": "nobody-here"}, 400, b"No active user with that username or e-mail address."),
        ({"user": "bob"}, 409, b"That user is already a member."),
        ({"user": ""}, 400, b"User: Expected a username or e-mail address"),
        ({"user": "newcomer", "role": "emperor"}, 400, b"is not a valid choice"),
    ],
)
def test_bad_member_forms_are_refused_with_the_reason(acme, alice, bob, form, status, message) -> None:
    UserFactory(username="newcomer")
    before = Membership.objects.count()
    response = signed_in(alice).post(url("account-members"), form)
    assert response.status_code == status
    assert message in response.content
    assert b"<html" in response.content  # without htmx, the whole page with the message
    assert Membership.objects.count() == before


def test_members_page_is_for_admins_and_only_in_their_org(acme, alice, bob, carol) -> None:
    assert signed_in(bob).get(url("account-members")).status_code == 403
    assert signed_in(carol).get(url("account-members")).status_code == 404
    page = signed_in(alice).get(url("account-members"))
    assert page.status_code == 200
    assert b"bob" in page.content


def test_the_nav_offers_members_to_admins_only(acme, alice, bob) -> None:
    link = f'href="{url("account-members")}"'.encode()
    assert link in signed_in(alice).get(url("account-keys")).content
    assert link not in signed_in(bob).get(url("account-keys")).content
    assert f'href="{url("account-usage")}"'.encode() in signed_in(bob).get(url("account-keys")).content


def test_a_member_of_another_org_cannot_be_touched_through_this_one(acme, alice, carol) -> None:
    globex_membership = Membership.objects.get(user=carol)
    response = signed_in(alice).post(url("account-member-role", pk=globex_membership.pk), {"role": "viewer"})
    assert response.status_code == 404
    globex_membership.refresh_from_db()
    assert globex_membership.role == Role.MEMBER


# --- teams -----------------------------------------------------------------------------------


def test_admin_creates_renames_and_staffs_a_team(acme, alice, bob) -> None:
    client = signed_in(alice)
    assert client.post(url("account-team-create"), {"name": "Data Science"}, **HTMX).status_code == 200
    team = Team.objects.get(org=acme, slug="data-science")
    assert client.post(url("account-team-rename", team_id=team.pk), {"name": "Research"}).status_code == 302
    team.refresh_from_db()
    assert team.name == "Research"

    client.post(url("account-team-member-add", team_id=team.pk), {"user": "bob"}, **HTMX)
    row = TeamMembership.objects.get(team=team, user=bob)
    assert row.is_lead is False
    lead = client.post(url("account-team-member-lead", team_id=team.pk, user_id=bob.pk), {"is_lead": "true"}, **HTMX)
    assert lead.status_code == 200
    assert b"lead</span>" in lead.content
    row.refresh_from_db()
    assert row.is_lead is True
    client.post(url("account-team-member-remove", team_id=team.pk, user_id=bob.pk), **HTMX)
    assert not TeamMembership.objects.filter(team=team).exists()


@pytest.mark.parametrize(
    ("name", "form", "status", "message"),
    [
        ("account-team-create", {"name": ""}, 400, b"Name: This field may not be blank."),
        ("account-team-create", {"name": "Existing"}, 409, b"A team with this slug exists."),
        ("account-team-rename", {"name": ""}, 400, b"Name: This field may not be blank."),
        ("account-team-member-add", {"user": "carol"}, 400, b"That user is not a member of this organisation."),
        ("account-team-member-add", {"user": "bob"}, 409, b"That user is already in the team."),
    ],
)
def test_bad_team_forms_are_refused_with_the_reason(acme, alice, bob, carol, name, form, status, message) -> None:
    team = TeamFactory(org=acme, name="Existing", slug="existing")
    TeamMembershipFactory(team=team, user=bob)
    kwargs = {} if name == "account-team-create" else {"team_id": team.pk}
    response = signed_in(alice).post(url(name, **kwargs), form, **HTMX)
    assert response.status_code == status
    assert message in response.content
    team.refresh_from_db()
    assert (team.name, TeamMembership.objects.filter(team=team).count()) == ("Existing", 1)


def test_lead_flag_must_be_a_boolean(acme, alice, bob) -> None:
    team = TeamFactory(org=acme)
    TeamMembershipFactory(team=team, user=bob)
    lead_url = url("account-team-member-lead", team_id=team.pk, user_id=bob.pk)
    response = signed_in(alice).post(lead_url, {"is_lead": "perhaps"}, **HTMX)
    assert response.status_code == 400
    assert b"Must be a valid boolean." in response.content


def test_teams_of_another_org_are_404_and_members_may_not_manage_teams(acme, globex, alice, bob) -> None:
    globex_team = TeamFactory(org=globex)
    response = signed_in(alice).post(url("account-team-rename", team_id=globex_team.pk), {"name": "Mine now"})
    assert response.status_code == 404
    globex_team.refresh_from_db()
    assert globex_team.name != "Mine now"
    assert signed_in(bob).post(url("account-team-create"), {"name": "Rogue"}).status_code == 403
    assert not Team.objects.filter(name="Rogue").exists()


def test_form_routes_answer_get_with_405(acme, alice) -> None:
    response = signed_in(alice).get(url("account-team-create"))
    assert response.status_code == 405
