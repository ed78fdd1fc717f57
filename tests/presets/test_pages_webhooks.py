"""The Webhooks page: admins register endpoints (secret shown once), see deliveries, resend, delete."""

from __future__ import annotations

from presets.webhooks import emit
from presets.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.presets.pages import page, signed_in
from tests.presets.webhook_receiver import Receiver

FORM = {"url": "https://93.184.215.14/hook", "events": ["preset.version_approved", "experiment.started"]}


def test_an_admin_registers_an_endpoint_and_sees_the_secret_once(alice) -> None:
    client = signed_in(alice)
    created = client.post(page("webhooks-page"), FORM)
    assert created.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in created.content.decode()
    assert endpoint.events == sorted(FORM["events"])
    shown = client.get(page("webhooks-page")).content.decode()
    assert "93.184.215.14/hook" in shown
    assert endpoint.secret not in shown


def test_an_unsafe_url_is_refused_on_the_page(alice) -> None:
    refused = signed_in(alice).post(page("webhooks-page"), {**FORM, "url": "http://169.254.169.254/"})
    assert refused.status_code == 400
    assert "may not reach" in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_members_may_not_open_the_page_and_do_not_see_it_in_the_nav(alice, bob) -> None:
    assert signed_in(bob).get(page("webhooks-page")).status_code == 403
    assert page("webhooks-page") not in signed_in(bob).get(page("presets-page")).content.decode()
    assert page("webhooks-page") in signed_in(alice).get(page("presets-page")).content.decode()


def test_the_page_lists_deliveries_and_resends_one(
    acme, alice, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    client = signed_in(alice)
    client.post(page("webhooks-page"), {**FORM, "url": receiver.url()})
    endpoint = WebhookEndpoint.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        emit(org=acme, event="experiment.started", data={"experiment": "e1"})
    delivery = WebhookDelivery.objects.get()
    assert f'data-delivery="{delivery.pk}"' in client.get(page("webhooks-page")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(page("webhook-resend-page", pk=endpoint.pk, delivery_id=delivery.pk))
    assert resent.status_code == 302
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == [DeliveryStatus.SUCCEEDED] * 2
    assert len(receiver.received) == 2


def test_deleting_an_endpoint_removes_it_with_its_log(acme, alice) -> None:
    signed_in(alice).post(page("webhooks-page"), FORM)
    endpoint = WebhookEndpoint.objects.get()
    emit(org=acme, event="experiment.started", data={})  # logged; not sent outside a commit here
    assert signed_in(alice).post(page("webhook-delete-page", pk=endpoint.pk)).status_code == 302
    assert (WebhookEndpoint.objects.count(), WebhookDelivery.objects.count()) == (0, 0)
