"""Preset rows kept per process (presets/row_copies.py): a turn's preset read once per version, and
every save or delete of one of the organisation's presets seen on the next turn, in every process."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatpresets.errors import NotFound
from presets import row_copies
from presets.resolve import ResolvedPreset, resolve_for_conversation
from presets.services import lifecycle, review
from tests.factories import MembershipFactory
from tests.presets_world import make_preset

pytestmark = pytest.mark.django_db


def resolve(user: Any, org: Any, preset: Any) -> ResolvedPreset:
    return resolve_for_conversation(
        membership=user.memberships.select_related("org").get(org=org), preset_id=preset.pk, version=None, values={}
    )


def preset_reads(user: Any, org: Any, preset: Any) -> int:
    membership = user.memberships.select_related("org").get(org=org)
    with CaptureQueriesContext(connection) as queries:
        resolve_for_conversation(membership=membership, preset_id=preset.pk, version=None, values={})
    return sum(q["sql"].startswith('SELECT "presets_preset"') for q in queries.captured_queries)


def as_another_process(write: Any) -> Any:
    """Run `write` while keeping this process's copies as they were: as a process that did not write it."""
    kept = dict(row_copies.COPIES._kept)
    result = write()
    row_copies.COPIES._kept.update(kept)
    return result


def test_a_presets_row_is_read_once_per_version(acme, bob) -> None:
    preset = make_preset(acme, bob, "kept")
    assert preset_reads(bob, acme, preset) == 1
    assert preset_reads(bob, acme, preset) == 0


def test_an_edit_in_another_process_is_used_on_the_next_turn(acme, bob) -> None:
    preset = make_preset(acme, bob, "edited")
    first = resolve(bob, acme, preset)
    as_another_process(lambda: lifecycle.preset_update(preset=preset, actor=bob, system_prompt="Answer in French."))
    again = resolve(bob, acme, preset)
    assert (again.version, again.system_prompt) == (first.version + 1, "Answer in French.")


def test_an_approval_in_another_process_is_what_readers_get_next(acme, bob) -> None:
    approver = MembershipFactory(org=acme, role="approver").user
    reader = MembershipFactory(org=acme).user
    preset = make_preset(acme, bob, "reviewed", scope="org")
    review.preset_submit(preset=preset, actor=bob)
    review.preset_approve(preset=preset, actor=approver, number=1)
    assert resolve(reader, acme, preset).version == 1
    # An approved shared preset's new version goes to review by itself.
    preset = as_another_process(lambda: lifecycle.preset_update(preset=preset, actor=bob, system_prompt="Second."))
    assert resolve(reader, acme, preset).version == 1
    as_another_process(lambda: review.preset_approve(preset=preset, actor=approver, number=2))
    assert resolve(reader, acme, preset).system_prompt == "Second."


def test_a_trashed_preset_starts_no_new_turn(acme, bob) -> None:
    preset = make_preset(acme, bob, "trashed")
    resolve(bob, acme, preset)
    as_another_process(lambda: lifecycle.preset_delete(preset=preset, actor=bob))
    with pytest.raises(NotFound):
        resolve(bob, acme, preset)


def test_what_a_turn_sets_on_its_row_does_not_reach_the_next(acme, bob) -> None:
    preset = make_preset(acme, bob, "copied")
    membership = bob.memberships.select_related("org").get(org=acme)
    row = row_copies.own(membership.org, preset.pk, trashed_too=False)
    row.owner_id = None
    assert row_copies.own(membership.org, preset.pk, trashed_too=False).owner_id == bob.pk


def test_writes_in_another_organisation_leave_this_ones_copy(acme, globex, bob, carol) -> None:
    preset = make_preset(acme, bob, "ours")
    resolve(bob, acme, preset)
    make_preset(globex, carol, "theirs")
    assert preset_reads(bob, acme, preset) == 0
