"""rhom.server: a RhoConnect-protocol sync server with Python source adapters.

::

    from rhom.server import MemoryAdapter, create_app

    app = create_app([MemoryAdapter("Product", {"1": {"name": "Widget"}})])

Run it with ``python -m rhom.server module:app`` (127.0.0.1:9292 by default). See
docs/server.md for adapters, settings and running several processes on Redis.
"""

from __future__ import annotations

from importlib.util import find_spec as _find_spec

#: The modules of the ``server`` extra (pyproject.toml); alternatives share a tuple
#: (python-multipart installs ``python_multipart`` and, in older releases, only ``multipart``).
_SERVER_EXTRA: tuple[tuple[str, ...], ...] = (
    ("starlette",),
    ("uvicorn",),
    ("redis",),
    ("orjson",),
    ("itsdangerous",),
    ("python_multipart", "multipart"),
)


def _missing_extra(error: ImportError) -> ImportError:
    """The ImportError to raise (chained to ``error``) when the server extra is missing."""
    return ImportError(
        f"rhom.server needs the server extra, which is not installed ({error}): pip install 'rhom[server]'",
        name=error.name,
        path=error.path,
    )


def _require_server_extra() -> None:
    """Raise a readable ImportError, not a bare ModuleNotFoundError, when a module is missing.

    ``find_spec`` only looks the modules up: ``uvicorn`` and ``redis`` are still imported
    only by what uses them.
    """
    for alternatives in _SERVER_EXTRA:
        error: ImportError | None = None
        for name in alternatives:
            try:
                if _find_spec(name) is not None:
                    break
            except ImportError as exc:  # a finder refused it: report that
                error = error or exc
        else:
            cause = error or ModuleNotFoundError(f"No module named {alternatives[0]!r}", name=alternatives[0])
            raise _missing_extra(cause) from cause


_require_server_extra()

try:
    from rhom.server import backend
    from rhom.server.adapters import LoginError, MemoryAdapter, SourceAdapter, Upload
    from rhom.server.app import create_app
    from rhom.server.settings import Settings
    from rhom.server.store import (
        ChangeLog,
        KeyValueStore,
        LogEntry,
        LogInfo,
        Store,
        StoreUnavailableError,
        open_store,
        register_store,
    )
except ModuleNotFoundError as exc:  # present but broken, say: still name the extra
    if (exc.name or "").partition(".")[0] not in {name for names in _SERVER_EXTRA for name in names}:
        raise
    raise _missing_extra(exc) from exc

__all__ = [
    "ChangeLog",
    "KeyValueStore",
    "LogEntry",
    "LogInfo",
    "LoginError",
    "MemoryAdapter",
    "Settings",
    "SourceAdapter",
    "Store",
    "StoreUnavailableError",
    "Upload",
    "backend",
    "create_app",
    "open_store",
    "register_store",
]
