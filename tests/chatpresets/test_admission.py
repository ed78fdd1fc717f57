"""The gate before admission: a standing queue shuts it to callers already waiting, a full queue to all."""

from __future__ import annotations

import pytest
from django.test import override_settings

from chatpresets.admission import Gate, Overloaded

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


def admit_after(gate: Gate, clock: Clock, caller: str, wait: float) -> None:
    token = gate.enter(caller)
    clock.advance(wait)
    gate.leave(token, admitted=True)


def refusal_reason(gate: Gate, caller: str) -> str:
    with pytest.raises(Overloaded) as refused:
        gate.enter(caller)
    assert refused.value.status_code == 503
    assert refused.value.code == "overloaded"
    return refused.value.details["reason"]


def test_quick_admissions_never_shut_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    waiting = gate.enter("flood")
    for _ in range(20):  # 800 ms of admissions that each waited 40 ms, under the 50 ms target
        admit_after(gate, clock, "flood", 0.040)
    assert not gate.standing
    gate.leave(waiting, admitted=False)


def test_an_interval_whose_quickest_admission_waited_too_long_shuts_the_gate_to_callers_already_waiting() -> None:
    clock = Clock()
    gate = Gate(clock)
    waiting = gate.enter("flood")
    admit_after(gate, clock, "flood", 0.060)
    admit_after(gate, clock, "flood", 0.060)  # the interval is over: even the quickest waited 60 ms
    assert gate.standing
    assert refusal_reason(gate, "flood") == "admission_wait"
    quiet = gate.enter("quiet")  # a caller with nothing pending still gets in
    assert gate.waiting() == 2
    gate.leave(waiting, admitted=False)
    gate.leave(quiet, admitted=False)


def test_one_slow_admission_among_quick_ones_does_not_shut_the_gate() -> None:
    clock = Clock()
    gate = Gate(clock)
    admit_after(gate, clock, "a", 0.090)
    admit_after(gate, clock, "a", 0.005)
    admit_after(gate, clock, "a", 0.010)  # interval over: the quickest waited 5 ms
    assert not gate.standing


def test_the_gate_opens_again_once_the_queue_drains() -> None:
    clock = Clock()
    gate = Gate(clock)
    admit_after(gate, clock, "a", 0.060)
    admit_after(gate, clock, "a", 0.060)
    assert gate.standing
    clock.advance(0.200)  # an interval with nothing pending and nothing admitted
    token = gate.enter("a")
    assert not gate.standing
    gate.leave(token, admitted=False)


def test_a_stall_with_nothing_admitted_for_a_whole_interval_shuts_the_gate() -> None:
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
    assert gate.waiting() == 4
    assert refusal_reason(gate, "another") == "admission_queue"


def test_one_caller_may_hold_only_its_share_of_the_queue() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.enter("flood"), gate.enter("flood")  # STREAM_ORG_SHARE 0.5 of 4
    assert refusal_reason(gate, "flood") == "admission_share"
    gate.enter("quiet")
    assert gate.waiting() == 3
