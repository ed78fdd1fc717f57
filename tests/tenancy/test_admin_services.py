"""The admin's membership and team editors keep the API's rules and audit through the services."""

from __future__ import annotations

from django.contrib.auth.models import Group

from audit.models import AuditEvent
from tenancy.models import ApiKey, Membership, Role, Team, TeamMembership
from tests.factories import MembershipFactory, UserFactory

CHANGE = "/admin/tenancy/membership/{}/change/"


def owner_membership(acme, alice) -> Membership:
    return Membership.objects.get(org=acme, user=alice)


def test_demoting_the_last_owner_is_a_form_error(admin_client, acme, alice) -> None:
    membership = owner_membership(acme, alice)
    response = admin_client.post(CHANGE.format(membership.pk), {"role": Role.MEMBER})
    assert response.status_code == 200
    assert "must keep at least one owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_demoting_one_of_two_owners_goes_through_the_service(admin_client, acme, alice) -> None:
    MembershipFactory(org=acme, role=Role.OWNER)
    membership = owner_membership(acme, alice)
    response = admin_client.post(CHANGE.format(membership.pk), {"role": Role.ADMIN})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.payload["role"] == {"before": "owner", "after": "admin"}


def test_the_last_owner_cannot_be_deleted_one_by_one_or_in_bulk(admin_client, acme, alice, bob) -> None:
    membership = owner_membership(acme, alice)
    assert admin_client.get(f"/admin/tenancy/membership/{membership.pk}/delete/").status_code == 403
    bobs = Membership.objects.get(org=acme, user=bob)
    response = admin_client.post(
        "/admin/tenancy/membership/",
        {"action": "delete_selected", "_selected_action": [membership.pk, bobs.pk], "post": "yes"},
    )
    assert response.status_code == 403  # the admin refuses a selection it may not delete whole
    assert Membership.objects.filter(org=acme).count() == 2


def test_removing_a_member_in_the_admin_leaves_teams_and_revokes_keys(admin_client, acme, bob, team, make_key) -> None:
    key, _ = make_key(bob, acme, ["chat"])
    membership = Membership.objects.get(org=acme, user=bob)
    response = admin_client.post(f"/admin/tenancy/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not TeamMembership.objects.filter(user=bob).exists()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert AuditEvent.objects.get(action="member.removed").payload["api_keys_revoked"] == 1


def _inline_post(acme, rows: list[tuple[Membership | None, object, str, bool]]) -> dict:
    data = {
        "name": acme.name,
        "slug": acme.slug,
        "plan": acme.plan,
        "settings": "{}",
        "membership_set-TOTAL_FORMS": str(len(rows)),
        "membership_set-INITIAL_FORMS": str(sum(1 for row in rows if row[0] is not None)),
        "team_set-TOTAL_FORMS": "0",
        "team_set-INITIAL_FORMS": "0",
    }
    for index, (membership, user, role, delete) in enumerate(rows):
        prefix = f"membership_set-{index}-"
        data.update({prefix + "id": membership.pk if membership else "", prefix + "org": acme.pk})
        data.update({prefix + "user": user.pk, prefix + "role": role})
        if delete:
            data[prefix + "DELETE"] = "on"
    return data


def test_the_organisation_inline_keeps_an_owner_and_adds_members_through_the_service(admin_client, acme, alice) -> None:
    url = f"/admin/tenancy/organization/{acme.pk}/change/"
    owner, dora = owner_membership(acme, alice), UserFactory(username="dora")
    refused = admin_client.post(url, _inline_post(acme, [(owner, alice, Role.MEMBER, False)]))
    assert refused.status_code == 200
    assert "must keep at least one owner" in refused.content.decode()
    assert owner_membership(acme, alice).role == Role.OWNER
    added = admin_client.post(
        url, _inline_post(acme, [(owner, alice, Role.OWNER, False), (None, dora, "member", False)])
    )
    assert added.status_code == 302
    assert Membership.objects.get(org=acme, user=dora).role == Role.MEMBER
    assert AuditEvent.objects.filter(action="member.added", payload__user="dora").exists()


def _with_teams(data: dict, teams: list[tuple[Team | None, str, bool]]) -> dict:
    data = {**data, "team_set-TOTAL_FORMS": str(len(teams))}
    data["team_set-INITIAL_FORMS"] = str(sum(1 for team, _, _ in teams if team is not None))
    for index, (team, slug, delete) in enumerate(teams):
        prefix = f"team_set-{index}-"
        data[prefix + "id"] = team.pk if team else ""
        data.update({prefix + "name": slug.title(), prefix + "slug": slug, prefix + "description": ""})
        if delete:
            data[prefix + "DELETE"] = "on"
    return data


def test_teams_in_the_organisation_inline_go_through_the_services(admin_client, acme, alice, team) -> None:
    url = f"/admin/tenancy/organization/{acme.pk}/change/"
    owner = owner_membership(acme, alice)
    members = _inline_post(acme, [(owner, alice, Role.OWNER, False)])
    added = admin_client.post(url, _with_teams(members, [(team, "engineering", False), (None, "design", False)]))
    assert added.status_code == 302
    design = Team.objects.get(org=acme, slug="design")
    assert design.group_id is not None
    assert AuditEvent.objects.filter(action="team.created", target_id=str(design.pk)).exists()
    group_id = team.group_id
    removed = admin_client.post(url, _with_teams(members, [(team, "engineering", True), (design, "design", False)]))
    assert removed.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not Group.objects.filter(pk=group_id).exists()  # no orphaned guardian group
    assert AuditEvent.objects.filter(action="team.deleted", payload__slug="engineering").exists()
