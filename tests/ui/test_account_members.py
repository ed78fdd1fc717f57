"""Members and teams in chromium: an admin adds a member and changes a role; the last owner stays."""

from __future__ import annotations

import pytest

from tenancy.models import Membership, Role, TeamMembership
from tests.factories import TeamFactory, UserFactory
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_adds_a_member_and_changes_their_role(page, context, live_ui, acme, alice, tmp_path) -> None:
    dave = UserFactory(username="dave", email="dave@example.com")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/members/")

    page.get_by_label("Username or e-mail").fill("dave@example.com")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add member").click()

    row = page.locator('tr[data-member="dave"]')
    row.wait_for()
    assert Membership.objects.get(org=acme, user=dave).role == Role.VIEWER
    row.get_by_label("Role of dave").select_option("approver")
    row.get_by_role("button", name="Change role").click()
    page.wait_for_function("document.querySelector('tr[data-member=\"dave\"] select').value === 'approver'")
    page.wait_for_load_state("networkidle")
    assert Membership.objects.get(org=acme, user=dave).role == Role.APPROVER
    screenshot(page, "members", tmp_path)


def test_demoting_the_last_owner_shows_the_refusal(page, context, live_ui, acme, alice) -> None:
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/members/")

    row = page.locator('tr[data-member="alice"]')
    row.get_by_label("Role of alice").select_option("admin")
    row.get_by_role("button", name="Change role").click()

    alert = page.locator("#members").get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "An organisation must keep at least one owner."
    assert Membership.objects.get(org=acme, user=alice).role == Role.OWNER
    assert page.locator('tr[data-member="alice"] select').input_value() == "owner"


def test_admin_puts_a_member_in_a_team_as_lead(page, context, live_ui, acme, alice, bob) -> None:
    team = TeamFactory(org=acme, name="Support", slug="support")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/members/")

    card = page.locator('[data-team="support"]')
    card.get_by_label("Add member").fill("bob")
    card.get_by_role("button", name="Add", exact=True).click()
    page.locator('[data-team="support"] [data-team-member="bob"]').wait_for()
    page.locator('[data-team="support"]').get_by_role("button", name="Make lead bob").click()
    page.locator('[data-team="support"] [data-team-member="bob"]').get_by_text("lead", exact=True).wait_for()
    assert TeamMembership.objects.get(team=team, user=bob).is_lead is True
