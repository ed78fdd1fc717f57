"""Sign-ins on the audit trail, and password guessing: django-axes locks an account or a client
address (settings `AXES_*`); this module writes the lockout to the audit trail, once per account
and address per cool-off.

Sign-ins (`auth.signed_in`) and failed sign-ins (`auth.sign_in_failed`) go on the platform trail
(`org=None`), as lockouts do: a person signs in to the service, not to one of their organisations.
A failed attempt stores the username as typed (through the trail's PII scrubbing, so an e-mail
address typed as a username is kept as `<EMAIL>`) and never any part of the password."""

from __future__ import annotations

import logging
import math
from typing import Any

import redis
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets import audit_sink as audit
from tenancy.models import User

logger = logging.getLogger(__name__)


@receiver(user_locked_out)
def audit_lockout(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    try:
        if not cache.add(f"login-locked-out:{username}:{ip_address}", 1, timeout=seconds):
            return  # already recorded for this cool-off
    except redis.RedisError:
        pass  # the cache is down: record it again rather than not at all
    target = User.objects.filter(username=username).first() if username else None
    audit.record(
        org=None,
        actor=None,
        action="auth.locked_out",
        target=target,
        payload={"username": username or "", "ip": ip_address, "failure_limit": settings.AXES_FAILURE_LIMIT},
    )
    logger.warning("sign-in locked out for %r from %s for %ss", username, ip_address, seconds)


@receiver(user_logged_in)
def audit_sign_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit.record(org=None, actor=user, action="auth.signed_in", target=user, payload={})


@receiver(user_login_failed)
def audit_failed_sign_in(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get(User.USERNAME_FIELD) or credentials.get("username") or "")[:150]
    target = User.objects.filter(username=username).first() if username else None
    audit.record(org=None, actor=None, action="auth.sign_in_failed", target=target, payload={"username": username})


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What a locked-out sign-in sees (AXES_LOCKOUT_CALLABLE): a page saying how long to wait."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": max(1, math.ceil(seconds / 60))}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
