"""This process's interactive model streams: a cap for the process and a fair share per organisation.

A slot is taken when a chat turn or a `/v1` completion is admitted (guardrails.admit, before any
limit is spent or anything stored) and given back when its admission is settled or released, so
it is held for the life of the model stream. Background calls (summaries, titles, replays) take
none: nobody waits on them, and they must not crowd out people who do.

Refusals are cheap on purpose: a counter under a lock, no I/O. The counts are per process (each
web process serves its own streams); a process that dies takes its slots with it.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

from django.conf import settings

from chatpresets import admission, shutdown
from chatpresets.admission import Overloaded, refused

__all__ = ["Overloaded", "Slot", "acquire", "forget_all", "in_use", "org_limit"]


class Slot:
    """One held stream slot; `release` is idempotent, so every ending may call it."""

    def __init__(self, org_id: Any) -> None:
        self.org_id = org_id
        self.held = True
        self.gate_token: object | None = None  # the admission gate's running turn, ended with the slot

    def release(self) -> None:
        with _lock:
            if not self.held:
                return
            self.held = False
            _in_use[self.org_id] -= 1
            if _in_use[self.org_id] <= 0:
                del _in_use[self.org_id]
        admission.finished(self.gate_token)
        shutdown.ended(self)


_lock = threading.Lock()
_in_use: Counter[Any] = Counter()  # org id → slots held; the process total is their sum


def org_limit(own: int | None = None) -> int:
    """The slots one organisation may hold: its share of the process's (at least one), or its own
    `max_concurrent_streams` setting when that is lower; an organisation can tighten, never lift."""
    share = max(1, math.floor(settings.MAX_CONCURRENT_STREAMS * settings.STREAM_ORG_SHARE))
    return share if own is None else min(share, own)


def acquire(org_id: Any, *, own_limit: int | None = None) -> Slot:
    """A slot for one of `org_id`'s streams, or Overloaded (counted) without waiting; ShuttingDown once the
    process drains. A drain waits for the turn from here on, not from its model call."""
    process_limit, share = settings.MAX_CONCURRENT_STREAMS, org_limit(own_limit)
    with _lock:
        if sum(_in_use.values()) >= process_limit:
            reason, value = "process_capacity", process_limit
        elif _in_use[org_id] >= share:
            reason, value = "org_share", share
        else:
            _in_use[org_id] += 1
            reason, slot = None, Slot(org_id)
    if reason is not None:
        raise refused(reason, value)
    try:
        shutdown.admitted(slot)
    except shutdown.ShuttingDown:
        slot.release()
        raise
    return slot


def in_use(org_id: Any = None) -> int:
    """Slots held now: the organisation's, or the process's."""
    with _lock:
        return _in_use[org_id] if org_id is not None else sum(_in_use.values())


def forget_all() -> None:
    """Drop every count, as a fresh process starts: for tests, each of which starts from an idle process."""
    with _lock:
        _in_use.clear()
    shutdown.forget_admitted()
