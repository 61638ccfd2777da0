"""The server's log: what went wrong in a request, for the people who run it.

Every error an adapter hook raises reaches the client as a protocol error entry (a
``create-error``, a ``query-error``, ...) carrying only its message. The server's log
gets the rest: one record per error on the ``rhom.server`` logger, at WARNING, naming
the source, the hook, the object, the user and the client id, with the hook's
traceback. ``--log-format json`` (``python -m rhom.server``, ``rhom serve``) writes
every log record, uvicorn's access lines included, as one JSON object per line, with
those names as fields.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from typing import Any

__all__ = ["JsonFormatter", "adapter_failed", "log_config"]

logger = logging.getLogger("rhom.server")

#: The fields a request error carries besides its message (``extra=`` of the record).
FIELDS = ("source", "operation", "object", "user", "client")
FORMATS = ("text", "json")


def adapter_failed(source: str, operation: str, exc: BaseException, *, user: str | None,
                   client: str | None, object_id: str | None = None) -> None:  # fmt: skip
    """Log one error an adapter hook raised while serving a request.

    :param operation: the hook: ``login``, ``query``, ``create``, ``update``, ``delete``,
        ``search``, ``logoff``.
    """
    what = f"{source} {operation}" + (f" of {object_id}" if object_id is not None else "")
    logger.warning(
        "%s failed (user %r, client %s): %s: %s", what, user, client or "-", type(exc).__name__, exc,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"source": source, "operation": operation, "object": object_id, "user": user, "client": client},
    )  # fmt: skip


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the request error fields when present, uvicorn's access fields
    (``client_addr``, ``method``, ``path``, ``status``), and for an exception ``error``
    and ``traceback``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client_addr, method, path, _, status = record.args
            out.update(client_addr=client_addr, method=method, path=path, status=status)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def log_config(log_format: str, level: str = "info") -> dict[str, Any]:
    """uvicorn's ``log_config``: its own loggers and ``rhom``'s, in ``text`` (uvicorn's
    look, ``WARNING:  Product create of 12 failed ...`` and the traceback) or ``json``."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    if log_format == "json":
        formatters: dict[str, Any] = {
            "default": {"()": "rhom.server._logging.JsonFormatter"},
            "access": {"()": "rhom.server._logging.JsonFormatter"},
        }
    else:
        formatters = {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        }
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            "rhom": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
