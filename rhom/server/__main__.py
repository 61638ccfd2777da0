"""``python -m rhom.server module:app``: serve an app with uvicorn (127.0.0.1:9292).

Options: ``--host``, ``--port`` (defaults from ``RHOM_SERVER_HOST``/``RHOM_SERVER_PORT``),
``--factory`` (``module:make_app`` is a function returning the app) and ``--workers``.

The settings are checked before anything starts (a production start with weak secrets
stops here, naming the variable), and uvicorn runs with the HTTP limits chosen on
purpose (docs/server.md "Security"): request heads of at most ``max_header_size``
bytes sent within ``header_timeout`` seconds (rhom.server._protocol), at most
``max_connections`` open connections, idle kept-alive connections closed after
:data:`KEEP_ALIVE` seconds, and proxy headers believed only from ``trusted_proxies``
(the app applies that setting itself; uvicorn's own handling, which trusts 127.0.0.1,
is off).
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from rhom.exceptions import ConfigurationError
from rhom.server._protocol import HTTP_PROTOCOL
from rhom.server.settings import Settings

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


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m rhom.server", description=__doc__)
    parser.add_argument("app", help="import string of the app, e.g. myproject.sync:app")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--factory", action="store_true", help="the import string is a factory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if args.workers > 1 and settings.store.startswith("sqlite"):
        parser.error("several workers need a shared store: set RHOM_SERVER_STORE=redis://...")
    try:
        settings.check()
    except ConfigurationError as exc:  # one line naming the variable, not a traceback
        parser.error(str(exc))
    if "." not in sys.path:
        sys.path.insert(0, ".")
    uvicorn.run(
        args.app,
        host=args.host,
        port=args.port,
        factory=args.factory,
        workers=args.workers,
        log_level=args.log_level,
        server_header=False,
        http=HTTP_PROTOCOL,  # uvicorn's, with header_timeout and max_header_size
        h11_max_incomplete_event_size=settings.max_header_size,  # when h11 runs
        limit_concurrency=connection_limit(settings),
        timeout_keep_alive=KEEP_ALIVE,
        proxy_headers=False,  # the app believes only trusted_proxies (create_app)
        # live channel streams never end by themselves: give them this long, then close
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
