"""Turn on TCP_NODELAY for daphne's connections.

Twisted leaves Nagle's algorithm on, so a small write (the next token) waits for the client's
delayed ACK of the previous one: up to 40 ms per event on Linux. A token stream is nothing but
small writes, so each one must leave at once.
"""

from __future__ import annotations

import contextlib
from typing import Any


def enable_tcp_nodelay() -> None:
    try:
        from daphne import http_protocol
    except ImportError:  # served by something other than daphne
        return
    factory = http_protocol.HTTPFactory
    if getattr(factory.buildProtocol, "tcp_nodelay", False):
        return
    build = factory.buildProtocol

    def build_protocol(self: Any, addr: Any) -> Any:
        protocol = build(self, addr)
        connection_made = protocol.connectionMade

        def made() -> None:
            connection_made()
            with contextlib.suppress(AttributeError):  # only TCP transports have the option
                protocol.transport.setTcpNoDelay(True)

        protocol.connectionMade = made
        return protocol

    build_protocol.tcp_nodelay = True
    factory.buildProtocol = build_protocol
