"""The pages that are not ours (Swagger UI, the Django admin) work under the same strict policy."""

from __future__ import annotations

import pytest

from tests.ui.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_swagger_ui_renders_the_schema_without_inline_script_or_style(page, context, live_ui, alice) -> None:
    sign_in(context, live_ui, alice)

    page.goto(f"{live_ui}/api/v1/docs/")

    page.get_by_role("heading", name="ChatPresets API").first.wait_for()
    assert page.locator(".opblock").count() > 50  # every operation is listed


def test_the_admin_signs_in_and_lists_under_the_policy(page, live_ui, django_user_model) -> None:
    django_user_model.objects.create_superuser("root", "root@example.com", "correct horse battery staple")

    page.goto(f"{live_ui}/admin/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("heading", name="Site administration").wait_for()
    page.goto(f"{live_ui}/admin/presets/preset/")
    page.get_by_role("heading", name="Select preset to change").wait_for()
