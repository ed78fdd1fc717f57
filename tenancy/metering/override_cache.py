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
once it is back; the copies' minute of life bounds that (chatpresets/version_tokens.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from chatpresets.version_tokens import OrgCopies
from tenancy.models import LimitOverride

# (team_id or None for the member's own row, team slug or None, limits)
OverrideRow = tuple[Any, str | None, dict[str, Any]]

COPIES = OrgCopies("limit-overrides", what="limit overrides")


def override_rows(*, org_id: Any, user_id: Any) -> list[OverrideRow]:
    """The member's own override row and their teams' rows, each once."""
    held = COPIES.at(org_id)  # one cache read for both answers
    # The query built only when the copy lacks it: building a queryset costs as much as the rest of the call.
    if not held.get("any", lambda: LimitOverride.objects.filter(org_id=org_id).exists()):
        return []
    return held.get(("member", user_id), lambda: _query(org_id, user_id))


def changed(org_id: Any) -> None:
    """An override, team or membership of this organisation changed: every process reads afresh."""
    COPIES.changed(org_id)


def forget_local() -> None:
    """Drop this process's copies (tests; the versions in the cache stay)."""
    COPIES.forget_local()


def _query(org_id: Any, user_id: Any) -> list[OverrideRow]:
    member = Q(user_id=user_id) | Q(team__memberships__user_id=user_id)
    rows = LimitOverride.objects.filter(org_id=org_id).filter(member)
    return list(rows.values_list("team_id", "team__slug", "limits").distinct())
