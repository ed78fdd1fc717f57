"""Key callers kept per process (tenancy/caller_cache.py): no key or membership query on a repeated
call, and every write that can change the answer seen on the next call, in this process and others."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatpresets import version_tokens
from chatpresets.cache_outage import BREAKER
from chatpresets.errors import NotFound
from tenancy import caller_cache, key_guard, services
from tenancy.chat_caller import BadApiKey, ChatCaller, ChatNotAllowed, chat_caller_for_secret
from tenancy.models import ApiKey, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(bob, acme, make_key) -> tuple[ApiKey, str]:
    return make_key(bob, acme, ["chat"])


def call(secret: str) -> ChatCaller:
    return chat_caller_for_secret(secret, org_slug=None)


def caller_queries(secret: str) -> int:
    """The reads of keys and memberships one call makes."""
    with CaptureQueriesContext(connection) as queries:
        call(secret)
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    return sum(('"tenancy_apikey"' in sql or '"tenancy_membership"' in sql) for sql in reads)


def as_another_process(write: Any) -> None:
    """Run `write` while keeping this process's copies as they were: as a process that did not write it."""
    kept = dict(caller_cache.COPIES._kept)
    write()
    caller_cache.COPIES._kept.update(kept)


def test_a_repeated_call_reads_neither_key_nor_membership(key) -> None:
    _, secret = key
    assert caller_queries(secret) == 2  # the key, to learn its organisation, and the membership, kept
    assert caller_queries(secret) == 1  # the key again, now kept under its organisation's version
    assert caller_queries(secret) == 0
    assert call(secret).membership.role == Role.MEMBER


def test_a_repeated_call_reads_its_organisations_token_once(key, monkeypatch) -> None:
    api_key, secret = key
    call(secret), call(secret)
    reads = []
    real = version_tokens.current
    monkeypatch.setattr(version_tokens, "current", lambda name, **kw: reads.append(name) or real(name, **kw))
    assert call(secret).membership.user_id == api_key.user_id
    assert reads == [caller_cache.COPIES.version_key(api_key.org_id)]


def test_a_key_revoked_in_another_process_is_refused_on_the_next_call(key, bob) -> None:
    api_key, secret = key
    call(secret), call(secret)
    as_another_process(lambda: services.api_key_revoke(api_key=api_key, actor=bob))
    with pytest.raises(BadApiKey):
        call(secret)


# What an owner does to bob's membership, and the refusal his kept key then gets. member_remove
# revokes his keys with an update(), which sends no signal of its own.
MEMBER_CHANGES: dict[str, tuple[Any, type[Exception]]] = {
    "removed": (lambda membership, owner: services.member_remove(membership=membership, actor=owner), BadApiKey),
    "demoted": (
        lambda membership, owner: services.member_change_role(membership=membership, actor=owner, role=Role.VIEWER),
        ChatNotAllowed,
    ),
}


@pytest.mark.parametrize("change", sorted(MEMBER_CHANGES))
def test_a_members_change_in_another_process_counts_on_the_next_call(change, key, acme, alice) -> None:
    _, secret = key
    call(secret), call(secret)
    write, refusal = MEMBER_CHANGES[change]
    membership = Membership.objects.get(org=acme, user__username="bob")
    as_another_process(lambda: write(membership, alice))
    with pytest.raises(refusal):
        call(secret)


def test_a_key_object_kept_past_its_call_reads_its_membership_afresh(key, acme, alice) -> None:
    """The membership read with the key serves that call only: a key held on to (a socket's) asks again."""
    api_key, secret = key
    call(secret), call(secret)
    held = caller_cache.key_for_prefix(api_key.prefix)
    assert caller_cache.membership_for(held).role == Role.MEMBER
    membership = Membership.objects.get(org=acme, user__username="bob")
    as_another_process(lambda: services.member_change_role(membership=membership, actor=alice, role=Role.VIEWER))
    assert caller_cache.membership_for(held).role == Role.VIEWER


