"""The request pipeline every protocol route shares (protocol.md §1.3–§1.5, §2.5, §3.6).

1. read the parameters (a body that does not parse answers 500 before anything else,
   one that stalls for ``body_timeout`` 408);
2. in a worker thread: verify the session cookie and that it is still its user's (a
   deleted or signed-out user's cookie is no session), check the client id
   (401 ``Not authenticated``, 500 ``Unknown client``), run the handler;
3. label the reply like the real server: ``Cache-Control``/``pragma``, the session's
   ``Set-Cookie`` again, and the deprecation ``Warning`` on layout-3 routes.

A store that cannot answer now (``StoreUnavailableError``: its Redis down, a cluster
master being replaced) makes the request fail with ``Retry-After``, and clients retry:
503 when nothing ran (a read, or before the handler), 504 when a write's handler had
begun, which may have called the adapter already: to rhom's client, as to any client
behind a gateway, a 504 means "it may have run" (its creates are then in doubt and
resolved by their links, never made twice), while a 503 means "refused, nothing ran".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from rhom.server import _http
from rhom.server._http import Session
from rhom.server._params import BadBody, BodyTimeout, BodyTooLarge, InvalidInput, Params, read_params
from rhom.server._slots import Slots
from rhom.server._state import JsonObject, State, is_current
from rhom.server._throttle import LoginThrottle
from rhom.server.adapters import SourceAdapter
from rhom.server.pages import Caller
from rhom.server.settings import Settings
from rhom.server.store import StoreUnavailableError

__all__ = ["Call", "Server", "endpoint"]

logger = logging.getLogger("rhom.server")

if TYPE_CHECKING:
    from rhom.server.live import Hub, PushSender

Authenticate = Callable[[str, str], "bool | str | None"]


@dataclass
class Server:
    """Everything a handler needs; one per app, kept in ``app.state.rhom``."""

    settings: Settings
    state: State
    sessions: _http.Sessions
    adapters: dict[str, SourceAdapter]
    authenticate: Authenticate | None
    hub: Hub
    push_senders: dict[str, PushSender] = field(default_factory=dict)
    slots: Slots = field(default_factory=lambda: Slots(0))
    #: failed-login counters of every password route, in the store (rhom.server._throttle)
    throttle: LoginThrottle | None = None


#: The key of the lifespan state under which the app's :class:`Server` is also kept, so
#: that requests reaching a sub-application mounted with ``create_app(routes=...)`` find it.
STATE_KEY = "rhom"


def server_of(target: Any) -> Server:
    """The :class:`Server` of an app made by ``create_app``, or of a request it serves
    (also one that reached a sub-application mounted on it).

    :raises TypeError: *target* is neither.
    """
    server = getattr(getattr(target, "state", None), STATE_KEY, None)
    if isinstance(server, Server):
        return server
    scope = getattr(target, "scope", None)
    if isinstance(scope, dict):
        server = (scope.get("state") or {}).get(STATE_KEY)
        if isinstance(server, Server):
            return server
    raise TypeError(
        f"rhom.server: expected the app create_app returned, or a request it serves; got {target!r} "
        "(in a route of a mounted sub-application, pass the request, not request.app)"
    )


@dataclass
class Call:
    """One request on its way through the pipeline."""

    server: Server
    request: Request
    params: Params
    cookie: str | None = None
    user: str | None = None
    session: Session | None = None
    client_id: str | None = None
    client: JsonObject | None = None
    new_cookie: str | None = None
    #: the handler has begun (a write's adapter calls may have run)
    in_handler: bool = False

    @property
    def state(self) -> State:
        return self.server.state

    def caller(self) -> Caller:
        assert self.user is not None and self.client_id is not None
        base_url = str(self.request.base_url).rstrip("/")
        return Caller(self.server.state, self.user, self.client_id, base_url)

    def adapter(self, name: str) -> SourceAdapter | None:
        return self.server.adapters.get(name)

    @property
    def address(self) -> str:
        """The client's address: the connecting one, or a trusted proxy's word for it."""
        client = self.request.client
        return client.host if client is not None else "?"


Handler = Callable[[Call], Response]


def endpoint(
    handler: Handler,
    *,
    login: bool = True,
    client: bool = False,
    legacy: bool = False,
    client_param: str | None = None,
    path: str = "",
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a sync ``handler`` in the shared pipeline.

    :param login: answer 401 without a valid session.
    :param client: answer 500 ``Unknown client`` unless the client id names a client of
        the session's user.
    :param legacy: add the layout-3 deprecation ``Warning``.
    :param client_param: path parameter holding the client id (after the header).
        Otherwise the id comes from the header, then from the body; a layout-3 route
        also reads the query string (``?client_id=``), where old clients put it. A
        layout-4 route never does: a link or a plain cross-site form could carry it.
    :param path: the route's path, which names its stats metric.
    """

    async def run(request: Request) -> Response:
        server = server_of(request)
        stats = server.state.stats
        if stats is None:
            return await _run(request, server)
        started = time.perf_counter()
        response = await _run(request, server)
        source = request.path_params.get("source")
        # a source the app serves names its own metric; any other name is the route's,
        # so that requests for made-up sources do not each leave a metric behind
        route = path.replace("{source}", source) if source in server.adapters else path
        stats.timing(f"http:{request.method}:{route}", time.perf_counter() - started)
        if stats.due():
            try:
                await run_in_threadpool(stats.flush)
            except StoreUnavailableError:  # stats wait for the next flush; the reply stands
                pass
        return response

    async def _run(request: Request, server: Server) -> Response:
        try:
            settings = server.settings
            params = await read_params(request, settings.max_body_size, settings.body_timeout)
        except BadBody:
            return _label(_http.bad_body(), request, legacy)
        except InvalidInput as exc:
            return _label(_http.text(400, str(exc), _http.TEXT), request, legacy)
        except BodyTooLarge:
            reply = _http.text(413, "Request body too large", _http.TEXT)
            reply.headers["connection"] = "close"
            return _label(reply, request, legacy)
        except BodyTimeout:
            reply = _http.text(408, "Request body timed out", _http.TEXT)
            reply.headers["connection"] = "close"
            return _label(reply, request, legacy)
        call = Call(server, request, params)
        response = await run_in_threadpool(_slotted, call, handler, login, client, client_param, legacy)
        if call.client is not None and call.client_id and server.state.stats is not None:
            server.state.stats.seen(call.client_id)
        cookie = call.new_cookie or call.cookie
        if cookie is not None:
            server.sessions.set_cookie(response, cookie, secure=_http.is_https(request))
        return _label(_http.no_cache(response), request, legacy)

    return run


