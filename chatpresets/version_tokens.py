"""Version tokens in the shared cache (Redis): how per-process copies of tenancy rows learn of a write.

A process keeps rows it read under the token it saw first; a write replaces the token, so every
process reads afresh on its next call. A token is replaced both at once and after the commit: the
first covers reads inside the writing transaction, the second a process that read the new token and
then the database before the commit was visible. While the cache cannot be read the token is None
and callers query: a copy is never trusted without one. `OrgCopies` keeps rows that way, per
organisation; inside `read_together` an organisation's tokens of every kind come in one round trip.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models import Model

from chatpresets.cache_outage import BREAKER, CACHE_ERRORS

Row = TypeVar("Row")
_MISSING: Any = object()


def current(key: str, *, what: str) -> str | None:
    """The token under `key` (a new one if the cache lost it), or None when the cache is down."""
    if not BREAKER.available():
        return None
    try:
        version = cache.get(key)
        if version is None:
            cache.add(key, uuid.uuid4().hex, timeout=None)  # another process may add first: read back
            version = cache.get(key)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what=what)
        return None
    return version


def _current_many(keys: list[str], *, what: str) -> dict[str, str | None]:
    """`current` for several keys in one read (a new token for any the cache lost)."""
    if not BREAKER.available():
        return dict.fromkeys(keys)
    try:
        versions = cache.get_many(keys)
        if lost := [key for key in keys if key not in versions]:
            for key in lost:
                cache.add(key, uuid.uuid4().hex, timeout=None)
            versions |= cache.get_many(lost)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what=what)
        return dict.fromkeys(keys)
    return {key: versions.get(key) for key in keys}


# Every OrgCopies of the process: the kinds of token `read_together` fetches at once.
_kinds: weakref.WeakSet[OrgCopies] = weakref.WeakSet()
_read: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar("token_reads", default=None)


@contextlib.contextmanager
def read_together() -> Iterator[None]:
    """Inside the block, the first token an organisation's copies need comes with that organisation's
    tokens of every other kind, in one round trip, and each serves the rest of the block: a call that
    reads its caller, its limit overrides and its preset pays one read, not three. A token read earlier
    only narrows what a row read under it can miss, as reading it before the query does; keep the block
    to one call's preparation, not the life of its answer."""
    reset = _read.set({})
    try:
        yield
    finally:
        _read.reset(reset)


def replace_now_and_after_commit(key: str, *, what: str, forget: Callable[[], None]) -> None:
    """A write changed what the token covers: a new token now and again once the write commits.
    `forget` drops this process's own copy each time, so it reads afresh even if the cache cannot be told."""

    def replace() -> None:
        forget()
        _replace(key, what=what)

    replace()
    transaction.on_commit(replace)


def _replace(key: str, *, what: str) -> None:
    try:
        cache.set(key, uuid.uuid4().hex, timeout=None)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what=what)


@dataclass
class _Kept:
    version: str
    loaded_at: float
    rows: dict[Hashable, Any] = field(default_factory=dict)


