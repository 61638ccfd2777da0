"""Identifier checks and quoting: the only place rhom turns a name into SQL text.

Values never pass through here: they always travel as bound parameters. Names (tables,
columns, attributes, SQL functions) are checked against a strict pattern first, so text such
as ``name; DROP TABLE x`` is refused with a :class:`~rhom.exceptions.ValidationError`.

SQL the caller wrote (a ``find`` condition, ``find_by_sql``) runs as given; when SQLite
refuses it, :func:`caller_sql` turns sqlite3's or peewee's error into
:class:`~rhom.exceptions.SQLError`, once, where that SQL is run.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sized
from typing import Any

import peewee

from .exceptions import SQLError, ValidationError

#: Attribute names: letters, digits, ``_``, ``-`` and ``.`` (server blob markers look like
#: ``image_uri-rhoblob``); no spaces, quotes, parentheses or semicolons.
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,254}\Z")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


def check_attribute(name: object, *, where: str) -> str:
    """Return *name* if it is a safe attribute name, else raise ``ValidationError``.

    :param where: what the name belongs to (``"Product"``), for the message.
    """
    if not isinstance(name, str) or not _ATTRIBUTE.match(name):
        raise ValidationError(f"{where}: invalid attribute name {name!r}")
    return name


def check_identifier(name: object, *, what: str) -> str:
    """Return *name* if it is a plain SQL identifier (table, column, function)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValidationError(f"invalid {what} {name!r}")
    return name


#: What a parameter of the caller's SQL may be: what sqlite3 binds without an adapter.
_SQL_VALUES = (type(None), int, float, str, bytes, bytearray, memoryview)


def check_params(params: Iterable[Any], *, where: str) -> tuple[Any, ...]:
    """Return *params* as a tuple if sqlite3 can bind each one, else raise ``ValidationError``."""
    params = tuple(params)
    for i, value in enumerate(params, 1):
        if not isinstance(value, _SQL_VALUES):
            raise ValidationError(f"{where}: parameter {i} must be a number, text, bytes or None, got {value!r}")
    return params


def quote(name: str) -> str:
    """Quote an already checked identifier for SQLite."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal of a checked name (used in generated trigger DDL only)."""
    return "'" + text.replace("'", "''") + "'"


_SQLITE_ERROR = 1  # SQLite's primary result code for SQL it cannot compile or run
#: On Python 3.10, whose sqlite3 errors carry no result code: the OperationalErrors that
#: are the database failing, not the statement being refused.
_DATABASE_FAILURES = ("database is locked", "database table is locked", "disk I/O error",
                      "database or disk is full", "unable to open database file",
                      "attempt to write a readonly database", "interrupted")  # fmt: skip


@contextlib.contextmanager
def caller_sql(where: str, sql: str | None, params: Sized = (), *, what: str = "SQL") -> Iterator[None]:
    """Raise :class:`SQLError` for SQLite refusing *sql*, the caller's own SQL, in the block.

    :param where: the call, for the message (``"Product.find"``).
    :param sql: the caller's SQL; None when the block runs only SQL rhom wrote, whose
        errors pass unchanged.
    :param params: the caller's parameters of *sql*.
    :param what: what *sql* is, for the message (``"condition"``).
    """
    try:
        yield
    except (sqlite3.Error, peewee.PeeweeException) as exc:
        orig = getattr(exc, "orig", exc)  # peewee keeps sqlite3's error in .orig
        if sql is None or isinstance(exc, SQLError) or not _refused(orig):
            raise
        reason = str(orig)
        if isinstance(orig, sqlite3.ProgrammingError):
            # SQLite counts the statement's marks, rhom's own around a condition included
            reason = f"its ? marks do not match the {len(params)} parameter(s) given"
        raise SQLError(f"{where}: SQLite refused the {what} {sql!r}: {reason}", sql=sql, orig=orig) from exc


def _refused(error: BaseException) -> bool:
    """SQLite refused the statement (syntax, unknown column or function, ...) or the number
    of its parameters, as opposed to the database failing."""
    if isinstance(error, sqlite3.ProgrammingError):
        # the only one a caller's SQL can cause; the others are rhom's misuse (a closed
        # connection, another thread's)
        return str(error).startswith("Incorrect number of bindings")
    if not isinstance(error, sqlite3.OperationalError):
        return False  # IntegrityError and the like pass through, as everywhere in rhom
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == _SQLITE_ERROR)
    return not str(error).startswith(_DATABASE_FAILURES)