def test_a_deleted_membership_is_the_same_404(key, acme) -> None:
    _, secret = key
    call(secret), call(secret)
    as_another_process(lambda: Membership.objects.get(org=acme, user__username="bob").delete())
    with pytest.raises(NotFound):
        call(secret)


def test_a_deactivated_user_is_refused_and_a_reactivated_one_admitted(key, bob) -> None:
    _, secret = key
    call(secret), call(secret)
    bob.is_active = False
    as_another_process(bob.save)
    with pytest.raises(BadApiKey):
        call(secret)
    bob.is_active = True
    as_another_process(bob.save)
    assert call(secret).membership.user_id == bob.pk


def test_an_organisations_new_settings_reach_the_next_call(key, acme) -> None:
    _, secret = key
    call(secret), call(secret)
    acme.settings = {**acme.settings, "pii_mode": "block"}
    as_another_process(acme.save)
    assert call(secret).membership.org.settings["pii_mode"] == "block"


def test_an_expired_key_is_refused_without_any_write(bob, acme, make_key, monkeypatch) -> None:
    _, secret = make_key(bob, acme, ["chat"], expires_at=timezone.now() + timedelta(hours=1))
    call(secret), call(secret)
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    with pytest.raises(BadApiKey):
        call(secret)


def test_a_wrong_secret_on_a_kept_prefix_is_refused_and_counted(key, monkeypatch) -> None:
    _, secret = key
    call(secret), call(secret)
    failures: list[Any] = []
    monkeypatch.setattr(key_guard, "record_failure", failures.append)
    with pytest.raises(BadApiKey):
        call(secret[:-4] + "XXXX")
    assert len(failures) == 1


def test_what_a_request_sets_on_its_caller_does_not_reach_the_next(key) -> None:
    _, secret = key
    call(secret), call(secret)
    first = call(secret)
    first.membership.org.settings["pii_mode"] = "block"
    first.membership.role = Role.OWNER
    first.api_key.scopes.append("admin")
    again = call(secret)
    assert (again.membership.role, "admin" in again.api_key.scopes) == (Role.MEMBER, False)
    assert again.membership.org.settings.get("pii_mode") != "block"


def test_a_write_without_a_signal_is_seen_once_the_copy_is_too_old(key, monkeypatch) -> None:
    api_key, secret = key
    call(secret), call(secret)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    assert call(secret).api_key.pk == api_key.pk  # the copy, until it ages out
    later = time.monotonic() + caller_cache.COPIES.max_age + 1
    monkeypatch.setattr(caller_cache.COPIES, "clock", lambda: later)
    with pytest.raises(BadApiKey):
        call(secret)


def test_a_lost_version_is_replaced_not_trusted(key) -> None:
    api_key, secret = key
    call(secret), call(secret)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    cache.clear()  # Redis restarted empty: no process may take its old copy for current
    with pytest.raises(BadApiKey):
        call(secret)


def test_while_the_cache_is_down_every_call_reads_the_database(key, monkeypatch) -> None:
    api_key, secret = key
    call(secret), call(secret)

    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "get_many", down)
    monkeypatch.setattr(cache, "add", down)
    try:
        assert caller_queries(secret) == 2
        BREAKER.reset()  # the same again, with the tokens read together
        with version_tokens.read_together():
            assert caller_queries(secret) == 2
        ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
        with pytest.raises(BadApiKey):
            call(secret)
    finally:
        BREAKER.reset()  # the next test's cache is up


def test_writes_in_another_organisation_leave_this_ones_copy(key, globex, carol, make_key) -> None:
    _, secret = key
    call(secret), call(secret)
    other, _ = make_key(carol, globex, ["chat"])
    other.name = "renamed"
    other.save()
    assert caller_queries(secret) == 0


def test_a_kept_keys_use_is_written_once_per_window(key, monkeypatch) -> None:
    """The kept row does not see the write of its last use: the process remembers it."""
    api_key, secret = key
    call(secret), call(secret)  # kept now, with the use the first call wrote
    later = timezone.now() + timedelta(minutes=5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            call(secret)
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "tenancy_apikey"')]
    assert len(writes) == 1
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == later
