"""Room in the process's open-files limit for the websockets it may hold (WEBSOCKET_MAX_OPEN).

Each open socket is a file descriptor. Under a soft limit of 1024 (systemd's default for a service;
containers usually get far more) handshakes would fail with "Too many open files" at about a thousand
sockets, long before the socket cap refuses them with a clear frame. At start the process lifts its
soft limit as far as the cap needs, up to the hard limit (which takes no privilege), and logs a
warning when the hard limit leaves too little room.
"""

from __future__ import annotations

import logging
import resource

logger = logging.getLogger(__name__)

# Descriptors besides the sockets: database and Redis pools, the model's connections, nginx's kept-alive
# upstream connections, logs and the process's own files.
RESERVE = 1024


def make_room(sockets: int) -> int:
    """Lift the soft open-files limit to `sockets` + RESERVE where it is lower; the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = sockets + RESERVE
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    lifted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lifted, hard))
    if lifted < needed:
        logger.warning(
            "open-files limit %d (hard) leaves room for about %d websockets, not WEBSOCKET_MAX_OPEN=%d: "
            "raise the hard limit (LimitNOFILE, ulimit -Hn) or lower WEBSOCKET_MAX_OPEN",
            hard,
            max(0, hard - RESERVE),
            sockets,
        )
    return lifted
