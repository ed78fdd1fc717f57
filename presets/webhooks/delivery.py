"""One delivery attempt: claim the delivery, POST it signed to the pinned address, settle the log.

The claim (a row lock, skipping rows another worker holds) moves `next_attempt_at` a lease ahead,
so the sweep and a queued task never send the same attempt twice; the POST itself runs outside
any transaction. Redirects are never followed: a 3xx is a failed attempt, like any non-2xx, a
timeout, a refused connection or an address the SSRF rules refuse. After a failure the next
attempt is due WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1) later, until WEBHOOK_MAX_ATTEMPTS.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from chatpresets.errors import UnsafeUrl
from presets.webhooks import signing
from presets.webhooks.models import DeliveryStatus, WebhookDelivery
from presets.webhooks.targets import Target, resolve

USER_AGENT = "ChatPresets-Webhooks/1"
ERROR_MAX_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int | None
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base, 2 * base, 4 * base, ..."""
    return timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1))


def lease() -> timedelta:
    """How long a claimed attempt keeps others off: longer than the POST can take."""
    return timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 4 + 10)


def attempt(*, delivery_id: str, org_id: str, now: datetime | None = None) -> str | None:
    """Make the attempt that is due, if any; returns the delivery's status after it, or None."""
    delivery = _claim(delivery_id, org_id, now or timezone.now())
    if delivery is None:
        return None
    outcome = send(delivery) if delivery.endpoint.is_active else Outcome(None, None, "The endpoint is disabled.")
    return _settle(delivery, outcome, now or timezone.now())


def _claim(delivery_id: str, org_id: str, now: datetime) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, org_id=org_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:  # the last attempt died before it settled
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            delivery.error = delivery.error or "The last attempt ended without an answer."
            delivery.save(update_fields=["status", "next_attempt_at", "error", "updated_at"])
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease()
        delivery.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    return delivery


def _settle(delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> str:
    delivery.last_status_code, delivery.latency_ms = outcome.status_code, outcome.latency_ms
    delivery.error = outcome.error[:ERROR_MAX_CHARS]
    if outcome.succeeded:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS or not delivery.endpoint.is_active:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None  # a disabled endpoint: no retries
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.save(update_fields=["status", "last_status_code", "latency_ms", "error", "next_attempt_at", "updated_at"])
    return delivery.status


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def send(delivery: WebhookDelivery) -> Outcome:
    """POST the delivery once; never raises for anything the network or the receiver does."""
    try:
        target = resolve(delivery.endpoint.url)
    except UnsafeUrl as refused:
        return Outcome(None, None, refused.message)
    body = body_of(delivery)
    started = time.monotonic()
    try:
        status_code = post(target, body=body, headers=_headers(delivery, body))
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as error:  # the network's doing: logged
        return Outcome(None, _ms_since(started), f"{type(error).__name__}: {error}")
    latency = _ms_since(started)
    if 300 <= status_code < 400:
        return Outcome(status_code, latency, "Redirects are not followed.")
    return Outcome(status_code, latency, "" if 200 <= status_code < 300 else f"The receiver answered {status_code}.")


def _headers(delivery: WebhookDelivery, body: bytes) -> dict[str, str]:
    signed = signing.headers(
        secret=delivery.endpoint.secret, message_id=delivery.message_id, timestamp=int(time.time()), body=body
    )
    return {**signed, "content-type": "application/json", "user-agent": USER_AGENT}


def post(target: Target, *, body: bytes, headers: dict[str, str]) -> int:
    """Connect to the resolved address, naming the URL's host in the Host header and in TLS (SNI
    and certificate check); no proxy from the environment, no redirects, the body left unread."""
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST",
            target.pinned_url,
            content=body,
            headers={**headers, "host": target.host_header},
            extensions=extensions,
        )
        response = client.send(request, stream=True)
        response.close()
    return response.status_code


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
