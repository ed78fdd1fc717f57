"""A breaker: once a dependency fails, its callers skip it for a while instead of each waiting on it.

One per dependency: the cache (cache_outage.py), the Celery broker (queue_limits.py) and the
database pool (pooled_postgresql/).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Breaker:
    """Open for `seconds` after each failure; 0 never opens. A callable `seconds` is read at each
    failure, so a setting changed at run time (tests) takes effect. `log` (e.g. a `partial` of a
    logger method with its format string) gets what failed, the error's type name and the error:
    once as the breaker opens, or at every failure with `log_every_failure`."""

    def __init__(
        self,
        *,
        seconds: float | Callable[[], float],
        log: Callable[[str, str, BaseException | None], object] | None = None,
        log_every_failure: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.failures = 0  # failures seen by this process (for a metrics endpoint, and tests)
        self._log = log
        self._log_every_failure = log_every_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0

    def available(self) -> bool:
        return self._clock() >= self._open_until

    def failed(self, error: BaseException | None = None, *, what: str = "") -> None:
        seconds = self.seconds() if callable(self.seconds) else self.seconds
        with self._lock:
            self.failures += 1
            opening = self.available()
            self._open_until = self._clock() + seconds
        if self._log is not None and (opening or self._log_every_failure):
            self._log(what, type(error).__name__, error)

    def reset(self) -> None:
        """Closed again: the next caller tries the dependency (tests that stop and restart it)."""
        with self._lock:
            self._open_until = 0.0
