"""Connections that cannot pin the server: a header timeout, and a cap that makes room by dropping idle ones.

uvicorn times out only a keep-alive connection after a response: a client that connects
and sends nothing, or sends its headers a byte at a time, holds a file descriptor for
ever. `GuardedProtocol` is uvicorn's httptools protocol with two additions:

- from connecting (or from the previous response) the client has `header_timeout`
  seconds to finish its request's headers, or the connection is closed;
- at `max_connections` open connections, a new one closes an idle connection (no request
  in progress: connected but silent, between requests, or still sending headers), so a
  good client always gets through; if every connection is busy, the new one is closed.

The body timeout is the app's (`server.read_body`): it answers 408. The limits come
from the app's lifespan state (`LIMITS_STATE`), so each worker process gets them from its
own settings. This leans on uvicorn's protocol internals (pinned in pyproject.toml).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LIMITS_STATE = "connection_limits"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    max_connections: int


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a header timeout and a connection cap that evicts idle connections."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        if limits is None:
            return
        if len(self.connections) > limits.max_connections and not self._evict_idle():
            self.transport.close()
            return
        self._arm_header_timer()

    @property
    def limits(self) -> ConnectionLimits | None:
        found = self.app_state.get(LIMITS_STATE)
        return found if isinstance(found, ConnectionLimits) else None

    def idle(self) -> bool:
        """No request in progress: nothing received yet, between requests, or headers still coming."""
        return self.cycle is None or self.cycle.response_complete

    def _evict_idle(self) -> bool:
        """Close one idle connection other than this one; whether there was one."""
        for other in list(self.connections):
            if other is not self and isinstance(other, GuardedProtocol) and other.idle():
                other.transport.close()
                self.connections.discard(other)
                return True
        return False

    def _arm_header_timer(self) -> None:
        limits = self.limits
        if limits is not None and self._header_timer is None:
            self._header_timer = self.loop.call_later(limits.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.idle() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.idle():
            self._arm_header_timer()  # a new request's headers begin: a keep-alive timer gives way to this one
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)
