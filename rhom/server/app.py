"""The ASGI application: settings, store and adapters wired to the route table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rhom.exceptions import ConfigurationError
from rhom.server import _admin, _http, _push_api, _search, bulk, live, routes
from rhom.server._call import STATE_KEY, Authenticate, Call, Server, endpoint, unavailable
from rhom.server._routing import Route as SegmentRoute
from rhom.server._slots import Slots
from rhom.server._state import State
from rhom.server._throttle import LoginThrottle
from rhom.server.adapters import SourceAdapter
from rhom.server.settings import Settings
from rhom.server.stats import Stats
from rhom.server.store import Store, StoreUnavailableError, open_store

__all__ = ["create_app"]

logger = logging.getLogger("rhom.server")

Handler = Callable[[Call], Response]


def create_app(
    adapters: Iterable[SourceAdapter | type[SourceAdapter]] = (),
    *,
    authenticate: Authenticate | None = None,
    store: Store | str | None = None,
    settings: Settings | None = None,
    push_senders: Mapping[str, live.PushSender] | None = None,
    routes: Sequence[BaseRoute] = (),
    middleware: Sequence[Middleware] = (),
) -> Starlette:
    """Create the rhom.server ASGI application.

    :param adapters: one :class:`SourceAdapter` (instance or class) per source.
    :param authenticate: ``authenticate(login, password)`` returning ``True`` (accept),
        a user name (accept as that user) or something falsy (refuse); it may raise
        :class:`LoginError` to refuse with a message. ``None`` accepts any non-empty login,
        which production mode refuses.
    :param store: where state lives: a :class:`Store` instance, or a URL string in the
        forms :func:`open_store` takes (``sqlite:///path``, ``sqlite://`` for memory,
        ``redis://host:port/db``), opened with ``settings.redis_prefix``; by default the
        one ``settings.store`` names. The app closes it at shutdown.
    :param settings: configuration; by default :meth:`Settings.from_env`.
    :param push_senders: ``{device_type: PushSender}``: how a ping reaches registered
        devices of that type (see :mod:`rhom.server.live`); live clients need none.
    :param routes: the application's own Starlette routes and mounts (a health check,
        its API, test hooks), tried after rhom's; a path rhom serves cannot be taken
        over (see docs/server.md, "Adding routes").
    :param middleware: Starlette :class:`~starlette.middleware.Middleware` entries
        around the whole application, rhom's routes included; the first is outermost.
    :raises ConfigurationError: unsafe production settings, duplicate or bad source names,
        a store URL of an unknown scheme, an item of *routes* that is not a Starlette
        route.
    :raises TypeError: ``store`` is neither a :class:`Store`, a string nor ``None``.
    """
    if store is not None and not isinstance(store, (Store, str)):
        raise TypeError(
            f"rhom.server: create_app(store={store!r}): expected a rhom.server.Store "
            "or a store URL string (sqlite:///path, sqlite://, redis://...)"
        )
    settings = settings or Settings.from_env()
    settings.check()
    if settings.production and authenticate is None:
        raise ConfigurationError("rhom.server: production mode needs an authenticate callable")
    by_name = _adapters(adapters)
    extra = list(routes)
    for item in extra:
        if not isinstance(item, BaseRoute):
            raise ConfigurationError(
                f"rhom.server: create_app(routes=...): {item!r} is not a Starlette route "
                "(starlette.routing.Route, Mount, WebSocketRoute)"
            )
    if not isinstance(store, Store):
        store = open_store(settings.store if store is None else store, redis_prefix=settings.redis_prefix)
    state = State(
        store,
        retention=settings.log_retention,
        compact_every=settings.log_compact_interval,
    )
    state.blob_quota = settings.blob_quota
    state.max_object_id_length = settings.max_object_id_length
    if settings.stats_on:
        state.stats = Stats(store, resolution=settings.stats_resolution, record_size=settings.stats_record_size)
    server = Server(
        settings=settings,
        state=state,
        sessions=_http.Sessions(settings.session_secret, settings.cookie_expire),
        adapters=by_name,
        authenticate=authenticate,
        hub=live.Hub(state),
        push_senders=dict(push_senders or {}),
        slots=Slots(store.cpu_slots if settings.cpu_slots is None else settings.cpu_slots),
        throttle=LoginThrottle(store, settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Server]]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        opened: list[SourceAdapter] = []
        try:
            for adapter in by_name.values():  # SourceAdapter.open: a pool, a watching thread
                adapter.open(app)
                opened.append(adapter)
            yield {STATE_KEY: server}  # request.state.rhom, in mounted sub-apps too
        finally:
            for adapter in opened:
                try:
                    adapter.close()
                except Exception:
                    logger.exception("rhom.server: closing source %s failed", adapter.name)
            bulk.wait_for_builds()
            if state.stats is not None:
                state.stats.flush()
            state.store.close()

    console: list[BaseRoute] = []
    if settings.console:
        from rhom.server.console import routes as console_routes  # jinja2 loads only when used

        console = console_routes()
    app = Starlette(
        routes=[*route_table(), *console, *extra],
        middleware=[*_proxies(settings), *middleware],
        lifespan=lifespan,
        exception_handlers={HTTPException: _not_found, StoreUnavailableError: _unavailable},
    )
    app.state.rhom = server
    return app


def _proxies(settings: Settings) -> list[Middleware]:
    """uvicorn's proxy-headers middleware, trusting only the ``trusted_proxies`` setting
    (``python -m rhom.server`` turns uvicorn's own off, which trusts 127.0.0.1)."""
    trusted = [str(network) for network in settings.proxy_networks()]
    if not trusted:
        return []
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)]


