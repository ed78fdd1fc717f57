"""Chat navigation in a real chromium: starting a chat from the preset picker, the sidebar (dates,
search, rename, delete), the upgrade banner, and switching organisation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chatpresets.llm.catalogue import default_model
from conversations.models import Conversation
from presets.models import Preset, Scope
from presets.services import lifecycle, review
from tests.factories import MembershipFactory, OrganizationFactory
from tests.server import ROOT
from tests.ui.browser import WATCH_CSP, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_URL = re.compile(r".*/o/acme/chat/[0-9a-f-]{36}/$")


def chat(org, user, title: str, *, age_days: float = 0, **fields) -> Conversation:
    conversation = Conversation.objects.create(org=org, user=user, title=title, **fields)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now() - timedelta(days=age_days))
    return conversation


def org_preset_approved(org, *, author, approver) -> Preset:
    preset = lifecycle.preset_create(
        org=org,
        actor=author,
        name="Support",
        slug="support",
        system_prompt="Help.",
        model=default_model(),
        scope=Scope.ORG,
    )
    review.preset_submit(preset=preset, actor=author)
    review.preset_approve(preset=preset, actor=approver, number=1)
    return preset


def wait_for_focus(page, selector: str) -> None:
    """Until the keyboard is on `selector`; htmx moves it there once a swapped-in part is live."""
    page.wait_for_function("(selector) => document.activeElement?.matches(selector)", arg=selector)


def test_starting_a_chat_from_the_picker_with_a_variable(page, context, live_ui, acme, alice, tmp_path) -> None:
    preset = lifecycle.preset_create(
        org=acme,
        actor=alice,
        name="Release notes writer",
        slug="release-notes",
        description="Turns a changelog into notes",
        system_prompt="Write release notes for {{ product }} in a {{ tone }} tone.",
        model=default_model(),
        variables=[{"name": "product", "required": True}, {"name": "tone", "default": "friendly"}],
    )
    lifecycle.preset_create(
        org=acme, actor=alice, name="Tax helper", slug="tax", system_prompt="Taxes.", model=default_model()
    )
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/chat/")

    page.get_by_label("Search presets").fill("release")
    page.get_by_role("link", name="Tax helper").wait_for(state="detached")
    page.get_by_role("link", name=re.compile("Release notes writer")).click()
    page.get_by_label("product").fill("ChatPresets 2.0")
    page.get_by_label("Search presets").fill("")  # the list redraws and still marks the pick
    page.get_by_role("link", name=re.compile("Tax helper")).wait_for()
    page.locator("[data-preset-option][aria-current=true]", has_text="Release notes writer").wait_for()
    assert page.locator("[data-preset-option][aria-current]").count() == 1
    assert page.get_by_label("tone").input_value() == "friendly"
    page.get_by_label("Pin version 1").check()
    screenshot(page, "new-chat-picker", tmp_path)
    page.get_by_role("button", name="Start chat").click()

    page.wait_for_url(CHAT_URL)
    conversation = Conversation.objects.get(user=alice)
    assert page.url.endswith(f"/o/acme/chat/{conversation.pk}/")
    assert (conversation.preset_id, conversation.preset_version) == (preset.pk, 1)
    assert conversation.variables == {"product": "ChatPresets 2.0", "tone": "friendly"}


def test_the_sidebar_groups_by_date_and_search_filters(page, context, live_ui, acme, alice, tmp_path) -> None:
    chat(acme, alice, "Budget for Q3")
    chat(acme, alice, "Trip to Lisbon", age_days=1)
    chat(acme, alice, "Budget retro", age_days=40)
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/chat/")
    sidebar = page.get_by_role("navigation", name="Conversations")

    assert sidebar.locator(".date-label").all_text_contents() == ["Today", "Yesterday", "Older"]
    assert sidebar.get_by_role("region", name="Yesterday").get_by_role("link").first.inner_text() == "Trip to Lisbon"
    screenshot(page, "chat-sidebar", tmp_path)

    sidebar.get_by_label("Search conversations by title").fill("budget")
    sidebar.get_by_role("link", name="Trip to Lisbon").wait_for(state="detached")

    titles = sidebar.locator(".conversation-link").all_inner_texts()
    assert titles == ["Budget for Q3", "Budget retro"]


def test_rename_and_delete_in_place(page, context, live_ui, acme, alice) -> None:
    current = chat(acme, alice, "Draft title")
    chat(acme, alice, "Keep me", age_days=2)
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/chat/{current.pk}/")
    sidebar = page.get_by_role("navigation", name="Conversations")

    sidebar.get_by_role("button", name="Rename Draft title").click()
    wait_for_focus(page, "[data-nav-rename]")  # the keyboard moves into the field
    page.keyboard.press("Escape")  # Esc leaves it as it was, and gives the keyboard back to the row
    wait_for_focus(page, ".conversation-link")
    sidebar.get_by_role("button", name="Rename Draft title").click()
    wait_for_focus(page, "[data-nav-rename]")
    field = sidebar.get_by_label("New title")
    field.fill("Launch plan")
    field.press("Enter")

    renamed = sidebar.get_by_role("link", name="Launch plan")
    renamed.wait_for()
    assert renamed.get_attribute("aria-current") == "page"
    wait_for_focus(page, ".conversation-link")
    current.refresh_from_db()
    assert current.title == "Launch plan"

    page.once("dialog", lambda dialog: dialog.accept())
    sidebar.get_by_role("button", name="Delete Launch plan").click()

    page.wait_for_url(f"{live_ui}/o/acme/chat/")  # the chat on screen is gone: back to a new one
    assert page.get_by_role("navigation", name="Conversations").get_by_role("link", name="Keep me").is_visible()
    current.refresh_from_db()
    assert current.deleted_at is not None


def test_the_upgrade_banner_appears_after_approval_and_upgrade_applies_it(
    page, context, live_ui, acme, alice, bob
) -> None:
    preset = lifecycle.preset_create(
        org=acme,
        actor=bob,
        name="Support",
        slug="support",
        system_prompt="Help.",
        model=default_model(),
        scope=Scope.ORG,
    )
    review.preset_submit(preset=preset, actor=bob)
    review.preset_approve(preset=preset, actor=alice, number=1)
    conversation = chat(acme, bob, "Support chat", preset=preset, preset_version=1)
    sign_in(context, live_ui, bob)
    url = f"{live_ui}/o/acme/chat/{conversation.pk}/"
    page.goto(url)
    assert page.get_by_role("button", name=re.compile("Upgrade")).count() == 0

    lifecycle.preset_update(preset=preset, actor=bob, system_prompt="Help kindly.")  # goes to review
    page.reload()
    assert page.get_by_role("button", name=re.compile("Upgrade")).count() == 0  # not approved yet
    review.preset_approve(preset=preset, actor=alice, number=2)
    page.reload()

    page.get_by_role("button", name="Upgrade to version 2").click()

    page.get_by_text("This chat now uses version 2 of Support").wait_for()
    conversation.refresh_from_db()
    assert conversation.preset_version == 2


def test_switching_organisation_lands_on_its_chat(page, context, live_ui, acme, alice) -> None:
    zeta = OrganizationFactory(name="Zeta", slug="zeta")
    MembershipFactory(org=zeta, user=alice, role="member")
    here = chat(acme, alice, "Acme roadmap")
    chat(zeta, alice, "Zeta hiring")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/chat/{here.pk}/")

    page.get_by_label("Organisation").select_option(label="Zeta")

    page.wait_for_url(f"{live_ui}/o/zeta/chat/")
    sidebar = page.get_by_role("navigation", name="Conversations")
    assert sidebar.get_by_role("link", name="Zeta hiring").is_visible()
    assert sidebar.get_by_role("link", name="Acme roadmap").count() == 0
    assert page.get_by_role("heading", name="New chat").is_visible()


AXE = (ROOT / "static" / "vendor" / "axe-core" / "axe.min.js").read_text()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings (injected through the driver: the page's policy forbids it)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']}: {v['nodes'][0]['target']}" for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat_navigation_passes_an_accessibility_scan_at_375px(
    browser, live_ui, acme, alice, bob, scheme, tmp_path
) -> None:
    preset = org_preset_approved(acme, author=bob, approver=alice)
    lifecycle.preset_update(preset=preset, actor=bob, system_prompt="Help kindly.")
    review.preset_approve(preset=preset, actor=alice, number=2)
    pinned = chat(acme, bob, "Pinned support chat", preset=preset, preset_version=1)
    chat(acme, bob, "Older one", age_days=9)
    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme=scheme)
    context.add_init_script(WATCH_CSP)
    sign_in(context, live_ui, bob)
    page = context.new_page()

    problems = {}
    for path in ("/o/acme/chat/", f"/o/acme/chat/?preset={preset.pk}", f"/o/acme/chat/{pinned.pk}/"):
        page.goto(f"{live_ui}{path}")
        problems[path] = serious_violations(page)
        screenshot(
            page,
            "chat-nav-375-" + ("picked" if "preset=" in path else "new" if path.endswith("chat/") else "chat"),
            tmp_path,
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path  # nothing scrolls sideways
    page.goto(f"{live_ui}/o/acme/chat/{pinned.pk}/")
    page.get_by_role("button", name="Rename Pinned support chat").click()
    problems["rename"] = serious_violations(page)
    violations = csp_violations(page)
    context.close()

    assert problems == {key: [] for key in problems}
    assert violations == []
