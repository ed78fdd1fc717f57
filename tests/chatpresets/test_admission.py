"""The gate before admission: an adaptive limit on the turns in flight, stepping down while turns are
slow to their first token and growing while they meet it quickly, short of a level it found slow; a
target that follows the process's quiet turns; a cap on the turns waiting; and one caller's share of
both."""

from __future__ import annotations

import pytest
from django.test import override_settings

from chatpresets import admission
from chatpresets.admission import (
    COLD_TURNS,
    KNEE_MEMORY_SECONDS,
    MIN_LIMIT,
    QUIET_MIN_SAMPLES,
    Gate,
    Overloaded,
)
from chatpresets.observability import metrics
from tests.clock import Clock

pytestmark = pytest.mark.usefixtures("gate_settings")


@pytest.fixture
def gate_settings():
    with override_settings(
        TURN_ADMISSION_TARGET_MS=50,
        TURN_ADMISSION_TARGET_FACTOR=0,  # the fixed target; the tests of the quiet turns set a factor
        TURN_ADMISSION_INTERVAL_MS=100,
        TURN_ADMISSION_MAX_PENDING=4,
        TURN_ADMISSION_IDLE_LIMIT=4,
        STREAM_ORG_SHARE=0.5,
        MAX_CONCURRENT_STREAMS=8,
    ):
        yield


def run(gate: Gate, caller: str) -> object:
    """A turn admitted at once: it holds a stream slot and runs until `finish`."""
    token = gate.enter(caller)
    gate.leave(token, admitted=True)
    return token


QUICK = (0.010,) * 5  # an interval's worth of first tokens (MIN_SAMPLES), each well under the 50 ms target
SLOW = (0.200,) * 5  # … each over twice the target


def interval(gate: Gate, clock: Clock, *added_ttft: float) -> int:
    """One interval in which turns got their first token after `added_ttft` of the service's own time;
    the limit once the gate has looked back at it."""
    for seconds in added_ttft:
        gate.observe(seconds)
    clock.advance(0.100)
    return gate.current_limit()


def refusal_reason(gate: Gate, caller: str) -> str:
    with pytest.raises(Overloaded) as refused:
        gate.enter(caller)
    assert refused.value.status_code == 503
    assert refused.value.code == "overloaded"
    return refused.value.details["reason"]


def fill(gate: Gate, limit: int) -> list[object]:
    """Run turns from distinct callers up to the limit; the next is refused, so the limit was met."""
    tokens = [run(gate, f"caller-{n}") for n in range(limit)]
    assert refusal_reason(gate, "one-more") == "admission_limit"
    return tokens


def test_a_fresh_process_allows_the_operators_stream_cap() -> None:
    gate = Gate(Clock())
    assert gate.current_limit() == 8
    assert len(fill(gate, 8)) == 8


def busy(gate: Gate, turns: int) -> list[object]:
    """Turns running from distinct callers: the process is this busy, under its limit."""
    return [run(gate, f"running-{n}") for n in range(turns)]


def pressed_to_four(gate: Gate, clock: Clock) -> None:
    """Four turns running at once under the limit of 8, far too slow: the limit halves; then they end.
    8 is remembered as the knee (slow above the last quick level)."""
    tokens = busy(gate, 4)
    assert interval(gate, clock, *SLOW) == 4
    for token in tokens:
        gate.finish(token)


def test_a_slow_tail_steps_the_limit_down_a_turn_and_by_half_past_twice_the_target() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)
    assert interval(gate, clock, *(0.010,) * 4, 0.080) == 7  # the slowest over the 50 ms target, under twice it
    assert interval(gate, clock, *(0.010,) * 4, 0.120) == 3  # over twice the target: 7 // 2


def test_when_most_turns_are_slow_the_limit_steps_down_in_proportion() -> None:
    """A queue, not a slow moment: the median over the target as well as the tail. A limit far above
    the knee (a process's idle limit as a surge starts) comes down in proportion, not a turn at a time."""
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)
    assert interval(gate, clock, *(0.080,) * 5) == 5  # 8 x 50/80 ms
    assert interval(gate, clock, 0.010, 0.010, 0.060, 0.060, 0.060) == 4  # three of five slow: 5 x 50/60


