"""The `LimitOverride` rows that apply to a member, without a query on every call.

Each process keeps, per organisation, whether it has any override rows and the rows each member
gets (their own row, and those of their teams), valid for one version of the organisation. The
version is a random token in the cache (Redis), replaced on every write that can change the
answer: an override, a team, a team membership or a membership written or deleted (signals in
tenancy/signals.py). So a change takes effect on the next call in every process. Most
organisations have no override at all; their calls then cost one cache read instead of the
slowest query of a turn.

Fail safe, never skipping a limit: while the cache cannot be read, every call queries. A token is
replaced both at once and after the commit: the first covers reads inside the writing transaction,
the second a process that read the new token and then the database before the commit was
visible. If the cache is down when a write replaces it, other processes could keep a stale answer
once it is back; LOCAL_MAX_AGE_SECONDS bounds that.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from chatpresets import version_tokens
from tenancy.models import LimitOverride

LOCAL_MAX_AGE_SECONDS = 60.0
MAX_ORGANISATIONS = 10_000  # per process; beyond it the whole cache starts again
MAX_MEMBERS = 10_000  # per organisation with overrides
WHAT = "limit overrides"

# (team_id or None for the member's own row, team slug or None, limits)
OverrideRow = tuple[Any, str | None, dict[str, Any]]


@dataclass
class _OrgEntry:
    version: str
    loaded_at: float
    has_overrides: bool
    members: dict[Any, list[OverrideRow]] = field(default_factory=dict)


_entries: dict[Any, _OrgEntry] = {}
_lock = threading.Lock()


def version_key(org_id: Any) -> str:
    return f"limit-overrides:version:{org_id}"


def override_rows(*, org_id: Any, user_id: Any) -> list[OverrideRow]:
    """The member's own override row and their teams' rows, each once."""
    version = version_tokens.current(version_key(org_id), what=WHAT)
    if version is None:
        return _query(org_id, user_id)
    entry = _entries.get(org_id)
    if entry is None or entry.version != version or time.monotonic() - entry.loaded_at > LOCAL_MAX_AGE_SECONDS:
        entry = _OrgEntry(version, time.monotonic(), LimitOverride.objects.filter(org_id=org_id).exists())
        with _lock:
            if len(_entries) >= MAX_ORGANISATIONS:
                _entries.clear()
            _entries[org_id] = entry
    if not entry.has_overrides:
        return []
    rows = entry.members.get(user_id)
    if rows is None:
        rows = _query(org_id, user_id)
        with _lock:
            if len(entry.members) >= MAX_MEMBERS:
                entry.members.clear()
            entry.members[user_id] = rows
    return [(team_id, slug, dict(limits)) for team_id, slug, limits in rows]  # the copy stays unchanged


def changed(org_id: Any) -> None:
    """An override, team or membership of this organisation changed: every process reads afresh."""
    version_tokens.replace_now_and_after_commit(version_key(org_id), what=WHAT, forget=lambda: _forget(org_id))


def _forget(org_id: Any) -> None:
    with _lock:
        _entries.pop(org_id, None)


def forget_local() -> None:
    """Drop this process's copies (tests; the versions in the cache stay)."""
    with _lock:
        _entries.clear()


def _query(org_id: Any, user_id: Any) -> list[OverrideRow]:
    member = Q(user_id=user_id) | Q(team__memberships__user_id=user_id)
    rows = LimitOverride.objects.filter(org_id=org_id).filter(member)
    return list(rows.values_list("team_id", "team__slug", "limits").distinct())
