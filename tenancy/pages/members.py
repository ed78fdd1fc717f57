"""The members page (organisation admins): add by username or e-mail, change a role, remove.

The services keep the rules the role matrix cannot say (only an owner touches the owner role, an
organisation keeps one owner); their refusal is shown next to the table in the API's words.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from tenancy import services
from tenancy.api.serializers import MemberAddSerializer, MemberRoleSerializer
from tenancy.models import Membership, Role, Team, TeamMembership
from tenancy.pages.forms import allow, answer, attempt, validated
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

PAGE, TEAMS_PARTIAL = "account/members.html", "account/_teams.html"
MEMBERS_PARTIAL = "account/_members_and_teams.html"


def members_context(membership: Membership, **extra: Any) -> dict[str, Any]:
    org = membership.org
    teams = Team.objects.for_org(org).order_by("name")
    team_members = TeamMembership.objects.for_org(org).select_related("user").order_by("user__username")
    by_team: dict[Any, list[TeamMembership]] = {}
    for row in team_members:
        by_team.setdefault(row.team_id, []).append(row)
    return {
        "org": org,
        "membership": membership,
        "section": "members",
        "members": Membership.objects.for_org(org).select_related("user").order_by("user__username"),
        "teams": [(team, by_team.get(team.pk, [])) for team in teams],
        "roles": Role.choices,
        **extra,
    }


def members_page_url(org_slug: str) -> str:
    return reverse("account-members", kwargs={"org_slug": org_slug})


def member_of(membership: Membership, pk: Any) -> Membership:
    target = Membership.objects.for_org(membership.org).select_related("user", "org").filter(pk=pk).first()
    if target is None:
        raise Http404("No such member")
    return target


def members_answer(request: HttpRequest, membership: Membership, error: Any, **extra: Any) -> HttpResponse:
    return answer(
        request,
        page=PAGE,
        partial=MEMBERS_PARTIAL,
        context=lambda: members_context(membership, **extra),
        section="members",
        error=error,
        done_url=members_page_url(membership.org.slug),
    )


@login_required
@allow("GET", "POST")
def members_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.MEMBERS_MANAGE)
    if request.method == "GET":
        return render(request, PAGE, members_context(membership))
    form = {"user": request.POST.get("user", ""), "role": request.POST.get("role") or Role.MEMBER}

    def add() -> Membership:
        data = validated(MemberAddSerializer, form)
        return services.member_add(org=membership.org, actor=request.user, **data)

    _, error = attempt(add)
    return members_answer(request, membership, error, form=form if error else None)


@login_required
@allow("POST")
def member_role(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.MEMBERS_MANAGE)
    target = member_of(membership, pk)

    def change() -> Membership:
        data = validated(MemberRoleSerializer, {"role": request.POST.get("role", "")})
        return services.member_change_role(membership=target, actor=request.user, **data)

    _, error = attempt(change)
    return members_answer(request, membership, error)


@login_required
@allow("POST")
def member_remove(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.MEMBERS_MANAGE)
    target = member_of(membership, pk)
    _, error = attempt(lambda: services.member_remove(membership=target, actor=request.user))
    return members_answer(request, membership, error)