def test_the_slowest_tenth_of_the_first_tokens_decides() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)
    assert interval(gate, clock, *(0.010,) * 4, 0.080) == 7  # of five, the slowest: its tail is slow
    assert interval(gate, clock, *(0.010,) * 9, 0.400) == 7  # of ten, the second slowest: one outlier leaves it


def test_the_limit_never_falls_below_two() -> None:
    clock = Clock()
    gate = Gate(clock)
    tokens = busy(gate, 4)
    for _ in range(6):
        interval(gate, clock, *SLOW)
    assert gate.current_limit() == MIN_LIMIT == 2
    for token in tokens:
        gate.finish(token)
    fill(gate, 2)


def test_slow_turns_far_under_the_limit_do_not_shrink_it() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 1)  # one long-context turn at a time: fewer at once would not make it quicker
    for _ in range(3):
        assert interval(gate, clock, *SLOW) == 4  # TURN_ADMISSION_IDLE_LIMIT only


def test_past_the_limit_new_turns_are_refused_and_a_finished_stream_frees_a_place() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    tokens = fill(gate, 4)
    gate.finish(tokens[0])
    gate.finish(tokens[0])  # idempotent: the place is freed once
    run(gate, "one-more")
    assert refusal_reason(gate, "another") == "admission_limit"


def refill(gate: Gate) -> None:
    """Every turn ends, and new ones meet the limit again."""
    for token in list(gate.running):
        gate.finish(token)
    fill(gate, gate.current_limit())


def test_quick_turns_that_meet_the_limit_raise_it_short_of_the_knee_until_it_is_forgotten() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)  # slow at 8
    fill(gate, 4)
    assert interval(gate, clock, 0.010) == 4  # one first token: too few to decide on, the interval goes on
    assert interval(gate, clock, 0.010, 0.010, 0.010, 0.010) == 5  # met, and five first tokens were quick
    for _ in range(4):
        refill(gate)
        interval(gate, clock, *QUICK)
    assert gate.current_limit() == 7  # just under the knee
    for _ in range(90):  # quick and pressed for nine seconds more, 9.6 s after the knee: held still
        refill(gate)
        assert interval(gate, clock, *QUICK) == 7
    clock.advance(0.500)  # past KNEE_MEMORY_SECONDS (10 s): the knee is forgotten and tried again
    refill(gate)
    assert interval(gate, clock, *QUICK) == 8
    refill(gate)
    assert interval(gate, clock, *QUICK) == 8  # MAX_CONCURRENT_STREAMS: the operator's cap is never lifted


def test_a_slow_interval_at_a_level_that_was_quick_steps_down_without_a_knee() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    clock.advance(KNEE_MEMORY_SECONDS)  # 8 forgotten
    fill(gate, 4)
    assert interval(gate, clock, *QUICK) == 5  # 4 was quick
    refill(gate)
    assert interval(gate, clock, *QUICK) == 6  # and 5
    refill(gate)
    assert interval(gate, clock, *(0.010,) * 4, 0.080) == 5  # 6 was slow: the knee
    refill(gate)
    assert interval(gate, clock, *QUICK) == 5  # held under it
    refill(gate)
    assert interval(gate, clock, *(0.010,) * 4, 0.080) == 4  # 5 was quick before: noise, not a knee
    refill(gate)
    assert interval(gate, clock, *QUICK) == 5  # so the limit regains it at once


def test_first_tokens_of_turns_begun_before_the_limit_moved_are_not_counted() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)
    began = clock()
    clock.advance(0.050)
    assert interval(gate, clock, *(0.080,) * 5) == 5  # moved now
    for _ in range(5):
        gate.observe(0.400, began)  # turns admitted under the old limit: slow, but no news of 5
    clock.advance(0.100)
    assert gate.current_limit() == 5
    for _ in range(5):
        gate.observe(0.400, clock())
    clock.advance(0.100)
    assert gate.current_limit() == 2


