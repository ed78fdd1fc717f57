"""The frame every page shares, in a real chromium: sign in, land in the chat, switch theme and organisation."""

from __future__ import annotations

import pytest

from tests.factories import MembershipFactory, OrganizationFactory
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_signing_in_opens_the_chat_of_the_organisation(page, live_ui, alice) -> None:
    page.goto(f"{live_ui}/")
    assert "/accounts/login/" in page.url

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_ui}/o/acme/chat/")
    assert page.get_by_role("heading", name="New chat").is_visible()


def test_every_page_carries_a_strict_content_security_policy(page, context, live_ui, alice) -> None:
    sign_in(context, live_ui, alice)
    response = page.goto(f"{live_ui}/o/acme/chat/")

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_the_theme_follows_the_system_and_the_toggle_sticks(browser, live_ui, alice, tmp_path) -> None:
    context = browser.new_context(color_scheme="dark")
    sign_in(context, live_ui, alice)
    page = context.new_page()
    page.goto(f"{live_ui}/o/acme/chat/")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    screenshot(page, "new-chat", tmp_path)

    page.get_by_role("button", name="Switch between light and dark theme").click()
    page.reload()

    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    screenshot(page, "new-chat", tmp_path)
    context.close()


def test_the_organisation_switcher_moves_to_the_other_organisation(page, context, live_ui, alice) -> None:
    MembershipFactory(org=OrganizationFactory(name="Zeta", slug="zeta"), user=alice, role="member")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/chat/")

    page.get_by_label("Organisation").select_option(label="Zeta")

    page.wait_for_url(f"{live_ui}/o/zeta/chat/")
    page.goto(f"{live_ui}/")  # and `/` now opens the organisation used last
    page.wait_for_url(f"{live_ui}/o/zeta/chat/")