def _adapters(adapters: Iterable[SourceAdapter | type[SourceAdapter]]) -> dict[str, SourceAdapter]:
    by_name: dict[str, SourceAdapter] = {}
    for item in adapters:
        adapter = item() if isinstance(item, type) else item
        if not isinstance(adapter, SourceAdapter):
            raise ConfigurationError(f"rhom.server: {item!r} is not a SourceAdapter")
        name = adapter.name
        if not name or any(ch in name for ch in ":/?#") or name in by_name:
            raise ConfigurationError(f"rhom.server: bad or duplicate source name {name!r}")
        by_name[name] = adapter
    return by_name


async def _not_found(request: Request, exc: Exception) -> Response:
    """Unmatched paths and methods: 404, as Sinatra answers both."""
    return _http.text(404, "<h1>Not Found</h1>")


async def _unavailable(request: Request, exc: Exception) -> Response:
    """Routes outside the request pipeline (bulk files, the console): 503 as well."""
    assert isinstance(exc, StoreUnavailableError)
    return unavailable(request.method, request.url.path, exc)


def _route(path: str, handler: Handler, methods: list[str], **options: Any) -> Route:
    return SegmentRoute(path, endpoint(handler, path=path, **options), methods=methods)


def route_table() -> list[BaseRoute]:
    """Layout-4 routes, the admin subset, bulk files and blobs, then the layout-3 aliases.

    The router tries routes in order: the query and push routes, most of the traffic,
    come first.
    """
    return [
        _route("/app/v1/{source}", routes.query, ["GET"], client=True),
        _route("/app/v1/{source}", routes.push, ["POST"], client=True),
        _route("/rc/v1/app/login", routes.login, ["POST"], login=False),
        _route("/rc/v1/app/search", _search.search, ["POST"], client=True),
        _route("/rc/v1/app/bulk_data", bulk.bulk_data, ["POST"], client=True),
        _route("/rc/v1/app/live", routes.live_events, ["GET"], client=True),
        _route("/rc/v1/users/ping", _admin.ping, ["POST"], login=False),
        _route("/rc/v1/clients", routes.client_create, ["POST"]),
        _route("/rc/v1/clients/{client_id}/register", routes.client_register, ["POST"]),
        _route(
            "/rc/v1/clients/{client_id}/reset",
            routes.client_reset,
            ["POST"],
            client=True,
            client_param="client_id",
        ),
        _route("/rc/v1/system/login", _admin.system_login, ["POST"], login=False),
        _route("/rc/v1/system/reset", _admin.system_reset, ["POST"], login=False),
        _route("/rc/v1/users", _admin.users, ["GET", "POST"], login=False),
        _route("/rc/v1/users/{user_id}", _admin.delete_user, ["DELETE"], login=False),
        _route("/rc/v1/users/{user_id}/sessions", _admin.sign_out, ["DELETE"], login=False),
        _route("/rc/v1/users/{user_id}/clients", _admin.user_clients, ["GET"], login=False),
        _route("/rc/v1/users/{user_id}", _admin.user_info, ["GET"], login=False),
        _route("/rc/v1/users/{user_id}/sources/{source}/docnames", _admin.source_docnames, ["GET"], login=False),
        _route("/rc/v1/users/{user_id}/sources/{source}/docs/{doc}", _admin.source_doc, ["GET"], login=False),
        _route("/rc/v1/store/{doc}", _admin.store_doc, ["GET"], login=False),
        _route("/rc/v1/clients/{client_id}", _admin.client_info, ["GET"], login=False),
        _route("/rc/v1/clients/{client_id}/sources/{source}/docnames", _admin.client_docnames, ["GET"], login=False),
        _route("/rc/v1/clients/{client_id}/sources/{source}/docs/{doc}", _admin.client_doc, ["GET"], login=False),
        _route("/rc/v1/clients/{client_id}", _admin.delete_client, ["DELETE"], login=False),
        _route("/rc/v1/readstate/users/{user_id}/sources/{source}", _admin.read_state, ["PUT"], login=False),
        _route("/rc/v1/system/stats", _admin.stats, ["GET"], login=False),
        _route("/rc/v1/blobs/{name}", routes.blob, ["GET"]),
        *(
            _route(f"/app/v1/{{source}}/{name}", getattr(_push_api, name), ["POST"], login=False)
            for name in _push_api.__all__
        ),
        Route("/data/{path:path}", bulk.download, methods=["GET"]),
        _route("/app/v1/{source}/{object_id}", routes.update_object, ["PUT"], client=True),
        _route("/app/v1/{source}/{object_id}", routes.delete_object, ["DELETE"], client=True),
        *_legacy_routes(),
    ]


def _legacy_routes() -> list[BaseRoute]:
    """Layout-3 aliases under ``/application`` and ``/api/application`` (protocol.md §1.2)."""
    table: list[BaseRoute] = []
    for root in ("/application", "/api/application"):
        legacy: list[tuple[str, Handler, list[str], dict[str, Any]]] = [
            ("/clientlogin", routes.login, ["POST"], {"login": False}),
            ("/clientcreate", routes.client_create, ["GET"], {}),
            ("/clientregister", routes.client_register, ["POST"], {}),
            ("/clientreset", routes.client_reset, ["GET"], {"client": True}),
            ("", routes.query, ["GET"], {"client": True}),
            ("", routes.push, ["POST"], {"client": True}),
            ("/search", _search.search, ["GET"], {"client": True}),
            ("/bulk_data", bulk.bulk_data, ["GET"], {"client": True}),
        ]
        if root == "/api/application":
            legacy += [
                ("/query", routes.query, ["GET"], {"client": True}),
                ("/queue_updates", routes.push, ["POST"], {"client": True}),
            ]
        for suffix, handler, methods, options in legacy:
            table.append(_route(root + suffix, handler, methods, legacy=True, **options))
    return table
