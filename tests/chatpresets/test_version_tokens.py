"""Per-process copies under version tokens (chatpresets/version_tokens.py): what one process keeps stays
bounded however many organisations and rows pass through it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from chatpresets.version_tokens import OrgCopies


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def copies(clock: Clock) -> Iterator[OrgCopies]:
    kept = OrgCopies(f"test-copies-{uuid.uuid4().hex}", what="test rows", max_age=60.0, max_rows=20)
    kept.clock = clock
    yield kept
    kept.forget_local()


def rows_kept(copies: OrgCopies) -> int:
    return sum(len(kept.rows) for kept in copies._kept.values())


def test_rows_across_organisations_stay_within_the_bound(copies: OrgCopies) -> None:
    most = 0
    for org in range(30):
        for member in range(7):
            assert copies.get(org, member, lambda org=org, member=member: (org, member)) == (org, member)
            most = max(most, rows_kept(copies))
    assert most <= copies.max_rows
    assert rows_kept(copies) > 0  # still keeping: the bound empties the copies, it does not stop them


def test_aged_organisations_make_room_before_fresh_ones_are_dropped(copies: OrgCopies, clock: Clock) -> None:
    for member in range(12):
        copies.get("old", member, lambda: "row")
    clock.now += copies.max_age + 1
    for member in range(8):  # the 20th row counts them: the old organisation's twelve have aged out
        copies.get("new", member, lambda: "row")
    assert "old" not in copies._kept
    assert len(copies._kept["new"].rows) == 8


def test_a_kept_row_is_not_queried_again_and_a_dropped_one_is(copies: OrgCopies) -> None:
    queries: list[int] = []

    def query(member: int) -> int:
        queries.append(member)
        return member

    copies.get("acme", 1, lambda: query(1))
    copies.get("acme", 1, lambda: query(1))
    assert queries == [1]
    for member in range(2, 2 + copies.max_rows):  # past the bound, with every row fresh: all dropped
        copies.get("acme", member, lambda member=member: query(member))
    copies.get("acme", 1, lambda: query(1))
    assert queries.count(1) == 2
