"""Turn on TCP_NODELAY for daphne's connections.

Twisted leaves Nagle's algorithm on, so a small write (the next token) waits for the client's
delayed ACK of the previous one: up to 40 ms per event on Linux. A token stream is nothing but
small writes, so each one must leave at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
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


def limit_websocket_messages(max_bytes: int) -> None:
    """Close a websocket (1009, message too big) whose frame or message passes `max_bytes`.

    Autobahn, under daphne, buffers a whole message of any size by default before the consumer
    sees it, so one frame could hold the process's memory; HTTP bodies have REQUEST_BODY_MAX_BYTES.
    """
    try:
        from daphne import ws_protocol
    except ImportError:  # served by something other than daphne
        return
    factory = ws_protocol.WebSocketFactory
    if getattr(factory.__init__, "message_limit", None) == max_bytes:
        return
    init = getattr(factory.__init__, "unlimited", factory.__init__)

    def limited_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # failByDrop off: the client gets the close frame with 1009, not a bare dropped connection.
        self.setProtocolOptions(maxFramePayloadSize=max_bytes, maxMessagePayloadSize=max_bytes, failByDrop=False)

    limited_init.message_limit = max_bytes
    limited_init.unlimited = init
    factory.__init__ = limited_init


def keep_model_clients_on_the_server_loop() -> None:
    """Under daphne, the loop the reactor runs lives as long as the process: the gateway keeps its model
    clients' connections there, over aiohttp, and closes them as the reactor shuts down (after a drain)."""
    if "twisted.internet.reactor" not in sys.modules:  # not daphne: importing it would install a reactor
        return
    from twisted.internet import defer, reactor

    from chatpresets.llm import gateway

    def closing() -> defer.Deferred:
        return defer.Deferred.fromFuture(asyncio.ensure_future(gateway.close_clients()))

    reactor.callWhenRunning(lambda: asyncio.get_event_loop().call_soon(gateway.keep_clients_on_this_loop))
    reactor.addSystemEventTrigger("before", "shutdown", closing)
