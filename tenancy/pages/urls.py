"""Account and organisation pages under /o/<org_slug>/: API keys, members and teams."""

from __future__ import annotations

from django.urls import path

from tenancy.models import ApiKey, Membership, Team
from tenancy.pages import keys, members, teams
from tenancy.pages.hidden import hiding_recorded

TEAM = "teams/<uuid:team_id>/"

urlpatterns = [
    *hiding_recorded(
        [
            path("keys/", keys.keys_page, name="account-keys"),
            path("keys/<uuid:pk>/revoke/", keys.key_revoke, name="account-key-revoke"),
        ],
        pk=ApiKey,
    ),
    *hiding_recorded(
        [
            path("members/", members.members_page, name="account-members"),
            path("members/<uuid:pk>/role/", members.member_role, name="account-member-role"),
            path("members/<uuid:pk>/remove/", members.member_remove, name="account-member-remove"),
        ],
        pk=Membership,
    ),
    # `user_id` names a person, who belongs to no one organisation: only the team is checked.
    *hiding_recorded(
        [
            path("teams/", teams.team_create, name="account-team-create"),
            path(f"{TEAM}name/", teams.team_rename, name="account-team-rename"),
            path(f"{TEAM}members/", teams.team_member_add, name="account-team-member-add"),
            path(f"{TEAM}members/<int:user_id>/lead/", teams.team_member_lead, name="account-team-member-lead"),
            path(f"{TEAM}members/<int:user_id>/remove/", teams.team_member_remove, name="account-team-member-remove"),
        ],
        team_id=Team,
    ),
]
