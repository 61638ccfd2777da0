"""The web console at ``/console``: users, their clients, source documents, stats.

Off unless the ``console`` setting is on (``RHOM_SERVER_CONSOLE=1``,
``rhom serve --console``). Everything it serves comes from this package: no CDN, no
script, so it works on a machine with no network and under a strict CSP.

Security:

- Logging in takes the API token or, when one is set, the ``rhoadmin`` password. The
  session is a signed cookie (``HttpOnly``, ``SameSite=Strict``, path ``/console``,
  ``Secure`` under https) that expires after :data:`SESSION_AGE` seconds.
- Failed logins count against the ``rhoadmin`` account and the caller's address, in the
  store, with ``system/login``'s (rhom.server._throttle): past the limits that address
  gets 429, and the right password still works from others.
- Every form that changes something carries a CSRF token derived from the session, and
  the destructive ones (delete a user, reset a client, reset the system) also need their
  confirmation box ticked.
- Nothing here builds SQL or store keys from text other than through the same helpers
  the protocol routes use.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rhom.server import live
from rhom.server._call import Server, server_of
from rhom.server._log import log_name
from rhom.server._routing import Route
from rhom.server._state import partition_key
from rhom.server.adapters import SourceAdapter
from rhom.server.console import _charts, _docs

__all__ = ["COOKIE", "PAGE_SIZE", "SESSION_AGE", "routes"]

logger = logging.getLogger("rhom.server.console")

COOKIE = "rhom_console"
SESSION_AGE = 12 * 3600  # seconds a console login lasts
PAGE_SIZE = 50  # objects per page of a document
ROOT = "/console"
ADMIN = "rhoadmin"  # the account console logins count against, with system/login's

_templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))
_templates.env.filters["when"] = lambda t: _when(t)
_templates.env.filters["part"] = lambda text: urllib.parse.quote(str(text), safe="")  # one path segment

#: What a finished action says on the page it returns to (``?done=<code>``).
DONE = {
    "ping": "Ping sent.",
    "ping-failed": "Ping sent to the live clients, but a push sender failed for some devices (see the server log).",
    "reset-client": "Client reset: at its next sync it registers again and resyncs in full.",
    "delete-user": "User deleted.",
    "sign-out": "Signed out everywhere: its clients log in again at their next sync.",
    "system-reset": "System reset: every user, client and document is gone.",
}


def routes() -> list[BaseRoute]:
    """The console's routes, added by ``create_app`` when the ``console`` setting is on."""
    return [
        Route(ROOT, _to_root, methods=["GET"]),
        Route(ROOT + "/", _view(_users_page), methods=["GET"]),
        Route(ROOT + "/login", _login, methods=["GET", "POST"]),
        Route(ROOT + "/logout", _action(_logout, confirm=False), methods=["POST"]),
        Route(ROOT + "/users/{user}", _view(_user_page), methods=["GET"]),
        Route(ROOT + "/users/{user}/sources/{source}", _view(_source_page), methods=["GET"]),
        Route(ROOT + "/stats", _view(_stats_page), methods=["GET"]),
        Route(ROOT + "/system", _view(_system_page), methods=["GET"]),
        Route(ROOT + "/users/{user}/ping", _action(_ping, confirm=False), methods=["POST"]),
        Route(ROOT + "/users/{user}/delete", _action(_delete_user), methods=["POST"]),
        Route(ROOT + "/users/{user}/sign-out", _action(_sign_out), methods=["POST"]),
        Route(ROOT + "/users/{user}/clients/{client_id}/reset", _action(_reset_client), methods=["POST"]),
        Route(ROOT + "/system/reset", _action(_system_reset), methods=["POST"]),
        Mount(ROOT + "/static", StaticFiles(packages=[("rhom.server.console", "static")]), name="console-static"),
    ]


# -- sessions and CSRF ---------------------------------------------------------------
def _serializer(server: Server) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(server.settings.session_secret, salt="rhom.server.console")