def test_no_move_while_a_shrink_drains() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 6)
    assert interval(gate, clock, *SLOW) == 4  # 8 // 2, with six turns still running
    assert interval(gate, clock, *SLOW) == 4  # those six are not yet the limit's doing


def test_quick_turns_below_the_limit_do_not_raise_it() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    for _ in range(5):  # busy and quick, never at the limit: nothing shows it is too low
        token = run(gate, "a")
        assert interval(gate, clock, *QUICK) == 4
        gate.finish(token)


def test_one_slow_turn_at_a_quiet_time_leaves_the_limit() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)  # twice that is the cap: the limit's headroom leaves it there
    assert interval(gate, clock, 0.300, 0.200) == 8  # two first tokens, the limit not met: no queue


def test_one_slow_turn_among_quick_ones_leaves_the_limit() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)  # twice that is the cap: the limit's headroom leaves it there
    assert interval(gate, clock, 0.900, *(0.010,) * 9) == 8  # the 90th percentile took 10 ms


def test_samples_from_before_a_quiet_spell_are_not_counted() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)  # twice that is the cap: the limit's headroom leaves it there
    for seconds in SLOW:
        gate.observe(seconds)
    clock.advance(1.0)  # nothing for a second: those samples are old
    assert gate.current_limit() == 8


def test_the_limit_stays_within_twice_what_the_process_ran_lately() -> None:
    clock = Clock()
    gate = Gate(clock)
    tokens = busy(gate, 3)
    assert interval(gate, clock, *QUICK) == 6  # quick, but a step up to 8 would be untried
    tokens += busy(gate, 3)
    assert refusal_reason(gate, "one-more") == "admission_limit"
    for token in tokens:
        gate.finish(token)
    clock.advance(1.0)  # a quiet second: the interval ends with no first token, having run 7 at once
    assert gate.current_limit() == 6
    clock.advance(1.0)  # and a second with nothing in flight
    assert gate.current_limit() == 4  # an idle process keeps TURN_ADMISSION_IDLE_LIMIT for a burst


@override_settings(TURN_ADMISSION_IDLE_LIMIT=4, TURN_ADMISSION_MAX_PENDING=8)
def test_a_process_running_a_share_of_a_busy_hosts_turns_presses_on_its_limit() -> None:
    """Several processes on a host: each runs a few turns, all slow, because the others take the cores.
    At the idle limit (not the queue cap) the few turns count as pressing on it, so the limit steps down."""
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 2)
    assert interval(gate, clock, *QUICK) == 4  # the idle limit, though eight may wait
    assert interval(gate, clock, *(0.080,) * 5) == 2  # two of four in flight, slow: 4 x 50/80


@pytest.mark.parametrize(
    ("waited", "limit"),
    [
        (0.150, 4),  # a whole interval and more, over twice the target: 8 x 1/2
        (0.070, 5),  # four waits of 70 ms: 8 x 50/70
        (0.040, 8),  # 40 ms so far may yet be a quick turn: nothing to decide on
    ],
)
def test_turns_waiting_for_admission_past_the_target_count_before_any_first_token(waited: float, limit: int) -> None:
    """A surge: turns queue for admission and none has answered yet. Each waiting past the target counts
    as slow as its wait so far, so the limit moves while they queue, not once they answer."""
    clock = Clock()
    gate = Gate(clock)
    clock.advance(max(0.0, 0.100 - waited))  # the interval ends as the last of them has waited `waited`
    for n in range(4):
        gate.enter(f"queued-{n}")
    clock.advance(waited)
    assert gate.current_limit() == limit


def test_one_caller_may_have_only_its_share_of_the_limit_in_flight() -> None:
    gate = Gate(Clock())
    tokens = [run(gate, "flood") for _ in range(4)]  # STREAM_ORG_SHARE 0.5 of the limit, 8
    assert refusal_reason(gate, "flood") == "admission_share"
    run(gate, "quiet")  # the rest of the process is everyone else's
    gate.finish(tokens[0])
    run(gate, "flood")


