"""Denied attempts on the audit trail, as `access.denied` events.

What is recorded:
- every 403 (the role or the key's scope refuses, or a rule such as `prompt_hidden`,
  `self_approval`, `scope_escalation`), in the organisation of the URL, where the caller is a member;
- a 404 for a row that exists in ANOTHER organisation (an id taken from elsewhere), in the caller's
  organisation of the URL; the event names the id the caller sent, never the other organisation;
- a 404 for an organisation that exists but the caller (or their key) does not belong to, on the
  platform trail (`org=None`): the organisation probed is not told who probed it, and the
  prober's own organisation is not the one they addressed.

What is not: a 404 for an id or slug that exists nowhere (the answer is the same body either way,
so recording it would add noise and nothing else), and anonymous callers (401 before any check).
Every denial is recorded, none sampled: a denial costs one insert and is rare in normal use.

Recording never changes the answer: a failed write is logged and the 403 or 404 leaves as it was.
The write runs in its own savepoint so a failure cannot poison a surrounding transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction

from chatpresets import audit_sink as audit
from tenancy.models import Organization

logger = logging.getLogger(__name__)

DENIED = "access.denied"


@dataclass(frozen=True)
class Attempt:
    """One refused request: who, where (route name and method) and the answer it got."""

    actor: Any
    route: str
    method: str
    status: int
    code: str
    addressed: list[tuple[type[models.Model], Any]] = field(default_factory=list)


def attempt_for(
    request: Any, *, status: int, code: str, addressed: list[tuple[type[models.Model], Any]] | None = None
) -> Attempt:
    """The attempt of a Django or DRF request (its user, URL pattern name and method)."""
    return Attempt(
        actor=request.user,
        route=getattr(request.resolver_match, "url_name", "") or "",
        method=request.method or "",
        status=status,
        code=code,
        addressed=addressed or [],
    )


def record_refusal(*, attempt: Attempt, org: Organization | None, org_slug: str | None) -> None:
    """Record a 403, or a 404 that hid something existing; `org` is the caller's organisation of the
    URL when their membership there was resolved, else None (and `org_slug` is what they addressed)."""
    if attempt.status == 403:
        _write(attempt, org=org, target=None)
    elif attempt.status == 404 and org is not None:
        target = foreign_row(attempt.addressed, org=org)
        if target is not None:
            _write(attempt, org=org, target=target)
    elif attempt.status == 404 and org_slug:
        probed = Organization.objects.filter(slug=org_slug).only("pk").first()
        if probed is not None:
            _write(attempt, org=None, target=probed)


def record_hidden(
    *, actor: Any, org: Organization, route: str, addressed: list[tuple[type[models.Model], Any]], method: str = ""
) -> None:
    """A 404 answered outside DRF (a websocket handshake): recorded when an addressed row exists elsewhere."""
    attempt = Attempt(actor=actor, route=route, method=method, status=404, code="not_found", addressed=addressed)
    record_refusal(attempt=attempt, org=org, org_slug=None)


def foreign_row(addressed: list[tuple[type[models.Model], Any]], *, org: Organization) -> models.Model | None:
    """The first addressed row that exists outside `org`, as an unsaved stand-in (model and id only):
    the event names what was asked for without reading, or revealing, whose it is."""
    for model, value in addressed:
        try:
            exists = model._default_manager.filter(pk=value).exclude(org=org).exists()
        except (ValueError, TypeError, ValidationError):  # an id of the wrong shape exists nowhere
            continue
        if exists:
            return model(pk=value)
    return None


def _write(attempt: Attempt, *, org: Organization | None, target: models.Model | None) -> None:
    payload = {"status": attempt.status, "code": attempt.code, "route": attempt.route, "method": attempt.method}
    try:
        with transaction.atomic():
            audit.record(org=org, actor=attempt.actor, action=DENIED, target=target, payload=payload)
    except DatabaseError as error:  # the refusal still leaves; the trail misses this one attempt
        logger.warning("could not record %s (%s %s): %s", DENIED, attempt.method, attempt.route, error)
