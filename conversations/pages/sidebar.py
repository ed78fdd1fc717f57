"""The chat sidebar: the caller's conversations by date, search by title, rename and delete in place.

Every list goes through conversations' selectors and every write through its services, as the API's
do; the partials answer htmx, and without JavaScript the same URLs still work as plain pages.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from chatpresets.errors import NotFound
from conversations import services
from conversations.models import Conversation
from conversations.selectors import TITLE_QUERY_MAX, conversation_for_caller, conversations_titled
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.pages.methods import page_methods
from tenancy.permissions import Perm

SIDEBAR_PAGE = 50
SIDEBAR_MAX = 500  # "More" grows the list by a page, up to this many: the sidebar is not an archive


@dataclass(frozen=True)
class DateGroup:
    label: str
    conversations: list[Conversation]


@dataclass(frozen=True)
class Sidebar:
    groups: list[DateGroup]
    query: str = ""
    shown: int = SIDEBAR_PAGE
    more: bool = False
    current: uuid.UUID | None = None
    next_shown: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "next_shown", min(self.shown + SIDEBAR_PAGE, SIDEBAR_MAX))


def date_label(day: date, today: date) -> str:
    if day >= today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if day > today - timedelta(days=7):
        return "Previous 7 days"
    return "Older"


def build_sidebar(
    membership: Membership, *, query: str = "", shown: int = SIDEBAR_PAGE, current: uuid.UUID | None = None
) -> Sidebar:
    """The newest `shown` conversations matching `query`, grouped in the order the groups read."""
    rows = list(
        conversations_titled(membership=membership, text=query)
        .order_by("-updated_at", "pk")
        .only("id", "title", "updated_at")[: shown + 1]
    )
    today = timezone.localdate()
    groups: list[DateGroup] = []
    for conversation in rows[:shown]:
        label = date_label(timezone.localdate(conversation.updated_at), today)
        if not groups or groups[-1].label != label:
            groups.append(DateGroup(label, []))
        groups[-1].conversations.append(conversation)
    return Sidebar(groups=groups, query=query, shown=shown, more=len(rows) > shown, current=current)


def _shown(value: str) -> int:
    return min(max(int(value), 1), SIDEBAR_MAX) if value.isascii() and value.isdigit() else SIDEBAR_PAGE


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@login_required
@page_methods("GET")
def sidebar_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    query = request.GET.get("q", "")[:TITLE_QUERY_MAX]
    shown, current = _shown(request.GET.get("shown", "")), _uuid(request.GET.get("current", ""))
    sidebar = build_sidebar(membership, query=query, shown=shown, current=current)
    return render(request, "chat/_sidebar_list.html", {"org": membership.org, "sidebar": sidebar})


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, strip=True)


def own_conversation(membership: Membership, pk: Any) -> Conversation:
    try:
        return conversation_for_caller(membership=membership, conversation_id=pk)
    except NotFound:
        raise Http404("No such conversation") from None


@login_required
@page_methods("GET", "POST")
def rename(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """GET: the inline form (or, with `cancel`, the row again); POST: the new title, through the service."""
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    conversation = own_conversation(membership, pk)
    # `refocus`: the row that replaces the form takes the keyboard back (htmx focuses `autofocus`).
    context = {"org": membership.org, "c": conversation, "current_id": _uuid(request.GET.get("current", ""))}
    context["refocus"] = True
    if request.method == "GET":
        template = "chat/_sidebar_item.html" if "cancel" in request.GET else "chat/_rename_form.html"
        return render(request, template, {**context, "form": RenameForm(initial={"title": conversation.title})})
    form = RenameForm(request.POST)
    if not form.is_valid():
        return render(request, "chat/_rename_form.html", {**context, "form": form}, status=400)
    services.conversation_rename(conversation=conversation, membership=membership, title=form.cleaned_data["title"])
    if not request.htmx:
        return redirect("chat", org_slug=org_slug, pk=conversation.pk)
    return render(request, "chat/_sidebar_item.html", context)


@login_required
@page_methods("POST")
def delete(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """Removes the row; deleting the conversation on screen leaves for a new chat."""
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    conversation = own_conversation(membership, pk)
    services.conversation_delete(conversation=conversation, membership=membership)
    new_chat = reverse("chat-new", kwargs={"org_slug": org_slug})
    if not request.htmx:
        return redirect(new_chat)
    response = HttpResponse("")
    if request.htmx.current_url_abs_path == reverse("chat", kwargs={"org_slug": org_slug, "pk": conversation.pk}):
        response["HX-Redirect"] = new_chat
    return response
