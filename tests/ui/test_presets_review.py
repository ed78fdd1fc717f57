"""An organisation preset submitted by a member and approved by an approver in the review queue becomes usable."""

from __future__ import annotations

import pytest

from presets.models import Preset
from tenancy.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_submits_and_an_approver_approves_in_the_queue(browser, live_ui, bob, acme, tmp_path) -> None:
    quinn = UserFactory(username="quinn")
    MembershipFactory(org=acme, user=quinn, role=Role.APPROVER)
    member = browser.new_context()
    sign_in(member, live_ui, bob)
    page = member.new_page()
    page.goto(f"{live_ui}/o/acme/presets/new/")
    page.get_by_label("Name", exact=True).fill("Support tone")
    page.get_by_label("Slug").fill("support-tone")
    page.get_by_label("System prompt").fill("Be kind and brief.")
    page.get_by_label("Who sees it").select_option("org")
    page.get_by_role("button", name="Save and submit for review").click()
    page.wait_for_url(f"{live_ui}/o/acme/presets/*/")
    assert "Pending review" in page.locator(".preset-head").inner_text()

    approver = browser.new_context()
    sign_in(approver, live_ui, quinn)
    queue = approver.new_page()
    queue.goto(f"{live_ui}/o/acme/presets/review/")
    item = queue.get_by_role("article", name="Support tone v1")
    assert "Be kind and brief." in item.locator("table.diff").inner_text()
    screenshot(queue, "preset-review", tmp_path)
    item.get_by_label("Comment").fill("Looks good")
    item.get_by_role("button", name="Approve v1").click()
    queue.wait_for_url(f"{live_ui}/o/acme/presets/review/")
    assert "Nothing to review." in queue.content()

    page.goto(f"{live_ui}/o/acme/presets/?q=support")
    assert "approved v1" in page.locator(".preset-card").inner_text()
    preset = Preset.objects.get(slug="support-tone")
    assert (preset.status, preset.approved_version) == ("approved", 1)
    member.close()
    approver.close()
