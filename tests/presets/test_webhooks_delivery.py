"""Webhook deliveries against a real loopback receiver: signatures, retries with backoff, the log."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from chatpresets import queue_limits
from presets.services import review
from presets.webhooks import emit, signing
from presets.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from presets.webhooks.services import endpoint_create
from presets.webhooks.tasks import deliver, sweep_due_deliveries
from tests.presets.webhook_receiver import Receiver
from tests.presets_world import make_preset

EVENT = "experiment.started"


@pytest.fixture
def endpoint(acme, alice, receiver: Receiver) -> WebhookEndpoint:
    return endpoint_create(org=acme, actor=alice, url=receiver.url(), events=[EVENT, "preset.version_approved"])


def emit_now(acme, django_capture_on_commit_callbacks, **data: object) -> WebhookDelivery:
    with django_capture_on_commit_callbacks(execute=True):
        emit(org=acme, event=EVENT, data=data or {"experiment": "e1"})
    return WebhookDelivery.objects.get()


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    acme, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    [got] = receiver.received
    assert signing.verify(secret=endpoint.secret, headers=got.headers, body=got.body)
    assert got.headers["webhook-id"] == delivery.message_id
    assert got.headers["webhook-signature"].startswith("v1,")
    message = json.loads(got.body)
    assert (message["type"], message["data"]) == (EVENT, {"experiment": "e1"})
    assert (got.path, got.headers["content-type"]) == ("/hook", "application/json")


def test_verify_refuses_a_changed_body_another_secret_and_an_old_timestamp(
    acme, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    emit_now(acme, django_capture_on_commit_callbacks)
    [got] = receiver.received
    assert not signing.verify(secret=endpoint.secret, headers=got.headers, body=got.body + b" ")
    assert not signing.verify(secret=signing.new_secret(), headers=got.headers, body=got.body)
    later = int(got.headers["webhook-timestamp"]) + signing.TOLERANCE_SECONDS + 1
    assert not signing.verify(secret=endpoint.secret, headers=got.headers, body=got.body, now=later)


def test_the_log_records_status_latency_and_attempts(
    acme, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.latency_ms is not None
    assert (delivery.error, delivery.next_attempt_at) == ("", None)


def test_failures_are_retried_with_exponential_backoff_until_they_succeed(
    acme, endpoint, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    receiver.statuses = [500, 503]
    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    first_due = delivery.next_attempt_at
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    assert timedelta(seconds=9) < first_due - delivery.updated_at <= timedelta(seconds=10)
    assert sweep_due_deliveries(now=first_due - timedelta(seconds=1)) == 0  # not due yet: nothing sent
    assert len(receiver.received) == 1

    assert sweep_due_deliveries(now=first_due) == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 503)
    assert delivery.next_attempt_at == first_due + timedelta(seconds=20)  # doubled

    assert sweep_due_deliveries(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 3, 200)
    assert len({got.headers["webhook-id"] for got in receiver.received}) == 1  # one message, three attempts


def test_a_delivery_fails_for_good_after_the_last_attempt(
    acme, endpoint, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [500, 500, 500]
    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    sweep_due_deliveries(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 2, None)
    assert sweep_due_deliveries(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.received) == 2


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    acme, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.statuses = [302]
    receiver.redirect_to = "http://127.0.0.1:9/internal"  # loopback: a followed redirect would escape the checks
    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.PENDING, 302)
    assert "Redirects are not followed" in delivery.error
    assert [got.path for got in receiver.received] == ["/hook"]


def test_an_address_refused_at_delivery_time_is_never_contacted(
    acme, endpoint, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # the receiver's loopback address is no longer allowed
    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, None)
    assert "may not reach" in delivery.error
    assert receiver.received == []


def test_the_connection_goes_to_the_address_resolved_once_with_the_url_host_in_host(
    acme, alice, receiver: Receiver, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    real, lookups = socket.getaddrinfo, []

    def fake_dns(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host != "hooks.example":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    endpoint_create(org=acme, actor=alice, url=f"http://hooks.example:{receiver.port}/in", events=[EVENT])
    lookups.clear()
    emit_now(acme, django_capture_on_commit_callbacks)
    [got] = receiver.received
    assert (got.headers["host"], got.path, lookups) == (f"hooks.example:{receiver.port}", "/in", ["hooks.example"])


def test_only_active_subscribed_endpoints_of_the_organisation_receive(
    acme, globex, alice, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    WebhookEndpoint.objects.create(org=acme, url=receiver.url("/off"), events=[EVENT], secret="whsec_", is_active=False)
    WebhookEndpoint.objects.create(org=acme, url=receiver.url("/other"), events=["preset.label_moved"], secret="x")
    WebhookEndpoint.objects.create(org=globex, url=receiver.url("/globex"), events=[EVENT], secret="whsec_")
    emit_now(acme, django_capture_on_commit_callbacks)
    assert [got.path for got in receiver.received] == ["/hook"]


def test_nothing_is_sent_when_the_emitting_transaction_rolls_back(acme, endpoint, receiver: Receiver) -> None:
    from django.db import transaction

    def failing_change() -> None:
        with transaction.atomic():
            emit(org=acme, event=EVENT, data={})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert (WebhookDelivery.objects.count(), receiver.received) == (0, [])


def test_emit_refuses_an_unknown_event(acme) -> None:
    with pytest.raises(ValueError, match="Unknown webhook event"):
        emit(org=acme, event="preset.aproved", data={})


def test_approving_a_version_notifies_subscribed_endpoints(
    acme, alice, bob, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    preset = make_preset(acme, bob, "hooked", scope="org")
    with django_capture_on_commit_callbacks(execute=True):
        review.preset_submit(preset=preset, actor=bob)
        review.preset_approve(preset=preset, actor=alice, number=1, comment="good")
    [got] = receiver.received  # the endpoint does not subscribe to submissions
    message = json.loads(got.body)
    assert message["type"] == "preset.version_approved"
    assert message["data"]["preset"]["slug"] == "hooked"
    assert (message["data"]["version"], message["data"]["actor"], message["data"]["comment"]) == (1, "alice", "good")
    assert "system_prompt" not in got.body.decode()


def test_a_delivery_whose_last_attempt_died_unsettled_is_marked_failed(acme, endpoint, settings) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    stuck = WebhookDelivery.objects.create(
        org=acme,
        endpoint=endpoint,
        message_id="msg_x",
        event=EVENT,
        payload={},
        attempts=3,
        next_attempt_at=timezone.now() - timedelta(minutes=1),  # its lease ran out
    )
    assert sweep_due_deliveries() == 1
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts, stuck.next_attempt_at) == (DeliveryStatus.FAILED, 3, None)


def test_the_retry_sweep_is_on_the_periodic_schedule(settings) -> None:
    from chatpresets.scheduler import from_beat_schedule

    [entry] = [p for p in from_beat_schedule(settings.CELERY_BEAT_SCHEDULE) if p.name == "retry-webhook-deliveries"]
    assert (entry.task, entry.interval) == (sweep_due_deliveries, settings.WEBHOOK_SWEEP_SECONDS)


def test_a_delivery_to_a_disabled_endpoint_fails_at_once_without_contacting_it(
    acme, alice, endpoint, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    from presets.webhooks.services import delivery_resend, endpoint_update

    delivery = emit_now(acme, django_capture_on_commit_callbacks)
    endpoint_update(endpoint=endpoint, actor=alice, is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        resent = delivery_resend(delivery=delivery, actor=alice)
    resent.refresh_from_db()
    assert (resent.status, resent.attempts, resent.error) == (DeliveryStatus.FAILED, 1, "The endpoint is disabled.")
    assert len(receiver.received) == 1  # the first delivery only


def test_with_the_webhooks_queue_full_a_delivery_waits_due_for_the_sweep(
    acme, endpoint, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.CELERY_QUEUE_MAX_DEPTH = {"webhooks": 1}
    finished = queue_limits.count_running(deliver)  # the one slot is taken
    try:
        delivery = emit_now(acme, django_capture_on_commit_callbacks)  # the emitting change still commits
        assert sweep_due_deliveries() == 0
    finally:
        finished()
    assert receiver.received == []
    assert delivery.status == DeliveryStatus.PENDING
    assert sweep_due_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(receiver.received) == 1


def test_with_the_broker_unreachable_a_delivery_waits_due_for_the_sweep(
    acme, endpoint, receiver: Receiver, broker_unreachable, settings, django_capture_on_commit_callbacks
) -> None:
    delivery = emit_now(acme, django_capture_on_commit_callbacks)  # the emitting change still commits
    assert sweep_due_deliveries() == 0  # refused before any attempt: it stays due
    assert receiver.received == []
    assert delivery.status == DeliveryStatus.PENDING
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the broker is back (here: the embedded run's threads)
    queue_limits.forget_cached_depths()
    assert sweep_due_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(receiver.received) == 1
