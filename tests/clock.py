"""A clock for code that takes one (the admission gate, breakers, budgets, the scheduler, limiters):
tests set or advance `now` instead of sleeping."""

from __future__ import annotations


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