class OrgCopies:
    """Rows one process keeps per organisation, each valid while the organisation's token stands.

    `at` reads the token before any query, so a row read under it is at least as new as the token;
    rows come out as copies, so nothing a request sets on a row reaches another request. A write that
    sends no signal (an `update()`) is seen once `max_age` seconds have passed.
    """

    def __init__(self, name: str, *, what: str, max_age: float = 60.0, max_rows: int = 20_000) -> None:
        # max_rows bounds the rows kept across every organisation: a minute's worth of callers of a
        # busy process, whatever the number of organisations or their members.
        self.name, self.what, self.max_age, self.max_rows = name, what, max_age, max_rows
        self.max_organisations = 10_000  # beyond it the whole copy starts again
        self.clock: Callable[[], float] = time.monotonic
        self._kept: dict[Hashable, _Kept] = {}
        self._lock = threading.Lock()
        self._counted = 0  # the rows kept at the last count
        self._added = 0  # rows kept since
        _kinds.add(self)

    def version_key(self, org_id: Hashable) -> str:
        return f"{self.name}:version:{org_id}"

    def at(self, org_id: Hashable) -> Held:
        """The organisation's copies as of one read of its token: rows a call needs together cost one read."""
        version = self._version(org_id)
        if version is None:
            return Held(self, None)
        kept = self._kept.get(org_id)
        if kept is None or kept.version != version or self.clock() - kept.loaded_at > self.max_age:
            kept = _Kept(version, self.clock())
            with self._lock:
                if len(self._kept) >= self.max_organisations:
                    self._kept.clear()
                self._kept[org_id] = kept
        return Held(self, kept)

    def _version(self, org_id: Hashable) -> str | None:
        key, read = self.version_key(org_id), _read.get()
        if read is None:
            return current(key, what=self.what)
        if key not in read:
            read |= _current_many([kind.version_key(org_id) for kind in _kinds], what=self.what)
        return read[key]

    def get(self, org_id: Hashable, name: Hashable, query: Callable[[], Row]) -> Row:
        """A copy of the row `query` reads, kept under `name`; `query` itself while the cache is down."""
        return self.at(org_id).get(name, query)

    def changed(self, org_id: Hashable) -> None:
        """A row of this organisation changed: every process reads afresh."""
        replace_now_and_after_commit(self.version_key(org_id), what=self.what, forget=lambda: self._forget(org_id))

    def forget_local(self) -> None:
        """Drop this process's copies (tests; the tokens in the cache stay)."""
        with self._lock:
            self._kept.clear()
            self._counted = self._added = 0

    def _forget(self, org_id: Hashable) -> None:
        with self._lock:
            self._kept.pop(org_id, None)

    def _keep(self, kept: _Kept, name: Hashable, row: Any) -> None:
        with self._lock:
            self._added += 1
            if self._counted + self._added >= self.max_rows:
                self._make_room()
            kept.rows[name] = row

    def _make_room(self) -> None:
        """Drop the organisations whose copies aged out; if half the bound is still in use, all of them
        (under the lock). Counting anew also forgets the rows of copies a new token replaced."""
        now = self.clock()
        for org_id, kept in list(self._kept.items()):
            if now - kept.loaded_at > self.max_age:
                del self._kept[org_id]
        counted = sum(len(kept.rows) for kept in self._kept.values())
        if counted >= self.max_rows // 2:  # else the next few rows would count again
            self._kept.clear()
            counted = 0
        self._counted, self._added = counted, 0


class Held:
    """One organisation's copies under the token `OrgCopies.at` read; with none (the cache down) every `get` queries."""

    def __init__(self, copies: OrgCopies, kept: _Kept | None) -> None:
        self._copies, self._kept = copies, kept

    def get(self, name: Hashable, query: Callable[[], Row]) -> Row:
        """A copy of the row `query` reads, kept under `name`."""
        kept = self._kept
        if kept is None:
            return query()
        row = kept.rows.get(name, _MISSING)
        if row is _MISSING:
            row = query()
            self._copies._keep(kept, name, row)
        return copied(row)


# Values a copy may share with the row it was made from: nothing can change them in place.
_IMMUTABLE = frozenset(
    {str, int, float, bool, bytes, type(None), Decimal, uuid.UUID, datetime.datetime, datetime.date, datetime.time}
    | {datetime.timedelta}
)


def copied(value: Row) -> Row:
    """A copy of a kept row that shares nothing a request can change: its related rows (those
    `select_related` loaded) and every dict or list in it (JSON fields, arrays) are copied too.

    What `copy.deepcopy` gives, at a tenth of its cost: a model instance is rebuilt from its
    attributes instead of walked through `__reduce_ex__`, and immutable values are shared, not
    copied. Anything else goes to `deepcopy`.
    """
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if isinstance(value, Model):
        return _copied_instance(value)
    if kind is dict:
        return {key: copied(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return kind(copied(item) for item in value)
    return copy.deepcopy(value)


def _copied_instance(row: Model) -> Any:
    clone = row.__class__.__new__(row.__class__)
    attributes = {name: copied(item) for name, item in row.__dict__.items() if name != "_state"}
    state = copy.copy(row._state)  # ModelState's own copy: its cache dict copied, related managers dropped
    state.fields_cache = {name: copied(related) for name, related in row._state.fields_cache.items()}
    clone.__dict__.update(attributes, _state=state)
    return clone
