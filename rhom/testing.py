"""Test helpers for applications: fixture data in Rhodes' form, and a network that fails the
way real networks do.

:func:`load_fixtures` fills the databases from pipe-separated files, as Rhodes'
``Rho::RhoUtils.load_offline_data`` does for Rhodes' own specs::

    from rhom.testing import load_fixtures

    rhom.setup(tmp_path, models=[Account, Case])
    load_fixtures(["object_values"], "tests/fixtures")   # tests/fixtures/object_values.txt

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
build); faults are used up in the order they were added.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import peewee

from . import _runtime, blobs
from .changelog import no_changelog
from .exceptions import ConfigurationError, ValidationError

__all__ = ["FaultyTransport", "load_fixtures"]


def load_fixtures(tables: Iterable[str], directory: str | Path, source_map: Mapping[str, str] | None = None) -> None:
    """Fill tables from pipe-separated fixture files, as Rhodes' specs do.

    Each table name reads ``<directory>/<table>.txt`` (Rhodes looks in
    ``<app>/<prefix>/fixtures/``; rhom takes the folder that holds the files). The first line
    names the columns, each further line is a row, fields are separated by ``|``::

        source_name|attrib|object|value
        Account|name|44e804f2|Mobio India|
        Account|rating|44e804f2||

    The rules are those of ``Rho::RhoUtils.load_offline_data`` (rhodes
    ``lib/framework/rho/rhoutils.rb``):

    * a ``source_name`` column names the model (after *source_map*, which renames sources,
      e.g. ``{"Account": "Account_s"}`` to load property-bag fixtures into a fixed-schema
      model) and becomes its ``source_id``; the row goes to that model's partition, a row
      without a source to the ``user`` partition;
    * empty fields at the end of a line are absent, so their value is ``NULL`` (Ruby's
      ``split('|')``): a trailing ``|`` marks where the row ends, and ``x||`` stores NULL;
    * the table is emptied in each partition the file writes to before its first row, and a
      fixed-schema model's own table likewise; the consecutive ``object_values`` rows of one
      object of a fixed-schema model become one row of its table (NULL values left out);
    * values are written as the file gives them, in one transaction per partition, without
      changelog rows: fixture data is what the server already has.

    Call it after :func:`rhom.setup` with the models the files name.

    :param tables: table names, loaded in this order (``["client_info", "object_values"]``).
    :param directory: the folder holding ``<table>.txt``.
    :param source_map: source name in the file -> source name of the model to load into.
    :raises ConfigurationError: a file names a source that is not set up.
    :raises ValidationError: a row names an attribute a fixed-schema model does not declare,
        or a column the table lacks.

    .. versionadded:: 0.1
    """
    runtime = _runtime.current()
    models = {m._rhom.source_name: m for m in runtime.models}
    for table in tables:
        path = Path(directory) / f"{table}.txt"
        loader = _FixtureLoader(table, path, models, dict(source_map or {}))
        loader.read()
        for partition, writes in loader.writes.items():
            db = runtime.database(partition)
            with no_changelog(db):
                for target in writes.emptied:
                    db.delete_all_from_table(target)
                for target, row, where in writes.rows:
                    try:
                        db.insert_into_table(target, row)
                    except ValidationError as exc:  # a column name that is no identifier
                        raise ValidationError(f"{where}: {exc}") from None
                    except peewee.OperationalError as exc:
                        if "no column" not in str(exc):
                            raise
                        raise ValidationError(f"{where}: {exc}") from None
            blobs.sweep(db)  # blob values the emptied tables named


@dataclass
class _Writes:
    emptied: list[str]
    rows: list[tuple[str, dict[str, Any], str]]  # (table, row, "file line N")


class _FixtureLoader:
    """One fixture file read into the rows each partition receives."""

    def __init__(self, table: str, path: Path, models: dict[str, Any], source_map: dict[str, str]) -> None:
        self.table, self.path, self.models, self.source_map = table, path, models, source_map
        self.writes: dict[str, _Writes] = {}
        self._object: tuple[Any, Any] | None = None  # (model, object id) being gathered
        self._values: dict[str, Any] = {}
        self._where = ""

    def read(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        if not lines:
            return
        columns = [c.strip() for c in _split(lines[0])]
        for number, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            parts = _split(line)
            where = f"{self.path.name} line {number}"
            row = {col: (parts[i] if i < len(parts) else None) for i, col in enumerate(columns)}
            model = None
            if "source_name" in row:
                model = self._model(row.pop("source_name"), where)
                row["source_id"] = model._rhom.source_id
            self._add(model, row, where)
        self._flush()

    def _model(self, name: Any, where: str) -> Any:
        name = self.source_map.get(name, name)
        model = self.models.get(name)
        if model is None:
            raise ConfigurationError(f"{where}: source {name!r} is not set up (rhom.setup(models=...))")
        return model

    def _partition(self, partition: str) -> _Writes:
        writes = self.writes.get(partition)
        if writes is None:
            writes = self.writes[partition] = _Writes([self.table], [])
        return writes

    def _add(self, model: Any, row: dict[str, Any], where: str) -> None:
        partition = model._rhom.partition if model is not None else "user"
        writes = self._partition(partition)
        if model is None or not model._rhom.fixed_schema:
            self._flush()
            writes.rows.append((self.table, row, where))
            return
        key = (model, row.get("object"))
        if key != self._object:
            self._flush()
            self._object, self._values, self._where = key, {}, where
            table = model._meta.table_name
            if table not in writes.emptied:
                writes.emptied.append(table)
        attrib = row.get("attrib")
        if not isinstance(attrib, str) or attrib not in model._rhom.fields:
            raise ValidationError(f"{where}: {model.__name__} has no attribute {attrib!r}")
        if row.get("value") is not None:
            self._values[attrib] = row["value"]

    def _flush(self) -> None:
        if self._object is None:
            return
        model, object_id = self._object
        writes = self._partition(model._rhom.partition)
        writes.rows.append((model._meta.table_name, {"object": object_id, **self._values}, self._where))
        self._object, self._values = None, {}


def _split(line: str) -> list[str]:
    """Ruby's ``line.chomp.split('|')``: trailing empty fields are dropped."""
    parts = line.rstrip("\r\n").split("|")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


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
