"""Limit overrides per process (tenancy/metering/override_cache.py): skipped for organisations without
any, and every write that can change them seen on the next call, in this process and in others."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatpresets import version_tokens
from chatpresets.cache_outage import BREAKER
from tenancy import services
from tenancy.metering import override_cache
from tenancy.metering.rules import subjects
from tenancy.models import LimitOverride, Membership, Organization, User
from tests.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_process() -> Any:
    override_cache.forget_local()
    yield
    override_cache.forget_local()


def member(org: Organization, user: User) -> Membership:
    return Membership.objects.select_related("org").get(org=org, user=user)


def team_limits(membership: Membership) -> dict[str, Any]:
    return {party.label: party.values for party in subjects(membership) if party.kind == "team"}


def user_rpm(membership: Membership) -> Any:
    return next(party for party in subjects(membership) if party.kind == "user").value("rpm")


def override_queries(membership: Membership) -> int:
    with CaptureQueriesContext(connection) as queries:
        subjects(membership)
    return sum("tenancy_limitoverride" in query["sql"] for query in queries.captured_queries)


def as_another_process(write: Any) -> None:
    """Run `write` while keeping this process's copies as they were: as a process that did not write it."""
    kept = dict(override_cache.COPIES._kept)
    write()
    override_cache.COPIES._kept.update(kept)


def test_an_organisation_without_overrides_is_not_queried_again(acme, bob) -> None:
    membership = member(acme, bob)
    assert override_queries(membership) == 1  # whether it has any
    assert override_queries(membership) == 0


def test_a_kept_answer_builds_no_query(acme, bob, monkeypatch) -> None:
    membership = member(acme, bob)
    override_queries(membership)
    built: list[Any] = []
    monkeypatch.setattr(LimitOverride.objects, "filter", lambda *args, **kwargs: built.append(kwargs))
    assert team_limits(membership) == {}
    assert built == []


def test_a_members_override_rows_are_read_once_per_version(acme, bob, team) -> None:
    LimitOverride.objects.create(org=acme, team=team, limits={"team_rpm": 7})
    membership = member(acme, bob)
    assert team_limits(membership) == {"engineering": {"team_rpm": 7}}
    assert override_queries(membership) == 0


def test_an_override_added_in_another_process_applies_on_the_next_call(acme, bob) -> None:
    membership = member(acme, bob)
    default = user_rpm(membership)
    as_another_process(lambda: LimitOverride.objects.create(org=acme, user=bob, limits={"user_rpm": default + 5}))
    assert user_rpm(membership) == default + 5


def test_an_override_changed_or_deleted_applies_on_the_next_call(acme, bob, team) -> None:
    row = LimitOverride.objects.create(org=acme, team=team, limits={"team_rpm": 7})
    membership = member(acme, bob)
    assert team_limits(membership) == {"engineering": {"team_rpm": 7}}
    row.limits = {"team_rpm": 3}
    as_another_process(row.save)
    assert team_limits(membership) == {"engineering": {"team_rpm": 3}}
    as_another_process(row.delete)
    assert team_limits(membership) == {}


def test_a_member_added_to_a_team_with_an_override_gets_its_limit_on_the_next_call(acme, alice) -> None:
    newcomer = MembershipFactory(org=acme).user
    squad = TeamFactory(org=acme, name="Squad", slug="squad")
    LimitOverride.objects.create(org=acme, team=squad, limits={"team_rpm": 2})
    membership = member(acme, newcomer)
    assert team_limits(membership) == {}
    as_another_process(lambda: services.team_member_add(team=squad, actor=alice, user=newcomer))
    assert team_limits(membership) == {"squad": {"team_rpm": 2}}


def test_a_member_leaving_a_team_loses_its_limit_on_the_next_call(acme, bob, team) -> None:
    LimitOverride.objects.create(org=acme, team=team, limits={"team_rpm": 2})
    membership = member(acme, bob)
    assert team_limits(membership) == {"engineering": {"team_rpm": 2}}
    as_another_process(lambda: team.memberships.get(user=bob).delete())
    assert team_limits(membership) == {}


def test_a_renamed_team_is_named_by_its_new_slug(acme, bob, team) -> None:
    LimitOverride.objects.create(org=acme, team=team, limits={"team_rpm": 2})
    membership = member(acme, bob)
    assert set(team_limits(membership)) == {"engineering"}
    team.slug = "platform"
    as_another_process(team.save)
    assert set(team_limits(membership)) == {"platform"}


def test_the_version_is_replaced_again_after_the_commit(acme, bob, django_capture_on_commit_callbacks) -> None:
    """A process that read the new version before the commit re-reads once the row is visible."""
    subjects(member(acme, bob))
    with django_capture_on_commit_callbacks(execute=True):
        LimitOverride.objects.create(org=acme, user=bob, limits={"user_rpm": 1})
        during = cache.get(override_cache.COPIES.version_key(acme.pk))
    assert cache.get(override_cache.COPIES.version_key(acme.pk)) not in (None, during)


def test_a_lost_version_is_replaced_not_trusted(acme, bob) -> None:
    membership = member(acme, bob)
    default = user_rpm(membership)
    as_another_process(lambda: LimitOverride.objects.create(org=acme, user=bob, limits={"user_rpm": default + 1}))
    cache.clear()  # Redis restarted empty: no process may take its old copy for current
    assert user_rpm(membership) == default + 1


def test_while_the_cache_is_down_every_call_reads_the_database(acme, bob, monkeypatch) -> None:
    membership = member(acme, bob)
    default = user_rpm(membership)  # this process now holds "no overrides"

    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    LimitOverride.objects.create(org=acme, user=bob, limits={"user_rpm": default + 2})
    stale = version_tokens._Kept("stale", 1e18, {"any": False})
    monkeypatch.setattr(override_cache.COPIES, "_kept", {acme.pk: stale})
    try:
        assert user_rpm(membership) == default + 2
    finally:
        BREAKER.reset()  # the next test's cache is up


def test_team_writes_in_another_organisation_leave_this_ones_copy(acme, globex, bob) -> None:
    membership = member(acme, bob)
    subjects(membership)
    TeamFactory(org=globex, name="Elsewhere", slug="elsewhere")
    assert override_queries(membership) == 0


def test_an_override_row_handed_out_and_changed_leaves_the_copy(acme, bob, team) -> None:
    LimitOverride.objects.create(org=acme, team=team, limits={"team_rpm": 7})
    handed = override_cache.override_rows(org_id=acme.pk, user_id=bob.pk)
    handed[0][2]["team_rpm"] = 700
    assert override_cache.override_rows(org_id=acme.pk, user_id=bob.pk)[0][2] == {"team_rpm": 7}


def test_both_answers_of_a_call_come_under_one_read_of_the_token(acme, bob, team, monkeypatch) -> None:
    LimitOverride.objects.create(org=acme, team=team, limits={"team_rpm": 7})
    override_cache.override_rows(org_id=acme.pk, user_id=bob.pk)
    reads = []
    real = version_tokens.current
    monkeypatch.setattr(version_tokens, "current", lambda key, **kw: reads.append(key) or real(key, **kw))
    assert override_cache.override_rows(org_id=acme.pk, user_id=bob.pk) != []
    assert reads == [override_cache.COPIES.version_key(acme.pk)]
