"""Send protocol requests over HTTP: the only rhom client module that imports httpx.

:class:`Transport` (and :class:`AsyncTransport`, the same over ``httpx.AsyncClient``)
sends the :class:`~rhom.sync.protocol.WireRequest` of a :class:`~rhom.sync.protocol.Call`
to the sync server and returns its parsed result::

    with Transport("https://sync.example.com/") as transport:
        session = transport.login("alice", "s3cret")       # persist it: client_info.session
        client_id = transport.call(protocol.client_create())
        page = transport.call(protocol.query("Product", client_id=client_id, token="1"))

Errors are translated here, once (``protocol.md`` §1.8)::

    no HTTP reply (refused, reset, TLS failure, timeout)  NetworkError, __cause__ = httpx error
    401                                                   AuthError
    500 "Unknown client"                                  UnknownClientError (a ServerError)
    any other status but 200 and 206                      ServerError(status_code, details=body)
    a 200 reply that does not parse                       ProtocolError

The session is the raw cookie string of the last successful login
(``rhoconnect_session=...;``), sent verbatim as the ``Cookie`` header of every request to
the sync server and never to other hosts (blob URLs may point elsewhere). Like the C++
client, the transport ignores later ``Set-Cookie`` headers: the server repeats the same
value, and a refused login would otherwise replace a good session by an anonymous one
(§1.5). The httpx client's cookie jar is switched off for that reason. The session never
appears in a log line, ``repr`` or error message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from http.cookiejar import Cookie, DefaultCookiePolicy
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote
from urllib.request import Request

import httpx

from rhom.exceptions import (
    AuthError,
    BlobError,
    ConfigurationError,
    NetworkError,
    ProtocolError,
    ServerError,
    SyncError,
)
from rhom.sync import protocol
from rhom.sync.errors import UnknownClientError, is_unknown_client_message
from rhom.sync.protocol import CLIENT_ID_HEADER, Call, Reply, WireRequest

__all__ = ["DEFAULT_TIMEOUT", "AsyncTransport", "Transport"]

T = TypeVar("T")
log = logging.getLogger("rhom.sync")

DEFAULT_TIMEOUT = 30.0  #: seconds, the C++ client's ``net_timeout``
_OK = frozenset({200, 206})
_QUERY_SAFE = "!#$%&'()*+,/:;=?@[]~"


def _user_agent() -> str:
    try:
        return f"rhom/{version('rhom')} (python)"
    except PackageNotFoundError:
        return "rhom (python)"


class _RefuseCookies(DefaultCookiePolicy):
    """A cookie policy that stores and sends nothing: the transport manages the session."""

    def set_ok(self, cookie: Cookie, request: Request) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: Request) -> bool:
        return False


def _normalize_base_url(base_url: str) -> httpx.URL:
    """Return the sync server URL ending with exactly one ``/`` (§1.1)."""
    try:
        url = httpx.URL(base_url.strip())
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"sync server URL {base_url!r}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"sync server URL {base_url!r}: expected http(s)://host/...")
    return url.copy_with(path=url.path.rstrip("/") + "/", query=None, fragment=None)


class _TransportBase:
    """What the sync and async transports share: URLs, headers, the session, errors."""

    def __init__(
        self,
        base_url: str,
        *,
        session: str | None,
        timeout: float,
        ssl_verify_peer: bool,
        user_agent: str | None,
    ) -> None:
        self._base = _normalize_base_url(base_url)
        self._session = session or None
        self._timeout = httpx.Timeout(timeout)
        self._ssl_verify_peer = ssl_verify_peer
        self._user_agent = user_agent or _user_agent()

    @property
    def base_url(self) -> str:
        """The sync server URL, ending with ``/``."""
        return str(self._base)

    @property
    def session(self) -> str | None:
        """The session cookie string (``rhoconnect_session=...;``), ``None`` when logged out.

        Read it to persist it (``client_info.session``) and set it after a restart; set
        it to ``None`` on logout or after an :class:`~rhom.exceptions.AuthError`.
        """
        return self._session

    @session.setter
    def session(self, value: str | None) -> None:
        self._session = value or None

    @property
    def is_logged_in(self) -> bool:
        """True while a session is stored."""
        return self._session is not None

    @property
    def ssl_verify_peer(self) -> bool:
        """Whether TLS certificates are verified (on unless turned off at construction)."""
        return self._ssl_verify_peer

    def __repr__(self) -> str:
        state = "logged in" if self.is_logged_in else "logged out"
        return f"<{type(self).__name__} {self.base_url} {state}>"

    def _url(self, request: WireRequest) -> httpx.URL:
        if request.path.startswith(("http://", "https://")):
            try:
                url = httpx.URL(request.path)
            except httpx.InvalidURL as exc:
                raise ProtocolError(f"bad URL {_excerpt(request.path)!r}: {exc}") from exc
        elif request.path.startswith("/"):
            url = self._base.copy_with(path=request.path)
        else:
            url = self._base.join(request.path)
        query = quote(request.query, safe=_QUERY_SAFE)  # a server-sent blob URL may hold raw text
        return url.copy_with(query=query.encode("ascii") or None)

    def _is_sync_server(self, url: httpx.URL) -> bool:
        base = self._base
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    def _prepare(self, request: WireRequest, stack: ExitStack) -> tuple[httpx.URL, dict[str, Any]]:
        """Return the URL and the httpx keyword arguments of ``request``."""
        url = self._url(request)
        headers = {"User-Agent": self._user_agent}
        if self._session and self._is_sync_server(url):
            headers["Cookie"] = self._session
        if request.client_id is not None:
            headers[CLIENT_ID_HEADER] = request.client_id
        kwargs: dict[str, Any] = {"headers": headers, "timeout": self._timeout}
        body = None if request.json is None else _json_bytes(request.json)
        if request.blobs:
            kwargs["files"] = [*_blob_parts(request, stack), ("cud", (None, body or b"{}"))]
        elif body is not None:
            headers["Content-Type"] = "application/json"
            kwargs["content"] = body
        return url, kwargs

    def _translate(self, exc: httpx.HTTPError, request: WireRequest, source: str | None) -> SyncError:
        where = _where(request)
        if isinstance(exc, httpx.DecodingError):
            return ProtocolError(f"{where}: reply body cannot be decoded: {exc}", source=source)
        if isinstance(exc, httpx.TimeoutException):
            seconds = self._timeout.read
            never_sent = isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            return NetworkError(f"{where}: timed out after {seconds} s", source=source, may_have_arrived=not never_sent)
        kind = type(exc).__name__
        never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        return NetworkError(
            f"{where}: no reply from the server ({kind}: {exc})", source=source, may_have_arrived=not never_sent
        )

    def _reply(self, response: httpx.Response, request: WireRequest, source: str | None) -> Reply:
        reply = Reply(response.status_code, tuple(response.headers.multi_items()), response.content)
        log.debug("%s %s -> %d", request.method, response.url.path, reply.status_code)
        _raise_for_status(reply, request, source)
        return reply


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _blob_parts(request: WireRequest, stack: ExitStack) -> Iterator[tuple[str, Any]]:
    # file parts first and the JSON "cud" part last, as the C++ client sends them (§5.3)
    for blob in request.blobs:
        try:
            handle = stack.enter_context(blob.path.open("rb"))
        except OSError as exc:
            raise BlobError(f"{blob.field_name}: cannot read {blob.path}: {exc}") from exc
        yield blob.field_name, (blob.path.name, handle, "application/octet-stream")


def _where(request: WireRequest) -> str:
    # the query string is left out: it may carry search terms
    return f"{request.method} {request.path}"


def _excerpt(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raise_for_status(reply: Reply, request: WireRequest, source: str | None) -> None:
    """Raise the error a non-OK status stands for (§1.8); 200 and 206 pass."""
    if reply.status_code in _OK:
        return
    body = reply.text
    message = f"{_where(request)}: HTTP {reply.status_code}: {_excerpt(body) or '(empty body)'}"
    if reply.status_code == 401:
        raise AuthError(message, source=source)
    if reply.status_code == 500 and is_unknown_client_message(body):
        raise UnknownClientError(message, source=source, status_code=500, details=body)
    raise ServerError(message, source=source, status_code=reply.status_code, details=body)


def _parse(call: Call[T], reply: Reply) -> T:
    try:
        return call.parse(reply)
    except ProtocolError as exc:
        if exc.source is None:
            exc.source = call.source
        raise


class Transport(_TransportBase):
    """A blocking connection to one sync server, over ``httpx.Client``.

    :param base_url: the sync server (``syncserver``), e.g. ``https://sync.example.com/``;
        layout-4 routes are built below it.
    :param session: a session string persisted from an earlier login.
    :param client: an ``httpx.Client`` to use instead of creating one; the caller closes
        it. Its cookie jar is switched off.
    :param transport: an httpx transport for the created client (``httpx.MockTransport``
        in tests); ignored when ``client`` is given.
    :param timeout: seconds without progress before a request fails with ``NetworkError``.
    :param ssl_verify_peer: verify TLS certificates; ``False`` only for test servers.
        Ignored when ``client`` or ``transport`` is given.
    :param user_agent: the ``User-Agent`` header; ``rhom/<version> (python)`` by default.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_verify_peer: bool = True,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(base_url, session=session, timeout=timeout,
                         ssl_verify_peer=ssl_verify_peer, user_agent=user_agent)  # fmt: skip
        self._owns_client = client is None
        self._client = client or httpx.Client(verify=ssl_verify_peer, transport=transport)
        self._client.cookies.jar.set_policy(_RefuseCookies())

    def call(self, call: Call[T]) -> T:
        """Send ``call.request`` and return its parsed 200 reply.

        :param call: a request and its parser, built by :mod:`rhom.sync.protocol`.
        :raises NetworkError: no reply.
        :raises AuthError: 401.
        :raises ServerError: any other status but 200/206 (``UnknownClientError`` included).
        :raises ProtocolError: the reply does not match the protocol.
        """
        return _parse(call, self.send(call.request, source=call.source))

    def send(self, request: WireRequest, *, source: str | None = None) -> Reply:
        """Send one request and return its 200/206 reply, unparsed.

        :param request: the request.
        :param source: the source name put on raised errors.
        :raises SyncError: as :meth:`call`, ``ProtocolError`` only for undecodable bodies.
        :raises BlobError: a file of ``request.blobs`` cannot be read.
        """
        with ExitStack() as stack:
            url, kwargs = self._prepare(request, stack)
            try:
                response = self._client.request(request.method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise self._translate(exc, request, source) from exc
        return self._reply(response, request, source)

    def login(self, login: str, password: str) -> str:
        """Log in (§2) and keep the session of the 200 reply; return it for persisting.

        A refused login leaves the stored session as it was.

        :param login: the user name.
        :param password: the password.
        :raises AuthError: the server refused the credentials (401).
        :raises ProtocolError: a 200 reply without a session cookie (Rhodes error 4).
        """
        self._session = self.call(protocol.login(login, password))
        return self._session

    def download(self, request: WireRequest, dest: Path) -> int:
        """Stream a file (a bulk file or a blob) into ``dest``; return its size in bytes.

        A failed download leaves no file behind.

        :param request: from :func:`~rhom.sync.protocol.bulk_file` or
            :func:`~rhom.sync.protocol.blob_file`.
        :param dest: the file to write.
        :raises SyncError: as :meth:`send`.
        """
        with ExitStack() as stack:
            url, kwargs = self._prepare(request, stack)
            try:
                with self._client.stream(request.method, url, **kwargs) as response:
                    if response.status_code not in _OK:
                        response.read()
                        self._reply(response, request, None)
                    return _write(response.iter_bytes(), dest)
            except httpx.HTTPError as exc:
                raise self._translate(exc, request, None) from exc

    @contextmanager
    def lines(
        self, request: WireRequest, *, idle: float, headers: Mapping[str, str] | None = None
    ) -> Iterator[LineStream]:
        """Open a long-lived stream (server-sent events) whose lines arrive as they come.

        :param idle: seconds the stream may stay silent before it fails with a
            ``NetworkError`` (the server sends keep-alives more often than that).
        :param headers: extra request headers (``Last-Event-ID``).
        :raises SyncError: as :meth:`send`, when opening it or while reading it.
        """
        with ExitStack() as stack:
            url, kwargs = self._prepare(request, stack)
            kwargs["headers"].update(headers or {})
            kwargs["timeout"] = httpx.Timeout(self._timeout.connect, read=idle)
            try:
                with self._client.stream(request.method, url, **kwargs) as response:
                    if response.status_code not in _OK:
                        response.read()
                        self._reply(response, request, None)
                    yield LineStream(self, request, response)
            except httpx.HTTPError as exc:
                raise self._translate(exc, request, None) from exc

    def close(self) -> None:
        """Close the httpx client, unless it was passed in."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class LineStream:
    """The lines of an open stream (:meth:`Transport.lines`), and a way to end it."""

    def __init__(self, transport: _TransportBase, request: WireRequest, response: httpx.Response) -> None:
        self._transport = transport
        self._request = request
        self._response = response

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._response.iter_lines()
        except httpx.HTTPError as exc:
            raise self._transport._translate(exc, self._request, None) from exc

    def abort(self) -> None:
        """End the stream from another thread: a read blocked on it returns at once."""
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _write(chunks: Iterator[bytes], dest: Path) -> int:
    size = 0
    try:
        with dest.open("wb") as out:
            for chunk in chunks:
                size += out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


async def _awrite(chunks: AsyncIterator[bytes], dest: Path) -> int:
    size = 0
    try:
        with dest.open("wb") as out:
            async for chunk in chunks:
                size += out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


class AsyncTransport(_TransportBase):
    """The :class:`Transport` API over ``httpx.AsyncClient``, with ``await``.

    Parameters as for :class:`Transport`; ``client`` is an ``httpx.AsyncClient`` and
    ``transport`` an ``httpx.AsyncBaseTransport``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: str | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_verify_peer: bool = True,
        user_agent: str | None = None,
    ) -> None:
        super().__init__(base_url, session=session, timeout=timeout,
                         ssl_verify_peer=ssl_verify_peer, user_agent=user_agent)  # fmt: skip
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(verify=ssl_verify_peer, transport=transport)
        self._client.cookies.jar.set_policy(_RefuseCookies())

    async def call(self, call: Call[T]) -> T:
        """Send ``call.request`` and return its parsed 200 reply; see :meth:`Transport.call`."""
        return _parse(call, await self.send(call.request, source=call.source))

    async def send(self, request: WireRequest, *, source: str | None = None) -> Reply:
        """Send one request and return its 200/206 reply; see :meth:`Transport.send`."""
        with ExitStack() as stack:
            url, kwargs = self._prepare(request, stack)
            try:
                response = await self._client.request(request.method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise self._translate(exc, request, source) from exc
        return self._reply(response, request, source)

    async def login(self, login: str, password: str) -> str:
        """Log in and keep the session of the 200 reply; see :meth:`Transport.login`."""
        self._session = await self.call(protocol.login(login, password))
        return self._session

    async def download(self, request: WireRequest, dest: Path) -> int:
        """Stream a file into ``dest``; see :meth:`Transport.download`."""
        with ExitStack() as stack:
            url, kwargs = self._prepare(request, stack)
            try:
                async with self._client.stream(request.method, url, **kwargs) as response:
                    if response.status_code not in _OK:
                        await response.aread()
                        self._reply(response, request, None)
                    return await _awrite(response.aiter_bytes(), dest)
            except httpx.HTTPError as exc:
                raise self._translate(exc, request, None) from exc

    async def aclose(self) -> None:
        """Close the httpx client, unless it was passed in."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
