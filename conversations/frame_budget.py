"""How fast one conversation websocket may send frames: WEBSOCKET_FRAME_RATE a second, in bursts of up
to WEBSOCKET_FRAME_BURST (a token bucket per socket).

Every frame costs the process a database round trip or more before anything else (each re-reads its
caller, so a revocation stops the next frame), and only turn frames pass the admission gate and the
rate limits. A socket's frames are read one at a time, but without a budget a caller's sockets (a
hundred of them at WEBSOCKET_MAX_PER_CALLER) sending pings in a loop would keep the process's event
loop and database threads busy for everyone on it. A frame past the budget is not read: the socket gets a
`too_many_frames` error frame with `retry_after`. A refused frame still costs the event loop its read,
its dispatch and its error frame, so a socket may have FLOOD_FRAMES frames refused, and one more each
FLOOD_REFILL_SECONDS; past that it is closed with 4429. A client that overshoots now and then is never
closed; one that sends twenty sockets' worth of pings is, within a second or two.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rest_framework import status

from chatpresets.errors import DomainError
from conversations.token_bucket import TokenBucket

FLOOD_FRAMES = 50  # refused frames a socket may send before it is closed: its client is not reading the errors
FLOOD_REFILL_SECONDS = 1.0  # … and one more each this long


class TooManyFrames(DomainError):
    code = "too_many_frames"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    message = "Frames are coming faster than this socket may send them; the frame was not read."

    def __init__(self, *, rate: float, burst: int, wait: float) -> None:
        retry_after = max(1, math.ceil(wait))
        super().__init__(details={"limit_value": rate, "burst": burst, "retry_after": retry_after})


class FrameBudget:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst = rate, burst
        self.frames = TokenBucket(rate, burst, clock)
        self.tolerance = TokenBucket(1 / FLOOD_REFILL_SECONDS, FLOOD_FRAMES, clock)  # refused frames still allowed
        self.flooding = False  # the last refusal was past the tolerance: close the socket

    def spend(self) -> None:
        """Take a frame's token, or raise TooManyFrames (and spend one of the socket's refusals)."""
        wait = self.frames.take()
        if not wait:
            return
        self.flooding = bool(self.tolerance.take())
        raise TooManyFrames(rate=self.rate, burst=self.burst, wait=wait)
