"""``python -m rhom.server module:app``: serve an app with uvicorn (127.0.0.1:9292).

Options: ``--host``, ``--port`` (defaults from ``RHOM_SERVER_HOST``/``RHOM_SERVER_PORT``),
``--factory`` (``module:make_app`` is a function returning the app) and ``--workers``.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from rhom.server.settings import Settings

#: Seconds a stopping server waits for open requests (live streams) before closing them.
SHUTDOWN_GRACE = 5


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
        # live channel streams never end by themselves: give them this long, then close
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