def test_one_caller_at_its_share_while_turns_stay_quick_raises_the_limit() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    batch = [run(gate, "batch") for _ in range(2)]  # half of 4: one client's concurrent calls
    assert refusal_reason(gate, "batch") == "admission_share"
    assert interval(gate, clock, *QUICK) == 5
    assert refusal_reason(gate, "batch") == "admission_share"  # 2 of 5, rounded down
    assert interval(gate, clock, *QUICK) == 6
    batch.append(run(gate, "batch"))  # 3 of 6
    assert len(batch) == 3


def test_a_running_turn_stays_in_flight_when_its_request_ends() -> None:
    gate = Gate(Clock())
    token = run(gate, "a")
    gate.leave(token, admitted=False)  # the HTTP response started: the stream runs on
    assert gate.in_flight() == (0, 1)
    gate.finish(token)
    assert gate.in_flight() == (0, 0)


def test_at_the_queue_cap_everyone_is_refused_and_a_failed_turn_frees_its_place() -> None:
    gate = Gate(Clock())
    tokens = [gate.enter(f"caller-{n}") for n in range(4)]  # one each: under any caller's share
    assert refusal_reason(gate, "someone-new") == "admission_queue"
    gate.leave(tokens[0], admitted=False)
    gate.leave(tokens[0], admitted=False)  # idempotent: the place is freed once
    gate.enter("someone-new")
    assert refusal_reason(gate, "another") == "admission_queue"
    assert gate.in_flight() == (4, 0)


def test_one_caller_may_hold_only_its_share_of_the_queue() -> None:
    gate = Gate(Clock())
    gate.enter("flood"), gate.enter("flood")  # STREAM_ORG_SHARE 0.5 of 4
    assert refusal_reason(gate, "flood") == "admission_share"
    gate.enter("quiet")
    assert gate.in_flight() == (3, 0)


def changes() -> dict[str, float]:
    """chatpresets_turn_admission_changes_total by `change`."""
    return {
        change: metrics.REGISTRY.get_sample_value("chatpresets_turn_admission_changes_total", {"change": change}) or 0.0
        for change in ("shrink", "shrink_stalled", "grow")
    }


@override_settings(METRICS_ENABLED=True)
def test_each_move_of_the_limit_is_counted_by_what_moved_it() -> None:
    clock = Clock()
    gate = Gate(clock)
    before = changes()
    stuck = [gate.enter(f"stuck-{n}") for n in range(4)]
    clock.advance(0.150)
    assert gate.current_limit() == 4  # the stall rule: 8 x 1/2
    for token in stuck:
        gate.leave(token, admitted=True)
    assert refusal_reason(gate, "one-more") == "admission_limit"
    assert interval(gate, clock, *QUICK) == 5
    assert interval(gate, clock, *(0.060,) * 5) == 4  # slow first tokens, the limit pressed on: a turn down
    assert interval(gate, clock, *QUICK) == 4  # quick, the limit not met: no move, none counted
    after = changes()
    assert {change: after[change] - before[change] for change in after} == {"shrink": 1, "shrink_stalled": 1, "grow": 1}


def warm(clock: Clock) -> Gate:
    """A process past its cold turns (COLD_TURNS, one at a time): its next turns alone are quiet."""
    gate = Gate(clock)
    one_at_a_time(gate, 0.045, count=COLD_TURNS)
    return gate


def one_at_a_time(gate: Gate, seconds: float, count: int = QUIET_MIN_SAMPLES) -> None:
    """`count` turns, one after another (quiet, unless others are running), each `seconds` of the
    service's own time to its first token."""
    for _ in range(count):
        token = run(gate, "alone")
        gate.observe(seconds)
        gate.finish(token)


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_quick_quiet_turns_tighten_the_target_and_the_limit_follows_it() -> None:
    clock = Clock()
    gate = warm(clock)
    assert gate.target() == 0.050  # no quiet turn yet: the operator's target
    one_at_a_time(gate, 0.010)
    assert gate.target() == pytest.approx(0.025)  # 2.5 x the quiet turns' 90th percentile
    busy(gate, 4)
    assert interval(gate, clock, *(0.030,) * 5) == 7  # under the operator's 50 ms, over the quiet target


