"""The gate before admission: an adaptive limit on the turns in flight, shrinking while turns are slow
to their first token and growing while they meet it quickly; a cap on the turns waiting; and one
caller's share of both."""

from __future__ import annotations

import pytest
from django.test import override_settings

from chatpresets.admission import MIN_LIMIT, Gate, Overloaded
from chatpresets.observability import metrics

pytestmark = pytest.mark.usefixtures("gate_settings")


@pytest.fixture
def gate_settings():
    with override_settings(
        TURN_ADMISSION_TARGET_MS=50,
        TURN_ADMISSION_INTERVAL_MS=100,
        TURN_ADMISSION_MAX_PENDING=4,
        STREAM_ORG_SHARE=0.5,
        MAX_CONCURRENT_STREAMS=8,
    ):
        yield


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run(gate: Gate, caller: str) -> object:
    """A turn admitted at once: it holds a stream slot and runs until `finish`."""
    token = gate.enter(caller)
    gate.leave(token, admitted=True)
    return token


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
    """Four turns running at once under the limit of 8, slow: the limit halves; then they end."""
    tokens = busy(gate, 4)
    assert interval(gate, clock, 0.100, 0.100, 0.100) == 4
    for token in tokens:
        gate.finish(token)


def test_slow_turns_shrink_the_limit_in_proportion_and_by_half_at_most() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)
    assert interval(gate, clock, 0.080, 0.080, 0.080) == 5  # 8 x 50/80
    assert interval(gate, clock, 0.400, 0.400, 0.400) == 2  # 5 x 1/2, not 5 x 50/400


def test_the_limit_never_falls_below_two() -> None:
    clock = Clock()
    gate = Gate(clock)
    tokens = busy(gate, 4)
    for _ in range(6):
        interval(gate, clock, 0.500, 0.500, 0.500)
    assert gate.current_limit() == MIN_LIMIT == 2
    for token in tokens:
        gate.finish(token)
    fill(gate, 2)


def test_slow_turns_far_under_the_limit_do_not_shrink_it() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 1)  # one long-context turn at a time: fewer at once would not make it quicker
    for _ in range(3):
        assert interval(gate, clock, 0.500, 0.500, 0.500) == 4  # TURN_ADMISSION_MAX_PENDING's headroom only


def test_past_the_limit_new_turns_are_refused_and_a_finished_stream_frees_a_place() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    tokens = fill(gate, 4)
    gate.finish(tokens[0])
    gate.finish(tokens[0])  # idempotent: the place is freed once
    run(gate, "one-more")
    assert refusal_reason(gate, "another") == "admission_limit"


def test_quick_turns_that_meet_the_limit_raise_it_by_one_up_to_the_cap() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    tokens = fill(gate, 4)
    assert interval(gate, clock, 0.010) == 4  # one first token: too few to decide on, the interval goes on
    assert interval(gate, clock, 0.010, 0.010) == 5  # met, and the three first tokens were quick
    for token in tokens:
        gate.finish(token)
    for _ in range(5):
        fill(gate, gate.current_limit())
        interval(gate, clock, 0.010, 0.010, 0.010)
        for token in list(gate.running):
            gate.finish(token)
    assert gate.current_limit() == 8  # MAX_CONCURRENT_STREAMS: the operator's cap is never lifted


def test_quick_turns_below_the_limit_do_not_raise_it() -> None:
    clock = Clock()
    gate = Gate(clock)
    pressed_to_four(gate, clock)
    for _ in range(5):  # busy and quick, never at the limit: nothing shows it is too low
        token = run(gate, "a")
        assert interval(gate, clock, 0.010, 0.010, 0.010) == 4
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
    assert interval(gate, clock, 0.900, 0.005, 0.010) == 8  # the median took 10 ms


def test_samples_from_before_a_quiet_spell_are_not_counted() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)  # twice that is the cap: the limit's headroom leaves it there
    for seconds in (0.080, 0.080, 0.080):
        gate.observe(seconds)
    clock.advance(1.0)  # nothing for a second: those samples are old
    assert gate.current_limit() == 8


def test_the_limit_stays_within_twice_what_the_process_ran_lately() -> None:
    clock = Clock()
    gate = Gate(clock)
    tokens = busy(gate, 3)
    assert interval(gate, clock, 0.010, 0.010, 0.010) == 6  # quick, but a step up to 8 would be untried
    tokens += busy(gate, 3)
    assert refusal_reason(gate, "one-more") == "admission_limit"
    for token in tokens:
        gate.finish(token)
    clock.advance(1.0)  # a quiet second: the interval ends with no first token, having run 7 at once
    assert gate.current_limit() == 6
    clock.advance(1.0)  # and a second with nothing in flight
    assert gate.current_limit() == 4  # an idle process keeps TURN_ADMISSION_MAX_PENDING for a burst


def test_a_turn_waiting_a_whole_interval_counts_as_that_slow() -> None:
    clock = Clock()
    gate = Gate(clock)
    for n in range(4):
        gate.enter(f"stuck-{n}")
    clock.advance(0.150)
    assert gate.current_limit() == 4  # no first token at all, four turns waiting 150 ms or less: 8 x 1/2


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
    assert interval(gate, clock, 0.010, 0.010, 0.010) == 5
    assert refusal_reason(gate, "batch") == "admission_share"  # 2 of 5, rounded down
    assert interval(gate, clock, 0.010, 0.010, 0.010) == 6
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
    assert interval(gate, clock, 0.010, 0.010, 0.010) == 5
    assert interval(gate, clock, 0.060, 0.060, 0.060) == 4  # slow first tokens, the limit pressed on: 5 x 50/60
    assert interval(gate, clock, 0.010, 0.010, 0.010) == 4  # quick, the limit not met: no move, none counted
    after = changes()
    assert {change: after[change] - before[change] for change in after} == {"shrink": 1, "shrink_stalled": 1, "grow": 1}
