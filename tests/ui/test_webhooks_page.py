"""An org admin registers a webhook on the Webhooks page, a label move is delivered to a loopback
receiver, and the page shows the delivery (status, latency) and resends it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from presets.webhooks.models import WebhookEndpoint
from tests.conversations.conftest import server_env
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory
from tests.presets.webhook_receiver import Receiver, running_receiver
from tests.server import daphne
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def live_hooks(transactional_db: None, fake_server: Any, fake_llm: Any, tmp_path: Any) -> Iterator[str]:
    """The live service, allowed to deliver to loopback (where the receiver listens), tasks inline."""
    env = server_env(fake_server, WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", BACKGROUND_TASKS_INLINE="true")
    with daphne(env, log=tmp_path / "daphne.log") as base:
        yield base


def test_an_admin_registers_an_endpoint_and_sees_a_label_move_delivered(
    page, context, live_hooks, receiver, acme, alice, tmp_path
) -> None:
    preset = approved_preset(acme, alice, "hooked", MembershipFactory(org=acme, role="approver").user, versions=2)
    sign_in(context, live_hooks, alice)
    page.goto(f"{live_hooks}/o/acme/webhooks/")
    page.get_by_label("URL").fill(receiver.url())
    page.get_by_label("preset.label_moved").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("[data-secret]")
    expect(secret).to_be_visible()
    assert secret.inner_text() == WebhookEndpoint.objects.get().secret

    page.goto(f"{live_hooks}/o/acme/presets/{preset.pk}/")
    page.get_by_label("Move label").fill("staging")
    page.get_by_label("to", exact=True).select_option("1")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Label staging now points at version 1")
    assert [json.loads(r.body)["data"]["label"] for r in receiver.received] == ["staging"]

    page.goto(f"{live_hooks}/o/acme/webhooks/")
    expect(page.locator("[data-secret]")).to_have_count(0)  # shown once, in the answer to the create
    row = page.locator("tr[data-delivery]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("preset.label_moved")
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("200")
    assert row.locator("td").nth(4).inner_text().endswith(" ms")  # the latency column
    screenshot(page, "webhooks-delivered", tmp_path)

    page.get_by_role("button", name="Resend preset.label_moved delivery").click()
    expect(page.locator("tr[data-delivery]")).to_have_count(2)
    expect(page.locator("tr[data-delivery]").first).to_contain_text("succeeded")
    assert len(receiver.received) == 2
    assert json.loads(receiver.received[1].body)["data"] == json.loads(receiver.received[0].body)["data"]
