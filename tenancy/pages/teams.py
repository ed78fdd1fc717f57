"""Teams, on the members page (organisation admins): create, rename, add and remove members, mark leads."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.text import slugify

from tenancy import services
from tenancy.api.serializers import TeamMemberAddSerializer, TeamMemberUpdateSerializer, TeamSerializer
from tenancy.models import Membership, Team, TeamMembership
from tenancy.pages.forms import allow, answer, attempt, validated
from tenancy.pages.frame import page_membership
from tenancy.pages.members import PAGE, TEAMS_PARTIAL, members_context, members_page_url
from tenancy.permissions import Perm


def team_of(membership: Membership, team_id: Any) -> Team:
    team = Team.objects.for_org(membership.org).filter(pk=team_id).first()
    if team is None:
        raise Http404("No such team")
    return team


def team_member_of(membership: Membership, team: Team, user_id: int) -> TeamMembership:
    row = TeamMembership.objects.for_org(membership.org).filter(team=team, user_id=user_id).select_related("user")
    found = row.first()
    if found is None:
        raise Http404("No such team member")
    return found


def teams_answer(request: HttpRequest, membership: Membership, error: Any, **extra: Any) -> HttpResponse:
    return answer(
        request,
        page=PAGE,
        partial=TEAMS_PARTIAL,
        context=lambda: members_context(membership, **extra),
        section="teams",
        error=error,
        done_url=members_page_url(membership.org.slug) + "#teams",
    )


def manager(request: HttpRequest, org_slug: str) -> Membership:
    return page_membership(request, org_slug, needs=Perm.TEAMS_MANAGE)


@login_required
@allow("POST")
def team_create(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = manager(request, org_slug)
    name = request.POST.get("name", "")
    # A slug is part of the team's identity in the API; a person naming a team need not invent one.
    form = {"name": name, "slug": request.POST.get("slug") or slugify(name)[:63]}

    def create() -> Team:
        data = validated(TeamSerializer, form)
        return services.team_create(org=membership.org, actor=request.user, **data)

    _, error = attempt(create)
    return teams_answer(request, membership, error, team_form=form if error else None)


@login_required
@allow("POST")
def team_rename(request: HttpRequest, org_slug: str, team_id: Any) -> HttpResponse:
    membership = manager(request, org_slug)
    team = team_of(membership, team_id)

    def rename() -> Team:
        data = validated(TeamSerializer, {"name": request.POST.get("name", "")}, partial=True)
        return services.team_update(team=team, actor=request.user, **data)

    _, error = attempt(rename)
    return teams_answer(request, membership, error)


@login_required
@allow("POST")
def team_member_add(request: HttpRequest, org_slug: str, team_id: Any) -> HttpResponse:
    membership = manager(request, org_slug)
    team = team_of(membership, team_id)

    def add() -> TeamMembership:
        form = {"user": request.POST.get("user", ""), "is_lead": request.POST.get("is_lead") == "on"}
        data = validated(TeamMemberAddSerializer, form)
        return services.team_member_add(team=team, actor=request.user, **data)

    _, error = attempt(add)
    return teams_answer(request, membership, error)


@login_required
@allow("POST")
def team_member_lead(request: HttpRequest, org_slug: str, team_id: Any, user_id: int) -> HttpResponse:
    membership = manager(request, org_slug)
    row = team_member_of(membership, team_of(membership, team_id), user_id)

    def update() -> TeamMembership:
        data = validated(TeamMemberUpdateSerializer, {"is_lead": request.POST.get("is_lead", "")})
        return services.team_member_update(team_membership=row, actor=request.user, is_lead=data["is_lead"])

    _, error = attempt(update)
    return teams_answer(request, membership, error)


@login_required
@allow("POST")
def team_member_remove(request: HttpRequest, org_slug: str, team_id: Any, user_id: int) -> HttpResponse:
    membership = manager(request, org_slug)
    row = team_member_of(membership, team_of(membership, team_id), user_id)
    _, error = attempt(lambda: services.team_member_remove(team_membership=row, actor=request.user))
    return teams_answer(request, membership, error)
