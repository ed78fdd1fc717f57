"""Starting a chat that follows a label of its preset, in a real chromium, and seeing it in Context."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from presets import labels
from tenancy.models import Role
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

CHAT_URL = re.compile(r".*/o/acme/chat/[0-9a-f-]{36}/$")


def test_a_chat_follows_staging_and_context_names_it(page, context, live_ui, acme, alice, tmp_path) -> None:
    preset = approved_preset(acme, alice, "tutor", MembershipFactory(org=acme, role=Role.APPROVER).user, versions=2)
    labels.label_move(preset=preset, name="staging", version=1, actor=alice)
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/chat/")

    page.get_by_role("link", name=re.compile("Tutor")).click()
    page.get_by_label("Follow a label").check()
    page.get_by_label("Label to follow").select_option("staging")
    screenshot(page, "new-chat-follow-label", tmp_path)
    page.get_by_role("button", name="Start chat").click()

    page.wait_for_url(CHAT_URL)
    conversation = Conversation.objects.get(user=alice)
    assert (conversation.preset_version, conversation.preset_label) == (None, "staging")
    page.get_by_role("button", name="Context", exact=True).click()
    followed = page.locator("#context-panel [data-context-label]")
    expect(followed).to_have_text("label staging, now v1")
