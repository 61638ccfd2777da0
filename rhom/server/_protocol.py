"""The HTTP protocol ``python -m rhom.server`` runs: uvicorn's, with limits on request heads.

uvicorn times out a connection only between requests (``timeout_keep_alive``), and
bounds a request head only with h11 (``h11_max_incomplete_event_size``), not with
httptools, which it prefers when installed. So a client could hold a connection for
ever by sending half a request, or send a head of any size. This subclass of the
protocol uvicorn would pick adds both limits, from the ``header_timeout`` and
``max_header_size`` settings:

* a connection has ``header_timeout`` seconds from its first byte (or from being
  opened, for its first request) to send a whole request head; then it is closed (after
  a 408 when part of a head came);
* a head larger than ``max_header_size`` bytes is answered 431 and the connection closed.

Both limits rest on the request cycle uvicorn starts when a head is complete (its
``cycle`` attribute); the body that follows is the application's to time
(``body_timeout``, rhom.server._params). The limits are read from the
``RHOM_SERVER_*`` environment once per process, the way ``python -m rhom.server``
reads its settings, in every worker it starts.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from rhom.server.settings import Settings

__all__ = ["HTTP_PROTOCOL"]


@functools.cache
def _limits() -> tuple[float, int]:
    settings = Settings.from_env()
    return float(settings.header_timeout), settings.max_header_size


def _reply(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode("ascii")


_TIMED_OUT = _reply("408 Request Timeout")
_TOO_LARGE = _reply("431 Request Header Fields Too Large")


class _HeadLimits:
    """What the protocol classes below add to uvicorn's (a mixin: it comes first)."""

    transport: asyncio.Transport
    cycle: Any  # uvicorn's RequestResponseCycle of the latest request head, or None

    def connection_made(self, transport: Any) -> None:  # an asyncio.Transport
        self._head_bytes = 0  # bytes of the request head received so far
        self._head_tail = b""  # its last bytes: an end of head may span two reads
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self._in_request() and self._head_size(data) > _limits()[1]:
            self._close(_TOO_LARGE)  # before the parser holds it: a head may be megabytes
            return
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            return
        if self._in_request():  # the head is complete: the application has it
            self._disarm()
            self._head_bytes, self._head_tail = 0, b""
            return
        self._head_bytes += len(data)
        self._head_tail = (self._head_tail + data)[-3:]
        if self._head_timer is None:  # the first bytes of the next request
            self._arm()

    def _head_size(self, data: bytes) -> int:
        """The size of the head ``data`` continues: up to its blank line, when ``data``
        holds it (what follows is the body), else all of it so far."""
        end = (self._head_tail + data).find(b"\r\n\r\n")
        if end < 0:
            return self._head_bytes + len(data)
        return self._head_bytes - len(self._head_tail) + end + 4

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _in_request(self) -> bool:
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _arm(self) -> None:
        self._head_timer = asyncio.get_running_loop().call_later(_limits()[0], self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if not self._in_request() and not self.transport.is_closing():
            self._close(_TIMED_OUT if self._head_bytes else b"")

    def _close(self, reply: bytes) -> None:
        self._disarm()
        if reply:
            self.transport.write(reply)
        self.transport.close()


HTTP_PROTOCOL: type[asyncio.Protocol]
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional: uvicorn then runs h11, and so do we
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class _H11(_HeadLimits, H11Protocol):
        """uvicorn's h11 protocol with :class:`_HeadLimits`."""

    HTTP_PROTOCOL = _H11
else:

    class _HttpTools(_HeadLimits, HttpToolsProtocol):
        """uvicorn's httptools protocol with :class:`_HeadLimits`."""

    HTTP_PROTOCOL = _HttpTools
