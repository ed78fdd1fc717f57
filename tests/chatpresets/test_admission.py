"""The gate before admission: a standing queue shuts it to callers already waiting or just served, a
full queue to all, and one caller may hold only its share of the waiting turns."""

from __future__ import annotations

import pytest
from django.test import override_settings

from chatpresets.admission import RECENT_SECONDS, Gate, Overloaded

pytestmark = pytest.mark.usefixtures("gate_settings")


@pytest.fixture
def gate_settings():
    with override_settings(
        TURN_ADMISSION_TARGET_MS=50, TURN_ADMISSION_INTERVAL_MS=100, TURN_ADMISSION_MAX_PENDING=4, STREAM_ORG_SHARE=0.5
    ):
        yield


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def turn(gate: Gate, clock: Clock, caller: str, added_ttft: float) -> None:
    """A turn admitted at once, whose first token came after `added_ttft` of the service's own time."""
    gate.leave(gate.enter(caller), admitted=True)
    clock.advance(added_ttft)
    gate.observe(added_ttft)


def refusal_reason(gate: Gate, caller: str) -> str:
    with pytest.raises(Overloaded) as refused:
        gate.enter(caller)
    assert refused.value.status_code == 503
    assert refused.value.code == "overloaded"
    return refused.value.details["reason"]


def standing_gate(clock: Clock) -> Gate:
    gate = Gate(clock)
    for _ in range(3):
        gate.observe(0.060)
        clock.advance(0.030)
    turn(gate, clock, "flood", 0.060)  # the interval is over: even the quickest took 60 ms of ours
    assert gate.standing
    return gate


def test_quick_turns_never_shut_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    for _ in range(20):  # 800 ms of turns that each took 40 ms of ours, under the 50 ms target
        turn(gate, clock, "flood", 0.040)
    assert not gate.standing


def test_while_the_queue_stands_a_caller_just_served_is_refused_and_a_quiet_one_gets_in() -> None:
    clock = Clock()
    gate = standing_gate(clock)
    assert refusal_reason(gate, "flood") == "admission_wait"
    quiet = gate.enter("quiet")
    assert refusal_reason(gate, "quiet") == "admission_wait"  # it has a turn waiting now
    gate.leave(quiet, admitted=False)


def test_while_the_queue_stands_only_one_quiet_callers_turn_gets_in_an_interval() -> None:
    clock = Clock()
    gate = standing_gate(clock)
    gate.enter("first-quiet")
    assert refusal_reason(gate, "second-quiet") == "admission_wait"
    for _ in range(3):  # the queue still stands
        clock.advance(0.030)
        gate.observe(0.070)
    assert refusal_reason(gate, "second-quiet") == "admission_wait"
    clock.advance(0.020)  # a new interval: it still stands (70 ms), and one more may enter
    gate.enter("second-quiet")
    assert gate.standing
    assert refusal_reason(gate, "third-quiet") == "admission_wait"


def test_a_caller_not_served_for_a_while_gets_in_even_while_the_queue_stands() -> None:
    clock = Clock()
    gate = standing_gate(clock)
    for _ in range(4):  # the queue still stands, half a second on
        clock.advance(RECENT_SECONDS / 4)
        gate.observe(0.070)
        gate.observe(0.070)
        gate.observe(0.070)
    gate.enter("flood")
    assert gate.standing


def test_one_slow_turn_at_a_quiet_time_does_not_shut_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    clock.advance(0.010)
    gate.observe(0.300)
    gate.observe(0.200)
    clock.advance(0.100)
    gate.enter("a")  # the interval is over with two first tokens, both slow: too few for a queue
    assert not gate.standing


def test_samples_from_before_a_quiet_spell_do_not_shut_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    for _ in range(3):
        gate.observe(0.080)
        clock.advance(0.020)
    clock.advance(1.0)  # nothing for a second: those samples are old
    gate.enter("a")
    assert not gate.standing


def test_one_slow_turn_among_quick_ones_does_not_shut_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    turn(gate, clock, "a", 0.090)
    turn(gate, clock, "a", 0.005)
    turn(gate, clock, "a", 0.010)  # interval over: the quickest took 5 ms
    assert not gate.standing


def test_the_gate_opens_again_once_the_queue_drains() -> None:
    clock = Clock()
    gate = standing_gate(clock)
    clock.advance(0.200)  # an interval with nothing waiting and no first token
    token = gate.enter("flood")
    assert not gate.standing
    gate.leave(token, admitted=False)


def test_a_stall_with_a_turn_waiting_a_whole_interval_shuts_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.enter("stuck")
    clock.advance(0.150)
    assert refusal_reason(gate, "stuck") == "admission_wait"


def test_at_the_cap_everyone_is_refused_and_a_failed_turn_frees_its_place() -> None:
    clock = Clock()
    gate = Gate(clock)
    tokens = [gate.enter(f"caller-{n}") for n in range(4)]  # one each: under any caller's share
    assert refusal_reason(gate, "someone-new") == "admission_queue"
    gate.leave(tokens[0], admitted=False)
    gate.leave(tokens[0], admitted=False)  # idempotent: the place is freed once
    gate.enter("someone-new")
    assert refusal_reason(gate, "another") == "admission_queue"


def test_one_caller_may_hold_only_its_share_of_the_queue() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.enter("flood"), gate.enter("flood")  # STREAM_ORG_SHARE 0.5 of 4
    assert refusal_reason(gate, "flood") == "admission_share"
    gate.enter("quiet")
    assert gate.waiting() == 3
