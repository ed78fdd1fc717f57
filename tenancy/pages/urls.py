"""Account and organisation pages under /o/<org_slug>/: API keys, members and teams."""

from __future__ import annotations

from django.urls import path

from tenancy.pages import keys, members, teams

TEAM = "teams/<uuid:team_id>/"

urlpatterns = [
    path("keys/", keys.keys_page, name="account-keys"),
    path("keys/<uuid:pk>/revoke/", keys.key_revoke, name="account-key-revoke"),
    path("members/", members.members_page, name="account-members"),
    path("members/<uuid:pk>/role/", members.member_role, name="account-member-role"),
    path("members/<uuid:pk>/remove/", members.member_remove, name="account-member-remove"),
    path("teams/", teams.team_create, name="account-team-create"),
    path(f"{TEAM}name/", teams.team_rename, name="account-team-rename"),
    path(f"{TEAM}members/", teams.team_member_add, name="account-team-member-add"),
    path(f"{TEAM}members/<int:user_id>/lead/", teams.team_member_lead, name="account-team-member-lead"),
    path(f"{TEAM}members/<int:user_id>/remove/", teams.team_member_remove, name="account-team-member-remove"),
]
