"""Identifier checks and quoting: the only place rhom turns a name into SQL text.

Values never pass through here: they always travel as bound parameters. Names (tables,
columns, attributes, SQL functions) are checked against a strict pattern first, so text such
as ``name; DROP TABLE x`` is refused with a :class:`~rhom.exceptions.ValidationError`.
"""

from __future__ import annotations

import re

from .exceptions import ValidationError

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


def quote(name: str) -> str:
    """Quote an already checked identifier for SQLite."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal of a checked name (used in generated trigger DDL only)."""
    return "'" + text.replace("'", "''") + "'"