def _label(response: Response, request: Request, legacy: bool) -> Response:
    if legacy:
        _http.deprecated(response, request.method, request.url.path)
    return response


def _slotted(
    call: Call, handler: Handler, login: bool, client: bool, client_param: str | None, legacy: bool
) -> Response:
    with call.server.slots.held():
        try:
            return _dispatch(call, handler, login, client, client_param, legacy)
        except StoreUnavailableError as exc:
            may_have_run = call.in_handler and call.request.method not in ("GET", "HEAD")
            return unavailable(call.request.method, call.request.url.path, exc, may_have_run=may_have_run)


def unavailable(method: str, path: str, exc: StoreUnavailableError, *, may_have_run: bool = False) -> Response:
    """The store cannot answer now; the client retries (``Retry-After``): 503 when nothing
    ran, 504 when the request may have run in part (module doc)."""
    logger.warning("rhom.server: %s %s: %s", method, path, exc)
    if may_have_run:
        reply = _http.text(504, "The server's store did not answer: the request may have run in part", _http.TEXT)
    else:
        reply = _http.text(503, "Service unavailable: retry", _http.TEXT)
    reply.headers["retry-after"] = "1"
    return reply


def _dispatch(
    call: Call, handler: Handler, login: bool, client: bool, client_param: str | None, legacy: bool
) -> Response:
    sessions = call.server.sessions
    raw = call.request.cookies.get(_http.COOKIE_NAME)
    session = sessions.session_of(raw) if raw else None
    if client:
        call.client_id = _client_id(call, client_param, legacy)
    if session is not None:
        record, call.client = call.state.user_and_client(session.login, call.client_id)
        if is_current(record, session):  # a deleted or signed-out user's cookie is no session
            call.user, call.session, call.cookie = session.login, session, raw
    if login and call.user is None:
        return _http.text(401, _http.NOT_AUTHENTICATED, _http.TEXT)
    if client and (call.client is None or call.client.get("user") != call.user):
        return _http.text(500, _http.UNKNOWN_CLIENT)
    try:
        call.in_handler = True
        return handler(call)
    except StoreUnavailableError:
        raise  # answered 503 or 504 (_slotted): the request may succeed when retried
    except Exception:  # a handler bug must not take the server down or leak details
        logger.exception("rhom.server: %s %s failed (user %r, client %s)", call.request.method,
                         call.request.url.path, call.user, call.client_id or "-",
                         extra={"user": call.user, "client": call.client_id,
                                "source": call.request.path_params.get("source")})  # fmt: skip
        return _http.text(500, "Internal server error")


def _client_id(call: Call, client_param: str | None, legacy: bool) -> str:
    header = call.request.headers.get("x-rhoconnect-client-id")
    if header:
        return header
    if client_param is not None:
        return str(call.request.path_params.get(client_param, ""))
    if legacy:  # protocol.md §1.4: layout 3 sends it in the query string (captures B.65)
        return call.params.text("client_id")
    return call.params.body_text("client_id")