def test_without_a_factor_the_same_turns_leave_the_limit() -> None:
    clock = Clock()
    gate = warm(clock)
    one_at_a_time(gate, 0.010)
    busy(gate, 4)
    assert gate.target() == 0.050
    assert interval(gate, clock, *(0.030,) * 5) == 8


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_a_fresh_processs_first_turns_are_cold_not_quiet() -> None:
    gate = Gate(Clock())
    one_at_a_time(gate, 0.045, count=COLD_TURNS)  # its connections opened, its caches filled
    one_at_a_time(gate, 0.008, count=QUIET_MIN_SAMPLES)
    assert gate.target() == pytest.approx(0.020)  # 2.5 x 8 ms: the cold turns are not in its tail


def callers_first_and_second_turns(gate: Gate, first: float, second: float, callers: int = 10) -> None:
    """New callers one after another, each with a turn of `first` and then one of `second` seconds."""
    for n in range(callers):
        for seconds in (first, second):
            token = run(gate, f"new-{n}")
            gate.observe(seconds, token=token)
            gate.finish(token)


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_a_callers_first_turn_in_the_process_is_cold_not_quiet() -> None:
    gate = warm(Clock())
    one_at_a_time(gate, 0.008)
    # Ten new keys at a quiet moment: each first turn reads its key and membership and writes its use.
    callers_first_and_second_turns(gate, first=0.060, second=0.008)
    assert gate.target() == pytest.approx(0.020)  # 2.5 x 8 ms: not the ceiling for as long as it stays busy
    callers_first_and_second_turns(gate, first=0.008, second=0.012)  # the same callers again: warm, quiet
    assert gate.target() == pytest.approx(0.030)


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_the_turn_in_the_gate_tells_its_own_first_token_apart() -> None:
    gate = warm(Clock())
    one_at_a_time(gate, 0.008)
    admission._gate, saved = gate, admission._gate
    try:
        for n in range(10):
            with admission.pending(f"new-{n}"):
                token = admission.admitted()
                admission.observe(0.060)  # from the turn's timing, in the request's context
            admission.finished(token)
    finally:
        admission._gate = saved
    assert gate.target() == pytest.approx(0.020)
    assert not gate.cold


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_the_target_is_never_looser_than_the_operators() -> None:
    gate = warm(Clock())
    one_at_a_time(gate, 0.040)  # 2.5 x 40 ms would be 100 ms
    assert gate.target() == 0.050


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_too_few_quiet_turns_leave_the_operators_target() -> None:
    gate = warm(Clock())
    one_at_a_time(gate, 0.010, count=QUIET_MIN_SAMPLES - 1)
    assert gate.target() == 0.050
    one_at_a_time(gate, 0.010, count=1)
    assert gate.target() == pytest.approx(0.025)


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_turns_run_beside_others_are_not_quiet() -> None:
    gate = warm(Clock())
    busy(gate, 1)
    one_at_a_time(gate, 0.010)  # each beside the running one
    assert gate.target() == 0.050


@override_settings(TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_the_quiet_tail_is_the_recent_one() -> None:
    gate = warm(Clock())
    one_at_a_time(gate, 0.004, count=50)
    one_at_a_time(gate, 0.012, count=50)  # the process got slower: the earlier quiet turns are forgotten
    assert gate.target() == pytest.approx(0.030)


@override_settings(METRICS_ENABLED=True, TURN_ADMISSION_TARGET_FACTOR=2.5)
def test_the_target_is_a_gauge() -> None:
    clock = Clock()
    gate = warm(clock)
    one_at_a_time(gate, 0.010)
    clock.advance(0.100)
    gate.current_limit()
    assert metrics.REGISTRY.get_sample_value("chatpresets_turn_admission_target_seconds", {}) == pytest.approx(0.025)
