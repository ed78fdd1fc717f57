"""Per-process copies under version tokens (chatpresets/version_tokens.py): what one process keeps stays
bounded however many organisations and rows pass through it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from chatpresets import version_tokens
from chatpresets.version_tokens import OrgCopies, copied
from tenancy.models import ApiKey, Organization
from tests.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def copies(clock: Clock) -> Iterator[OrgCopies]:
    kept = OrgCopies(f"test-copies-{uuid.uuid4().hex}", what="test rows", max_age=60.0, max_rows=20)
    kept.clock = clock
    yield kept
    kept.forget_local()


def recorded_cache_reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The cache's reads from now on, in order: a key for each `get`, a sorted list for each `get_many`."""
    reads: list[Any] = []
    get, get_many = cache.get, cache.get_many
    monkeypatch.setattr(cache, "get", lambda key, *args: reads.append(key) or get(key, *args))
    monkeypatch.setattr(cache, "get_many", lambda keys, *args: reads.append(sorted(keys)) or get_many(keys, *args))
    return reads


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


def test_a_copy_shares_nothing_a_request_can_change() -> None:
    org = Organization(name="Acme", settings={"pii": {"mode": "off"}})
    key = ApiKey(org=org, scopes=["chat"], name="kept")
    copy = copied(key)
    copy.org.settings["pii"]["mode"] = "block"
    copy.scopes.append("admin")
    copy.org.name = copy.name = "changed"
    kept = ({"pii": {"mode": "off"}}, ["chat"], "Acme", "kept")
    assert (key.org.settings, key.scopes, key.org.name, key.name) == kept
    assert (copy.pk, copy.org_id, copy._state.adding) == (key.pk, key.org_id, key._state.adding)
    nested = {"a": [1, (2, {"b": 3})]}
    assert copied(nested) == nested
    assert copied(nested)["a"][1][1] is not nested["a"][1][1]


@pytest.mark.usefixtures("db")
def test_inside_read_together_an_organisations_tokens_of_every_kind_come_in_one_read(
    copies: OrgCopies, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = OrgCopies(f"test-other-{uuid.uuid4().hex}", what="other rows")
    with version_tokens.read_together():  # every kind's token for acme now exists
        copies.get("acme", 1, lambda: 1), other.get("acme", 2, lambda: 2)
    reads = recorded_cache_reads(monkeypatch)
    with version_tokens.read_together():
        assert (copies.get("acme", 1, lambda: 0), other.get("acme", 2, lambda: 0)) == (1, 2)
        assert copies.get("acme", 3, lambda: 3) == 3
    assert reads == [sorted(kind.version_key("acme") for kind in version_tokens._kinds)]
    reads.clear()
    copies.get("acme", 1, lambda: 0), other.get("acme", 2, lambda: 0)  # outside the block: a read each
    assert reads == [copies.version_key("acme"), other.version_key("acme")]
