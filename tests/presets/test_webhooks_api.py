"""The webhooks API: admins only, the secret shown once, SSRF refusals with a code, the log and resend."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from presets.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tenancy.models import Role
from tests.factories import MembershipFactory
from tests.presets.conftest import url
from tests.presets.webhook_receiver import Receiver

PUBLIC = "https://93.184.215.14/hook?token=s3cret"


def create(api, user, **body: object):
    body = {"url": PUBLIC, "events": ["preset.version_approved"], **body}
    return api(user).post(url("webhook-list"), body, format="json")


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(api, alice) -> None:
    created = create(api, alice, description="CI")
    assert created.status_code == 201, created.json()
    assert created.json()["secret"].startswith("whsec_")
    listed = api(alice).get(url("webhook-list")).json()["results"]
    assert [row["description"] for row in listed] == ["CI"]
    assert "secret" not in listed[0]
    assert "secret" not in api(alice).get(url("webhook-detail", pk=created.json()["id"])).json()
    event = AuditEvent.objects.get(action="webhook.created")
    assert set(event.payload) == {"host", "events"}  # the host only (an address literal is scrubbed as PII)
    assert "s3cret" not in str(event.payload)  # a token in the URL stays out of the trail


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1/", "http://0x7f000001/", "http://[::ffff:127.0.0.1]/", "http://a@93.184.215.14/", "ftp://x/"],
)
def test_an_unsafe_url_is_refused_at_registration_with_a_code(api, alice, target: str) -> None:
    refused = create(api, alice, url=target)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unsafe_url"
    assert not WebhookEndpoint.objects.exists()


def test_a_change_of_url_passes_the_same_rules(api, alice) -> None:
    endpoint_id = create(api, alice).json()["id"]
    refused = api(alice).patch(url("webhook-detail", pk=endpoint_id), {"url": "http://10.0.0.1/"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "unsafe_url")
    changed = api(alice).patch(url("webhook-detail", pk=endpoint_id), {"is_active": False}, format="json")
    assert (changed.status_code, changed.json()["is_active"]) == (200, False)


def test_an_organisation_registers_at_most_the_operators_number_of_endpoints(api, alice, settings) -> None:
    settings.WEBHOOK_MAX_ENDPOINTS = 2
    assert [create(api, alice).status_code for _ in range(2)] == [201, 201]
    refused = create(api, alice)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["details"]["limit"], error["details"]["limit_value"]) == (
        "too_large",
        "WEBHOOK_MAX_ENDPOINTS",
        2,
    )
    assert WebhookEndpoint.objects.count() == 2
    api(alice).delete(url("webhook-detail", pk=WebhookEndpoint.objects.first().pk))
    assert create(api, alice).status_code == 201  # a freed place can be taken again


def test_unknown_events_are_refused(api, alice) -> None:
    refused = create(api, alice, events=["preset.exploded"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid")


def test_members_are_refused_and_other_organisations_see_nothing(api, alice, bob, globex) -> None:
    endpoint_id = create(api, alice).json()["id"]
    assert create(api, bob).status_code == 403
    globex_admin = MembershipFactory(org=globex, role=Role.ADMIN).user
    assert api(globex_admin).get(url("webhook-detail", pk=endpoint_id, org="globex")).status_code == 404
    deliveries = url("webhook-delivery-list", webhook_id=endpoint_id, org="globex")
    assert api(globex_admin).get(deliveries).status_code == 404


def test_keys_need_the_org_write_scope(api, alice, acme, make_key) -> None:
    _, reader = make_key(alice, acme, ["org:read"])
    _, writer = make_key(alice, acme, ["org:write"])
    assert api(key=reader).get(url("webhook-list")).status_code == 403
    assert api(key=writer).get(url("webhook-list")).status_code == 200


def test_the_log_lists_deliveries_and_a_resend_delivers_the_same_message_again(
    api, alice, acme, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    body = {"url": receiver.url(), "events": ["experiment.stopped"]}
    endpoint_id = api(alice).post(url("webhook-list"), body, format="json").json()["id"]
    from presets.webhooks import emit

    with django_capture_on_commit_callbacks(execute=True):
        emit(org=acme, event="experiment.stopped", data={"experiment": "e9"})
    log = api(alice).get(url("webhook-delivery-list", webhook_id=endpoint_id)).json()["results"]
    assert [(row["event"], row["status"], row["last_status_code"]) for row in log] == [
        ("experiment.stopped", "succeeded", 200)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        resent = api(alice).post(url("webhook-delivery-resend", webhook_id=endpoint_id, pk=log[0]["id"]))
    assert resent.status_code == 202
    assert resent.json()["message_id"] == log[0]["message_id"]
    assert WebhookDelivery.objects.get(pk=resent.json()["id"]).status == DeliveryStatus.SUCCEEDED
    assert [got.headers["webhook-id"] for got in receiver.received] == [log[0]["message_id"]] * 2
    assert AuditEvent.objects.filter(action="webhook.delivery_resent").count() == 1
