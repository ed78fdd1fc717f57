"""A breaker opens for its window after each failure, logs as its user asked, and closes on reset."""

from __future__ import annotations

from chatpresets.breaker import Breaker
from tests.clock import Clock


def test_a_failure_opens_the_breaker_for_its_window_and_logs_once() -> None:
    clock, logged = Clock(100.0), []
    breaker = Breaker(seconds=2.0, log=lambda *line: logged.append(line), clock=clock)
    error = ConnectionError("refused")
    breaker.failed(error, what="preset content")
    clock.now += 1
    breaker.failed(error, what="throttling")  # already open: the window moves on, no second line
    assert not breaker.available()
    assert logged == [("preset content", "ConnectionError", error)]
    assert breaker.failures == 2
    clock.now += 2
    assert breaker.available()


def test_log_every_failure_logs_each_one() -> None:
    logged = []
    breaker = Breaker(seconds=5, log=lambda *line: logged.append(line[0]), log_every_failure=True)
    breaker.failed(OSError(), what="first")
    breaker.failed(OSError(), what="second")
    assert logged == ["first", "second"]


def test_a_window_read_at_each_failure_of_zero_never_opens() -> None:
    window = [0.0]
    breaker = Breaker(seconds=lambda: window[0])
    breaker.failed()
    assert breaker.available()
    window[0] = 60.0
    breaker.failed()
    assert not breaker.available()
    breaker.reset()
    assert breaker.available()
