"""API keys in chromium: the secret is shown once with a copy button, and a revoked key stops working."""

from __future__ import annotations

import httpx
import pytest

from tenancy.models import ApiKey
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def api_status(base: str, secret: str) -> int:
    return httpx.get(f"{base}/api/v1/me/", headers={"Authorization": f"Bearer {secret}"}, timeout=10).status_code


def test_key_secret_is_shown_once_and_revoking_stops_it(page, context, live_ui, acme, bob, tmp_path) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_ui)
    sign_in(context, live_ui, bob)
    page.goto(f"{live_ui}/o/acme/keys/")

    page.get_by_label("Name").fill("laptop")
    page.get_by_label("org:read").check()
    page.get_by_role("button", name="Create key").click()

    secret = page.locator("[data-secret]").inner_text()
    assert secret.startswith("cpk_")
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert api_status(live_ui, secret) == 200
    screenshot(page, "api-keys", tmp_path)

    page.reload()  # a GET of the page: the key is listed, its secret never again
    prefix = ApiKey.objects.get(user=bob, name="laptop").prefix
    assert page.locator(f'tr[data-key="{prefix}"]').is_visible()
    assert secret not in page.content()

    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Revoke key laptop").click()  # revoking asks first: "no" keeps it
    assert messages == ["Revoke the key “laptop”? Programs using it stop working at once."]
    assert api_status(live_ui, secret) == 200
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke key laptop").click()
    page.locator(f'tr[data-key="{prefix}"]').get_by_text("revoked").wait_for()
    assert api_status(live_ui, secret) == 401


def test_a_key_without_scopes_is_refused_inline(page, context, live_ui, acme, bob) -> None:
    sign_in(context, live_ui, bob)
    page.goto(f"{live_ui}/o/acme/keys/")
    page.get_by_label("Name").fill("nothing")
    page.get_by_role("button", name="Create key").click()
    assert "Scopes: This list may not be empty." in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Name").input_value() == "nothing"  # what was typed stays
    assert not ApiKey.objects.filter(user=bob).exists()
