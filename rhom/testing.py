"""Test helpers for applications: make the network fail the way real networks do.

:class:`FaultyTransport` wraps the HTTP transport of a :class:`rhom.SyncClient` and injects
faults into chosen requests, so an app's tests can check its offline behaviour against a
real server::

    from rhom.testing import FaultyTransport

    faults = FaultyTransport()
    client = rhom.SyncClient(url, transport=faults)
    faults.lose_reply("POST", "/app/v1/Product")   # the server runs the push, the reply is lost
    client.do_sync()                                # -> a network error; nothing is lost or doubled
    client.do_sync()                                # the link arrives with the pull

Each fault applies to the next ``times`` requests whose method matches and whose path
contains ``path``, after letting the first ``skip`` of them through (``skip=1`` on
``POST /rc/v1/app/bulk_data`` hits the first poll, not the request that starts the
build); faults are used up in the order they were added; :meth:`FaultyTransport.clear` drops
those left.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

__all__ = ["FaultyTransport"]


@dataclass
class _Fault:
    kind: str
    method: str
    path: str
    times: int
    status: int = 0
    body: bytes = b""
    skip: int = 0

    def matches(self, request: httpx.Request) -> bool:
        return self.times > 0 and request.method == self.method and self.path in request.url.path


class FaultyTransport(httpx.BaseTransport):
    """An ``httpx`` transport that fails chosen requests (for tests; thread-safe).

    :param inner: the transport that really sends (default: ``httpx.HTTPTransport()``).
    """

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self.injected: list[str] = []  # "kind METHOD path" of each fault applied, in order

    def lose_reply(self, method: str, path: str, *, times: int = 1, timeout: bool = False, skip: int = 0) -> None:
        """Send the request, let the server act on it, then fail as if the connection
        broke before the reply arrived (``httpx.ReadError``; ``httpx.ReadTimeout`` with
        ``timeout=True``)."""
        self._add(_Fault("timeout_after" if timeout else "lose_reply", method, path, times, skip=skip))

    def truncate_reply(self, method: str, path: str, *, times: int = 1, skip: int = 0) -> None:
        """Send the request, let the server act on it, and deliver only the first half of
        its reply body (a connection cut in the middle of the body)."""
        self._add(_Fault("truncate", method, path, times, skip=skip))

    def refuse(self, method: str, path: str, *, times: int = 1, timeout: bool = False, skip: int = 0) -> None:
        """Fail before sending, as a refused connection (``httpx.ConnectError``;
        ``httpx.ConnectTimeout`` with ``timeout=True``)."""
        self._add(_Fault("timeout_before" if timeout else "refuse", method, path, times, skip=skip))

    def replace_reply(
        self, method: str, path: str, body: bytes, *, status: int = 200, times: int = 1, skip: int = 0
    ) -> None:
        """Send the request, let the server act on it, then answer ``status`` and ``body``
        instead of the server's reply (Rhodes' ``rho_server_response`` source property: a
        server error page for a push that really ran, say)."""
        self._add(_Fault("replace", method, path, times, status, body, skip))

    def answer(self, method: str, path: str, status: int, body: bytes = b"", *, times: int = 1, skip: int = 0) -> None:
        """Answer without reaching the server: ``status`` and ``body`` (a broken proxy,
        a captive portal, a server that returns garbage)."""
        self._add(_Fault("answer", method, path, times, status, body, skip))

    def clear(self) -> None:
        """Drop the faults not used up yet."""
        with self._lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, request: httpx.Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    if fault.skip > 0:  # this one goes through untouched
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    self.injected.append(f"{fault.kind} {request.method} {request.url.path}")
                    return fault
        return None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self._take(request)
        if fault is None:
            return self.inner.handle_request(request)
        if fault.kind == "refuse":
            raise httpx.ConnectError("connection refused (rhom.testing.FaultyTransport)", request=request)
        if fault.kind == "timeout_before":
            raise httpx.ConnectTimeout("connect timed out (rhom.testing.FaultyTransport)", request=request)
        if fault.kind == "answer":
            return httpx.Response(fault.status, content=fault.body, request=request)
        response = self.inner.handle_request(request)
        body = response.read()  # the server has answered: it ran the request
        response.close()
        if fault.kind == "replace":
            return httpx.Response(fault.status, content=fault.body, request=request)
        if fault.kind == "truncate":
            dropped = ("content-length", "content-encoding")
            headers = [(k, v) for k, v in response.headers.items() if k.lower() not in dropped]
            cut = body[: len(body) // 2]
            return httpx.Response(response.status_code, headers=headers, content=cut, request=request)
        if fault.kind == "timeout_after":
            raise httpx.ReadTimeout("timed out waiting for the reply (rhom.testing.FaultyTransport)", request=request)
        raise httpx.ReadError("connection reset before the reply (rhom.testing.FaultyTransport)", request=request)

    def close(self) -> None:
        self.inner.close()
