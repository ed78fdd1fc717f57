"""The gate before admission: an adaptive limit on the turns in flight, shrinking while turns are slow
to their first token and growing once a second at the limit shows them quick; a cap on the turns
waiting; and one caller's share of both.

Intervals are 125 ms here, so that eight of them are a second exactly on the test clock."""

from __future__ import annotations

import pytest
from django.test import override_settings

from chatpresets.admission import GROWTH_HOLD_SECONDS, MIN_LIMIT, Gate, Overloaded

pytestmark = pytest.mark.usefixtures("gate_settings")


@pytest.fixture
def gate_settings():
    with override_settings(
        TURN_ADMISSION_TARGET_MS=50,
        TURN_ADMISSION_INTERVAL_MS=125,
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
    clock.advance(0.125)
    return gate.current_limit()


INTERVALS_A_SECOND = round(GROWTH_HOLD_SECONDS / 0.125)


def second_at_the_limit(gate: Gate, clock: Clock, *added_ttft: float) -> list[int]:
    """A second of intervals in which a new turn meets the limit (and is refused) and turns get their
    first tokens after `added_ttft`; the limit after each interval."""
    limits = []
    for _ in range(INTERVALS_A_SECOND):
        refusal_reason(gate, "one-more")
        limits.append(interval(gate, clock, *added_ttft))
    return limits


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
    """Four turns running at once under the limit of 8, slow for three intervals: the limit shrinks by
    a fifth each time, 8 → 6.4 → 5.1 → 4.1; then they end."""
    tokens = busy(gate, 4)
    assert [interval(gate, clock, 0.100, 0.100, 0.100) for _ in range(3)] == [6, 5, 4]
    for token in tokens:
        gate.finish(token)


def test_slow_turns_shrink_the_limit_in_proportion_and_by_a_fifth_at_most() -> None:
    clock = Clock()
    gate = Gate(clock)
    busy(gate, 4)
    assert interval(gate, clock, 0.055, 0.055, 0.055) == 7  # 8 x 50/55 = 7.3
    assert interval(gate, clock, 0.400, 0.400, 0.400) == 5  # 7.3 x 4/5, not 7.3 x 50/400


def test_the_limit_never_falls_below_two() -> None:
    clock = Clock()
    gate = Gate(clock)
    tokens = busy(gate, 4)
    for _ in range(8):
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


def at_the_knee(gate: Gate, clock: Clock) -> None:
    """Pressed from 8 (the knee) to 4, then quick at the limit: back at once, by one an interval, to 6
    (6.4 is 4/5 of the knee), with six turns running."""
    pressed_to_four(gate, clock)
    fill(gate, 4)
    assert interval(gate, clock, 0.010) == 4  # one first token: too few to decide on, the interval goes on
    for limit in (5, 6):
        refusal_reason(gate, "one-more")
        assert interval(gate, clock, 0.010, 0.010, 0.010) == limit
        run(gate, f"regained-{limit}")


def test_quick_turns_at_the_limit_regain_what_slow_ones_took_then_grow_by_one_a_second() -> None:
    clock = Clock()
    gate = Gate(clock)
    at_the_knee(gate, clock)
    # Near the knee the limit grows only after a second at it, quick, since it last changed.
    assert second_at_the_limit(gate, clock, 0.010, 0.010, 0.010) == [6] * 7 + [7]
    run(gate, "seventh")
    assert second_at_the_limit(gate, clock, 0.010, 0.010, 0.010) == [7] * 7 + [8]  # the second starts again
    run(gate, "eighth")
    # MAX_CONCURRENT_STREAMS: the operator's cap is never lifted.
    assert second_at_the_limit(gate, clock, 0.010, 0.010, 0.010) == [8] * INTERVALS_A_SECOND


def test_a_second_with_one_slow_first_token_in_ten_does_not_raise_the_limit() -> None:
    clock = Clock()
    gate = Gate(clock)
    at_the_knee(gate, clock)
    for _ in range(3):  # every median 10 ms, but a third of the turns took 35 ms, over 60% of the 50 ms target
        assert second_at_the_limit(gate, clock, 0.010, 0.010, 0.035) == [6] * INTERVALS_A_SECOND


def test_a_limit_just_shrunk_holds_for_a_second_before_it_grows() -> None:
    clock = Clock()
    gate = Gate(clock)
    at_the_knee(gate, clock)
    assert second_at_the_limit(gate, clock, 0.010, 0.010, 0.010)[-1] == 7
    assert interval(gate, clock, 0.090, 0.090, 0.090) == 5  # slow again at 7.4, the knee now: 7.4 x 4/5
    # 5.9 is 4/5 of the knee already; and the quick turns from before the change do not count.
    assert second_at_the_limit(gate, clock, 0.010, 0.010, 0.010) == [5] * 7 + [6]


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
    clock.advance(2.0)  # nothing for two seconds: those samples are old
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
    clock.advance(2.0)  # quiet seconds: the interval ends with no first token, having run 7 at once
    assert gate.current_limit() == 6
    clock.advance(2.0)  # and seconds with nothing in flight
    assert gate.current_limit() == 4  # an idle process keeps TURN_ADMISSION_MAX_PENDING for a burst


def test_a_turn_waiting_a_whole_interval_counts_as_that_slow() -> None:
    clock = Clock()
    gate = Gate(clock)
    for n in range(4):
        gate.enter(f"stuck-{n}")
    clock.advance(0.150)
    assert gate.current_limit() == 6  # no first token at all, four turns waiting 150 ms or less: 8 x 4/5


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