def _session(request: Request, server: Server) -> str | None:
    """The console session id of the request, or ``None`` when not logged in."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(server).loads(raw, max_age=SESSION_AGE)
    except BadSignature:  # also SignatureExpired
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


def _csrf(server: Server, sid: str) -> str:
    key = server.settings.session_secret.encode()
    return hmac.new(key, b"rhom.console.csrf:" + sid.encode(), hashlib.sha256).hexdigest()


def _password_ok(server: Server, password: str) -> bool:
    settings = server.settings
    given = password.encode()
    if settings.api_token and hmac.compare_digest(given, settings.api_token.encode()):
        return True
    return bool(settings.admin_password) and hmac.compare_digest(given, settings.admin_password.encode())


async def _to_root(request: Request) -> Response:
    return RedirectResponse(ROOT + "/", status_code=303)


async def _login(request: Request) -> Response:
    server = server_of(request)
    wanted = request.query_params.get("next", "")
    target = wanted if wanted.startswith(ROOT + "/") and "//" not in wanted else ROOT + "/"
    if request.method == "GET":
        return _render(request, "login.html", {"next": target, "error": None})
    address = request.client.host if request.client else "?"
    if "password" in request.query_params:  # access logs keep URLs: never take it from there
        return _render(request, "login.html", {"next": target, "error": "Send the password in the form."}, 400)
    throttle = server.throttle
    locked = await run_in_threadpool(throttle.retry_after, "admin", ADMIN, address) if throttle else None
    if locked is not None:
        message = "Too many failed logins: wait a few minutes."
        reply = _render(request, "login.html", {"next": target, "error": message}, 429)
        reply.headers["retry-after"] = str(locked)
        return reply
    form = await request.form()
    password = form.get("password")
    if not isinstance(password, str) or not _password_ok(server, password):
        if throttle:
            await run_in_threadpool(throttle.failed, "admin", ADMIN, address)
        return _render(request, "login.html", {"next": target, "error": "Wrong API token or password."}, 401)
    if throttle:
        await run_in_threadpool(throttle.succeeded, "admin", ADMIN, address)
    reply = RedirectResponse(target, status_code=303)
    cookie = _serializer(server).dumps({"sid": secrets.token_hex(16)})
    reply.set_cookie(
        COOKIE,
        cookie,
        max_age=SESSION_AGE,
        path=ROOT,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return reply


def _logout(request: Request, server: Server, form: dict[str, str]) -> Response:
    reply = RedirectResponse(ROOT + "/login", status_code=303)
    reply.delete_cookie(COOKIE, path=ROOT)
    return reply


# -- page plumbing ---------------------------------------------------------------------
PageBuilder = Callable[[Request, Server], tuple[str, dict[str, Any]]]
ActionRunner = Callable[[Request, Server, dict[str, str]], Response]


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    reply = _templates.TemplateResponse(request, template, {"root": ROOT, **context}, status_code=status)
    reply.headers["cache-control"] = "no-store"
    reply.headers["x-frame-options"] = "DENY"
    reply.headers["content-security-policy"] = (
        "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'none'"
    )
    return reply


def _login_redirect(request: Request) -> Response:
    target = urllib.parse.quote(request.url.path, safe="/")
    return RedirectResponse(f"{ROOT}/login?next={target}", status_code=303)


def _view(build: PageBuilder) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        server = server_of(request)
        sid = _session(request, server)
        if sid is None:
            return _login_redirect(request)
        try:
            template, context = await run_in_threadpool(_built, build, request, server)
        except _NotFound as exc:
            return _render(request, "missing.html", {"what": str(exc), "csrf": _csrf(server, sid)}, 404)
        done = DONE.get(request.query_params.get("done", ""))
        return _render(request, template, {**context, "csrf": _csrf(server, sid), "done": done})

    return run


def _action(act: ActionRunner, *, confirm: bool = True) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        server = server_of(request)
        sid = _session(request, server)
        if sid is None:
            return _login_redirect(request)
        raw = await request.form()
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        if not hmac.compare_digest(form.get("csrf", "").encode(), _csrf(server, sid).encode()):
            return Response("Bad or missing CSRF token: reload the page and try again", 403, media_type="text/plain")
        if confirm and form.get("confirm") != "yes":
            return Response("Not confirmed: tick the confirmation box", 400, media_type="text/plain")
        try:
            return await run_in_threadpool(act, request, server, form)
        except _NotFound as exc:
            return Response(str(exc), 404, media_type="text/plain")

    return run


def _built(build: PageBuilder, request: Request, server: Server) -> tuple[str, dict[str, Any]]:
    if server.state.stats is not None:
        server.state.stats.flush()  # this process's newest figures and last syncs too
    return build(request, server)


class _NotFound(Exception):
    pass


def _back(path: str, done: str) -> Response:
    return RedirectResponse(f"{ROOT}{path}?done={done}", status_code=303)


def _when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _user(request: Request, server: Server) -> str:
    user = str(request.path_params["user"])
    if not server.state.user_exists(user):
        raise _NotFound(f"No user {user!r}")
    return user


def _adapter(request: Request, server: Server) -> SourceAdapter:
    name = str(request.path_params["source"])
    adapter = server.adapters.get(name)
    if adapter is None:
        raise _NotFound(f"No source {name!r}")
    return adapter


def _log(adapter: SourceAdapter, user: str) -> str:
    return log_name(partition_key(adapter.partition, user), adapter.name)


# -- pages ---------------------------------------------------------------------------
def _users_page(request: Request, server: Server) -> tuple[str, dict[str, Any]]:
    state = server.state
    wanted = request.query_params.get("q", "").strip().lower()
    users = sorted(u for u in state.users() if wanted in u.lower())
    rows = [{"name": u, "clients": len(state.client_ids(u))} for u in users]
    sources = [
        {"name": a.name, "partition": a.partition, "poll_interval": a.poll_interval}
        for a in sorted(server.adapters.values(), key=lambda a: (a.priority, a.name))
    ]
    return "users.html", {"users": rows, "q": wanted, "sources": sources}


@dataclass
class _ClientSource:
    source: str
    cursor: int
    pending: str  # the outstanding page's token, "" when none
    page_count: int
    errors: int


def _client_sources(server: Server, cid: str) -> list[_ClientSource]:
    out = []
    for name in sorted(server.adapters):
        cs = server.state.client_state(cid, name)
        errors = sum(len([k for k in v if not k.endswith("-error")]) for v in cs.errors.values())
        out.append(_ClientSource(name, cs.cursor or 0, cs.token, cs.page_count, errors))
    return out


def _user_page(request: Request, server: Server) -> tuple[str, dict[str, Any]]:
    state = server.state
    user = _user(request, server)
    cids = sorted(state.client_ids(user))
    seen = state.stats.last_sync(cids) if state.stats is not None else {}
    clients = []
    for cid in cids:
        record = state.client(cid) or {}
        per_source = _client_sources(server, cid)
        clients.append(
            {
                "id": cid,
                "device_type": record.get("device_type") or "",
                "last_sync": seen.get(cid),
                "pending": [s.source for s in per_source if s.pending],
                "errors": sum(s.errors for s in per_source),
            }
        )
    sources = []
    for adapter in sorted(server.adapters.values(), key=lambda a: (a.priority, a.name)):
        log = _log(adapter, user)
        info = state.store.log_info(log)
        meta = state.master(log)
        sources.append(
            {
                "name": adapter.name,
                "partition": adapter.partition,
                "count": info.count,
                "last": info.last,
                "refreshed": meta.get("refreshed"),
                "error": _docs.error_text(meta.get("error")),
            }
        )
    return "user.html", {"user": user, "clients": clients, "sources": sources}


def _source_page(request: Request, server: Server) -> tuple[str, dict[str, Any]]:
    state = server.state
    user = _user(request, server)
    adapter = _adapter(request, server)
    log = _log(adapter, user)
    info = state.store.log_info(log)
    meta = state.master(log)
    clients = []
    for cid in sorted(state.client_ids(user)):
        cs = state.client_state(cid, adapter.name)
        clients.append(
            {
                "id": cid,
                "cursor": cs.cursor or 0,
                "behind": max(info.last - (cs.cursor or 0), 0),
                "pending": cs.token,
                "page_count": cs.page_count,
            }
        )
    wanted = request.query_params.get("q", "").strip()
    try:
        after = max(int(request.query_params.get("after", "0")), 0)
    except ValueError:
        after = 0
    found = _docs.objects_page(state.store, log, after, PAGE_SIZE, wanted)
    columns = sorted({a for attrs in found.objects.values() for a in attrs})
    return "source.html", {
        "user": user,
        "source": adapter.name,
        "partition": adapter.partition,
        "info": info,
        "refreshed": meta.get("refreshed"),
        "error": _docs.error_text(meta.get("error")),
        "clients": clients,
        "objects": found.objects,
        "columns": columns,
        "next_after": found.next_after,
        "after": after,
        "q": wanted,
        "page_size": PAGE_SIZE,
    }


STATS_RANGES = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400}


def _stats_page(request: Request, server: Server) -> tuple[str, dict[str, Any]]:
    stats = server.state.stats
    assert stats is not None  # the console switches stats on
    chosen = request.query_params.get("range", "1h")
    span = STATS_RANGES.get(chosen, 3600)
    report = _charts.report(stats, list(server.adapters), time.time() - span)
    return "stats.html", {
        "ranges": list(STATS_RANGES),
        "range": chosen if chosen in STATS_RANGES else "1h",
        "resolution": stats.resolution,
        "charts": [Markup(chart) for chart in report.charts],
        "sources": report.sources,
        "totals": report.totals,
    }


def _system_page(request: Request, server: Server) -> tuple[str, dict[str, Any]]:
    settings = server.settings
    store = settings.store.split("://", 1)[0] + "://…"  # never the credentials of a URL
    return "system.html", {
        "store": store,
        "production": settings.production,
        "sources": sorted(server.adapters),
        "stats_resolution": settings.stats_resolution,
    }


# -- actions ---------------------------------------------------------------------------
def _ping(request: Request, server: Server, form: dict[str, str]) -> Response:
    user = _user(request, server)
    named = [s.strip() for s in form.get("sources", "").split(",") if s.strip()]
    try:
        result = live.ping(request, [user], sources=named or None, message=form.get("message") or None)
    except ValueError as exc:  # an unknown source
        return Response(str(exc), 400, media_type="text/plain")
    # a device whose push sender failed was not reached: say so, not "sent"
    return _back(f"/users/{urllib.parse.quote(user, safe='')}", "ping-failed" if result.failed else "ping")


def _delete_user(request: Request, server: Server, form: dict[str, str]) -> Response:
    user = _user(request, server)
    server.state.delete_user(user)
    live.revoke(server, user)  # its open live streams end with its sessions
    logger.info("rhom.server.console: user %r deleted", user)
    return _back("/", "delete-user")


def _sign_out(request: Request, server: Server, form: dict[str, str]) -> Response:
    """Sign the user out everywhere, as ``DELETE /rc/v1/users/{user}/sessions`` does."""
    user = _user(request, server)
    server.state.revoke_sessions(user)
    live.revoke(server, user)
    logger.info("rhom.server.console: user %r signed out everywhere", user)
    return _back(f"/users/{urllib.parse.quote(user, safe='')}", "sign-out")


def _reset_client(request: Request, server: Server, form: dict[str, str]) -> Response:
    user = _user(request, server)
    cid = str(request.path_params["client_id"])
    record = server.state.client(cid)
    if record is None or record.get("user") != user:
        raise _NotFound(f"No client {cid!r} of user {user!r}")
    # forgotten, not just rewound: the client learns "Unknown client" at its next call,
    # registers again and resyncs in full, keeping its unpushed changes (docs/console.md)
    server.state.delete_client(cid)
    return _back(f"/users/{urllib.parse.quote(user, safe='')}", "reset-client")


def _system_reset(request: Request, server: Server, form: dict[str, str]) -> Response:
    server.state.store.flush()
    server.state.cache.clear()
    logger.warning("rhom.server.console: system reset")
    return _back("/", "system-reset")
