"""A token bucket: `rate` tokens a second, held up to `burst`, on a clock that tests can set.

The websocket limits use it three times: a socket's frames and the refusals it may still have before
it is closed (conversations/frame_budget.py), and a credential's handshakes (conversations/handshakes.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.counted_at = float(burst), clock()

    def take(self) -> float:
        """0 when a token was taken; otherwise the seconds until one will be there (nothing taken)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.counted_at) * self.rate)
        self.counted_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def full(self) -> bool:
        """Back to `burst` by now: forgetting the bucket would change nothing."""
        return self.tokens + (self.clock() - self.counted_at) * self.rate >= self.burst
