"""Teams and their members; a team's Django group follows its members."""

from __future__ import annotations

from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Team, TeamMembership
from tests.factories import UserFactory


def teams_url() -> str:
    return reverse("team-list", kwargs={"org_slug": "acme"})


def test_admin_creates_team_with_its_own_group(api, alice, acme) -> None:
    response = api(alice).post(teams_url(), {"name": "Legal", "slug": "legal"}, format="json")
    assert response.status_code == 201
    team = Team.objects.get(pk=response.json()["id"])
    assert team.org == acme
    assert team.group.name == f"team:{team.pk}"
    assert AuditEvent.objects.filter(action="team.created", target_id=str(team.pk)).exists()


def test_duplicate_team_slug_is_409_and_other_orgs_may_reuse_it(api, alice, carol, globex, team) -> None:
    duplicate = api(alice).post(teams_url(), {"name": "Eng", "slug": "engineering"}, format="json")
    assert duplicate.status_code == 409
    carol.memberships.filter(org=globex).update(role="admin")
    other = api(carol).post(
        reverse("team-list", kwargs={"org_slug": "globex"}), {"name": "Eng", "slug": "engineering"}, format="json"
    )
    assert other.status_code == 201


def test_team_member_add_requires_org_membership(api, alice, carol, team) -> None:
    url = reverse("team-member-list", kwargs={"org_slug": "acme", "team_id": team.pk})
    response = api(alice).post(url, {"user": "carol"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "user"
    assert not TeamMembership.objects.filter(user=carol).exists()


def test_team_member_add_update_remove_keeps_group_in_step(api, alice, acme, team) -> None:
    from tests.factories import MembershipFactory

    dora = MembershipFactory(org=acme, user=UserFactory(username="dora")).user
    url = reverse("team-member-list", kwargs={"org_slug": "acme", "team_id": team.pk})
    assert api(alice).post(url, {"user": "dora", "is_lead": False}, format="json").status_code == 201
    assert team.group.user_set.filter(pk=dora.pk).exists()
    assert api(alice).post(url, {"user": "dora"}, format="json").status_code == 409
    detail = reverse("team-member-detail", kwargs={"org_slug": "acme", "team_id": team.pk, "user_id": dora.pk})
    assert api(alice).patch(detail, {"is_lead": True}, format="json").json()["is_lead"] is True
    assert api(alice).delete(detail).status_code == 204
    assert not team.group.user_set.filter(pk=dora.pk).exists()
    actions = list(AuditEvent.objects.filter(target_id=str(team.pk)).values_list("action", flat=True))
    assert actions == ["team.member_removed", "team.member_updated", "team.member_added"]


def test_deleting_team_deletes_its_group_and_memberships(api, alice, team) -> None:
    group_id = team.group_id
    detail = reverse("team-detail", kwargs={"org_slug": "acme", "pk": team.pk})
    assert api(alice).delete(detail).status_code == 204
    from django.contrib.auth.models import Group

    assert not Group.objects.filter(pk=group_id).exists()
    assert not TeamMembership.objects.filter(team_id=team.pk).exists()


def test_team_of_another_org_under_own_slug_is_404(api, carol, globex, team) -> None:
    carol.memberships.filter(org=globex).update(role="owner")
    url = reverse("team-member-list", kwargs={"org_slug": "globex", "team_id": team.pk})
    assert api(carol).get(url).status_code == 404
    assert api(carol).post(url, {"user": "carol"}, format="json").status_code == 404
