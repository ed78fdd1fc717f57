"""The chat sidebar's page endpoints: grouped by date, searched by title, renamed and deleted in place,
under the API's rules (own conversations only, 404 across organisations, 403 for viewers, CSRF)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from conversations.models import Conversation
from conversations.pages.sidebar import SIDEBAR_PAGE
from tenancy.models import Role

HTMX = {"HTTP_HX_REQUEST": "true"}


def chat(org, user, title: str, *, age_days: float = 0) -> Conversation:
    conversation = Conversation.objects.create(org=org, user=user, title=title)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now() - timedelta(days=age_days))
    return conversation


@pytest.fixture
def signed_in(client: Client, alice) -> Client:
    client.force_login(alice)
    return client


def labels_in_order(html: str, labels: list[str]) -> list[str]:
    found = [(html.index(f">{label}<"), label) for label in labels if f">{label}<" in html]
    return [label for _, label in sorted(found)]


def test_sidebar_groups_my_conversations_by_date_newest_first(signed_in, acme, alice, bob) -> None:
    chat(acme, alice, "Ancient plan", age_days=30)
    chat(acme, alice, "Midweek notes", age_days=3)
    chat(acme, alice, "Yesterday's draft", age_days=1)
    chat(acme, alice, "Fresh idea")
    chat(acme, bob, "Bob's secret")

    html = signed_in.get(reverse("chat-new", kwargs={"org_slug": "acme"})).content.decode()

    assert labels_in_order(html, ["Today", "Yesterday", "Previous 7 days", "Older"]) == [
        "Today",
        "Yesterday",
        "Previous 7 days",
        "Older",
    ]
    assert html.index("Fresh idea") < html.index("Yesterday&#x27;s draft") < html.index("Midweek notes")
    assert html.index("Midweek notes") < html.index("Ancient plan")
    assert "Bob&#x27;s secret" not in html


def test_search_filters_by_title_in_any_case_and_only_among_my_own(signed_in, acme, alice, bob) -> None:
    chat(acme, alice, "Quarterly BUDGET review")
    chat(acme, alice, "Holiday plans")
    chat(acme, bob, "budget of bob")

    response = signed_in.get(reverse("chat-sidebar", kwargs={"org_slug": "acme"}), {"q": "budget"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Quarterly BUDGET review" in html
    assert "Holiday plans" not in html
    assert "budget of bob" not in html
    assert "<html" not in html  # a partial for htmx


def test_search_without_a_match_says_so(signed_in, acme, alice) -> None:
    chat(acme, alice, "Holiday plans")
    html = signed_in.get(reverse("chat-sidebar", kwargs={"org_slug": "acme"}), {"q": "zebra"}).content.decode()
    assert "No chat titles match" in html
    assert "Holiday plans" not in html


def test_the_sidebar_is_bounded_and_more_shows_the_next_page(signed_in, acme, alice) -> None:
    for n in range(SIDEBAR_PAGE + 3):
        chat(acme, alice, f"Chat number {n:03d}", age_days=n / 1000)
    url = reverse("chat-sidebar", kwargs={"org_slug": "acme"})

    first = signed_in.get(url).content.decode()
    more = signed_in.get(url, {"shown": SIDEBAR_PAGE * 2}).content.decode()

    assert first.count('class="conversation-item"') == SIDEBAR_PAGE
    assert "More chats" in first
    assert f"shown={SIDEBAR_PAGE * 2}" in first
    assert more.count('class="conversation-item"') == SIDEBAR_PAGE + 3
    assert "More chats" not in more


@pytest.mark.parametrize("shown", ["²", "-1", "9" * 40, "lots"])
def test_a_strange_page_size_falls_back_to_a_bounded_list(signed_in, acme, alice, shown) -> None:
    chat(acme, alice, "Only one")
    response = signed_in.get(reverse("chat-sidebar", kwargs={"org_slug": "acme"}), {"shown": shown})
    assert response.status_code == 200
    assert "Only one" in response.content.decode()


def test_the_conversation_on_screen_is_marked_current(signed_in, acme, alice) -> None:
    on_screen = chat(acme, alice, "On screen")
    chat(acme, alice, "Elsewhere")
    html = signed_in.get(
        reverse("chat-sidebar", kwargs={"org_slug": "acme"}), {"current": str(on_screen.pk)}
    ).content.decode()
    link = html[html.index(f'href="/o/acme/chat/{on_screen.pk}/"') :]
    assert link.index('aria-current="page"') < link.index("On screen")
    assert html.count('aria-current="page"') == 1


def test_rename_goes_through_the_service_and_answers_the_new_row(signed_in, acme, alice) -> None:
    conversation = chat(acme, alice, "Old name")
    url = reverse("chat-rename", kwargs={"org_slug": "acme", "pk": conversation.pk})

    form = signed_in.get(url, **HTMX)
    response = signed_in.post(url, {"title": "  New name  "}, **HTMX)

    assert 'name="title"' in form.content.decode()
    assert response.status_code == 200
    assert "New name" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == "New name"
    assert AuditEvent.objects.filter(action="conversation.renamed", target_id=str(conversation.pk)).exists()


def test_rename_refuses_a_title_too_long_with_400_and_keeps_the_old_one(signed_in, acme, alice) -> None:
    conversation = chat(acme, alice, "Kept")
    url = reverse("chat-rename", kwargs={"org_slug": "acme", "pk": conversation.pk})

    response = signed_in.post(url, {"title": "x" * 201}, **HTMX)

    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == "Kept"


def test_delete_removes_the_conversation_and_leaves_the_page_showing_it(signed_in, acme, alice) -> None:
    shown, other = chat(acme, alice, "Shown"), chat(acme, alice, "Other")
    shown_url = reverse("chat", kwargs={"org_slug": "acme", "pk": shown.pk})

    response = signed_in.post(
        reverse("chat-delete", kwargs={"org_slug": "acme", "pk": shown.pk}),
        HTTP_HX_CURRENT_URL=f"http://testserver{shown_url}",
        **HTMX,
    )
    quiet = signed_in.post(
        reverse("chat-delete", kwargs={"org_slug": "acme", "pk": other.pk}),
        HTTP_HX_CURRENT_URL=f"http://testserver{shown_url}",
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/o/acme/chat/"
    assert quiet.status_code == 200
    assert "HX-Redirect" not in quiet
    assert not Conversation.objects.alive().filter(pk__in=[shown.pk, other.pk]).exists()
    assert signed_in.get(shown_url).status_code == 404


def test_another_members_conversation_is_404_and_untouched(signed_in, acme, bob) -> None:
    theirs = chat(acme, bob, "Bob's")
    for name in ("chat-rename", "chat-delete"):
        response = signed_in.post(reverse(name, kwargs={"org_slug": "acme", "pk": theirs.pk}), {"title": "Mine now"})
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert (theirs.title, theirs.deleted_at) == ("Bob's", None)


def test_a_member_of_another_organisation_gets_404(client, acme, alice, carol) -> None:
    conversation = chat(acme, alice, "Acme only")
    client.force_login(carol)
    assert client.get(reverse("chat-sidebar", kwargs={"org_slug": "acme"})).status_code == 404
    url = reverse("chat-rename", kwargs={"org_slug": "globex", "pk": conversation.pk})
    assert client.post(url, {"title": "Stolen"}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == "Acme only"


def test_a_viewer_may_not_list_rename_or_delete(client, acme, member_with_role) -> None:
    viewer = member_with_role(Role.VIEWER)
    conversation = chat(acme, viewer, "Before the demotion")
    client.force_login(viewer)
    assert client.get(reverse("chat-sidebar", kwargs={"org_slug": "acme"})).status_code == 403
    for name in ("chat-rename", "chat-delete"):
        assert client.post(reverse(name, kwargs={"org_slug": "acme", "pk": conversation.pk})).status_code == 403
    conversation.refresh_from_db()
    assert (conversation.title, conversation.deleted_at) == ("Before the demotion", None)


def test_pages_take_forms_and_say_which_methods_they_answer(signed_in, acme, alice) -> None:
    conversation = chat(acme, alice, "Formal")
    url = reverse("chat-rename", kwargs={"org_slug": "acme", "pk": conversation.pk})

    options = signed_in.options(url)
    as_json = signed_in.post(url, {"title": "Sneaky"}, content_type="application/json")
    put = signed_in.put(url, "title=Put", content_type="application/x-www-form-urlencoded")

    assert (options.status_code, options["Allow"]) == (200, "GET, POST, HEAD, OPTIONS")
    empty = signed_in.generic("POST", url, "", content_type="application/json")  # no body: nothing to misread

    assert (as_json.status_code, put.status_code, empty.status_code) == (400, 405, 302)
    conversation.refresh_from_db()
    assert conversation.title == ""


def test_rename_and_delete_need_the_csrf_token(acme, alice) -> None:
    conversation = chat(acme, alice, "Guarded")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    rename = client.post(reverse("chat-rename", kwargs={"org_slug": "acme", "pk": conversation.pk}), {"title": "X"})
    delete = client.post(reverse("chat-delete", kwargs={"org_slug": "acme", "pk": conversation.pk}))
    assert (rename.status_code, delete.status_code) == (403, 403)
    conversation.refresh_from_db()
    assert (conversation.title, conversation.deleted_at) == ("Guarded", None)
