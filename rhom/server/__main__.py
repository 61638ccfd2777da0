"""``python -m rhom.server module:app``: serve an app with uvicorn (127.0.0.1:9292).

Options: ``--host``, ``--port`` (defaults from ``RHOM_SERVER_HOST``/``RHOM_SERVER_PORT``),
``--factory`` (``module:make_app`` is a function returning the app), ``--workers``,
``--log-level`` and ``--log-format`` (``text``, or ``json``: one object per line, for log
shippers; rhom.server._logging).

The settings are checked before anything starts (a production start with weak secrets
stops here, naming the variable), and uvicorn runs with the HTTP limits chosen on
purpose (docs/server.md "Security"): request heads of at most ``max_header_size``
bytes sent within ``header_timeout`` seconds (rhom.server._protocol), at most
``max_connections`` open connections, idle kept-alive connections closed after
:data:`KEEP_ALIVE` seconds, and proxy headers believed only from ``trusted_proxies``
(the app applies that setting itself; uvicorn's own handling, which trusts 127.0.0.1,
is off).

A server running on the development defaults says so when it starts, with the API
token to type into the console. Stopping it (Ctrl-C, SIGTERM) ends the open live
channel streams at once, so that it stops without waiting for them (one process; with
``--workers`` each process waits up to :data:`SHUTDOWN_GRACE` seconds).
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys
from types import FrameType
from typing import Any

import uvicorn

from rhom.exceptions import ConfigurationError
from rhom.server import live
from rhom.server._logging import FORMATS, log_config
from rhom.server._protocol import HTTP_PROTOCOL
from rhom.server.settings import DEV_API_TOKEN, DEV_SESSION_SECRET, Settings

logger = logging.getLogger("rhom.server")

#: Seconds a stopping server waits for open requests (live streams) before closing them.
SHUTDOWN_GRACE = 5
#: Seconds an idle kept-alive connection stays open (uvicorn's default, chosen here).
KEEP_ALIVE = 5
#: Connections that the open-file limit keeps for the store, logs and files, when
#: ``max_connections`` is left to ``auto``: a tenth of the limit, at least this many.
RESERVED_FILES = 64


def connection_limit(settings: Settings) -> int | None:
    """uvicorn's ``limit_concurrency`` for ``settings``: ``max_connections``, or with
    ``auto`` the open-file limit less what the process needs for itself; ``None``: none."""
    if settings.max_connections is not None:
        return settings.max_connections or None
    try:
        import resource
    except ImportError:  # not on Windows: no open-file limit to stay under
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(soft - max(soft // 10, RESERVED_FILES), 1)


class _Server(uvicorn.Server):
    """uvicorn's server, which also ends this process's live streams when it is asked to
    stop: they never end by themselves, and would hold the stop for ``SHUTDOWN_GRACE``
    seconds, then be cancelled mid-stream."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        live.close_streams()


def announce(settings: Settings, host: str, port: int) -> None:
    """Say what a development start runs on: the built-in secrets, and how to get into
    the console (nothing to find in settings.py)."""
    if settings.production:
        return
    weak = [name for name, value, development in (
        ("RHOM_SERVER_SESSION_SECRET", settings.session_secret, DEV_SESSION_SECRET),
        ("RHOM_SERVER_API_TOKEN", settings.api_token, DEV_API_TOKEN)) if value == development]  # fmt: skip
    if weak:
        logger.warning("rhom.server: development settings: %s %s the built-in development value%s "
                       "(RHOM_SERVER_PRODUCTION=1 refuses them)", " and ".join(weak),
                       "is" if len(weak) == 1 else "are", "" if len(weak) == 1 else "s")  # fmt: skip
    if settings.api_token == DEV_API_TOKEN:
        logger.info("rhom.server: API token (X-RhoConnect-API-TOKEN, console login): %s", DEV_API_TOKEN)
    if settings.console:
        who = "the API token" + (" above" if settings.api_token == DEV_API_TOKEN else " (RHOM_SERVER_API_TOKEN)")
        if settings.admin_password:
            who += " or the rhoadmin password (RHOM_SERVER_ADMIN_PASSWORD)"
        shown = f"[{host}]" if ":" in host else host
        logger.info("rhom.server: console at http://%s:%d/console/ (log in with %s)", shown, port, who)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m rhom.server", description=__doc__)
    parser.add_argument("app", help="import string of the app, e.g. myproject.sync:app")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--factory", action="store_true", help="the import string is a factory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=FORMATS, default="text", help="json: one object per line")
    args = parser.parse_args(argv)
    if args.workers > 1 and settings.store.startswith("sqlite"):
        parser.error("several workers need a shared store: set RHOM_SERVER_STORE=redis://...")
    try:
        settings.check()
    except ConfigurationError as exc:  # one line naming the variable, not a traceback
        parser.error(str(exc))
    if "." not in sys.path:
        sys.path.insert(0, ".")
    logs = log_config(args.log_format, args.log_level)
    logging.config.dictConfig(logs)
    announce(settings, args.host, args.port)
    options: dict[str, Any] = dict(
        host=args.host,
        port=args.port,
        factory=args.factory,
        workers=args.workers,
        log_level=args.log_level,
        log_config=logs,
        server_header=False,
        http=HTTP_PROTOCOL,  # uvicorn's, with header_timeout and max_header_size
        h11_max_incomplete_event_size=settings.max_header_size,  # when h11 runs
        limit_concurrency=connection_limit(settings),
        timeout_keep_alive=KEEP_ALIVE,
        proxy_headers=False,  # the app believes only trusted_proxies (create_app)
        # live channel streams never end by themselves: give them this long, then close
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    if args.workers > 1:  # uvicorn runs a server in each process
        uvicorn.run(args.app, **options)
        return 0
    server = _Server(uvicorn.Config(args.app, **options))
    try:
        server.run()
    except KeyboardInterrupt:  # a second Ctrl-C during the stop
        pass
    if not server.started:
        sys.exit(3)  # as uvicorn.run: it could not start (port in use, the app failed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
