"""Column values to the wire and back: the one place SqlAdapter converts values.

The wire carries strings (protocol.md §1.9). What a column holds becomes the text a
Rhodes or rhom client expects for that kind of attribute:

* NULL: the attribute is left out; ``""`` pushed to a column that is not text is NULL;
* integers and numbers: ``"42"``, ``"9.99"``;
* booleans: ``"true"`` and ``"false"`` (pushes may also say 1/0, t/f, yes/no, on/off);
* dates: epoch seconds of their UTC midnight; timestamps: epoch seconds (a timestamp
  without a zone is UTC); both are read back from epoch seconds or ISO 8601 text;
* times of day: ISO text (``"13:45:00"``); JSON: JSON text; anything else: ``str(value)``.

Dates and timestamps travel as epoch seconds because rhom's ``DateField`` and
``TimeField`` (and Rhodes' ``date`` and ``time`` properties) store exactly that.
Binary columns have no text form: they are left out of the attributes.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import uuid
from typing import Any

import sqlalchemy as sa

_UTC = _dt.timezone.utc
_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}


class ValueConversionError(ValueError):
    """A pushed value that its column cannot hold (``Product.price: expected a number, got 'abc'``)."""


def python_type(column: sa.ColumnElement[Any]) -> type | None:
    """The Python type of the column's values, or ``None`` when SQLAlchemy does not know it.
    A MySQL ``TINYINT(1)`` is a boolean: MySQL and MariaDB make ``BOOLEAN`` columns so."""
    if _is_mysql_flag(column.type):
        return bool
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return None
    return None if kind is object else kind


def _is_mysql_flag(kind: Any) -> bool:
    return type(kind).__name__ == "TINYINT" and getattr(kind, "display_width", None) == 1


def as_read(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` as a select reads it: a MySQL ``TINYINT(1)`` as a boolean (``True``, not ``1``)."""
    if _is_mysql_flag(column.type):
        return sa.type_coerce(column, sa.Boolean()).label(column.key)
    return column


def is_binary(column: sa.ColumnElement[Any]) -> bool:
    kind = python_type(column)
    return kind is not None and issubclass(kind, (bytes, bytearray, memoryview))


def to_wire(value: Any) -> str | None:
    """The wire text of a column value; ``None`` for NULL (the attribute is left out)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, _dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
        return str(int(moment.timestamp()))
    if isinstance(value, _dt.date):
        return str(int(_dt.datetime(value.year, value.month, value.day, tzinfo=_UTC).timestamp()))
    if isinstance(value, _dt.time):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def from_wire(column: sa.ColumnElement[Any], text: str, where: str) -> Any:
    """The value to bind for ``column`` from pushed ``text``.

    :param where: ``Source.column``, for the error message.
    :raises ValueConversionError: the text is not a value of the column's type.
    """
    kind = python_type(column)
    if kind is None or issubclass(kind, str):
        return text
    stripped = text.strip()
    if stripped == "":
        return None  # a number, date or flag without a value is NULL
    try:
        return _convert(kind, column, stripped)
    except (ValueError, TypeError, ArithmeticError):
        pass
    raise ValueConversionError(f"{where}: expected {_expected(kind)}, got {text!r}")


def _convert(kind: type, column: sa.ColumnElement[Any], text: str) -> Any:
    if issubclass(kind, bool):
        lowered = text.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ValueError(text)
    if issubclass(kind, int):
        number = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(text)
        return int(number)
    if issubclass(kind, float):
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    if issubclass(kind, decimal.Decimal):
        exact = decimal.Decimal(text)
        if not exact.is_finite():
            raise ValueError(text)
        return exact
    if issubclass(kind, _dt.datetime):
        return _datetime(text, aware=bool(getattr(column.type, "timezone", False)))
    if issubclass(kind, _dt.date):
        if _is_number(text):
            return _dt.datetime.fromtimestamp(float(text), _UTC).date()
        return _dt.date.fromisoformat(text[:10])
    if issubclass(kind, _dt.time):
        return _dt.time.fromisoformat(text)
    if issubclass(kind, uuid.UUID):
        return uuid.UUID(text)
    if issubclass(kind, (dict, list)):
        return json.loads(text)
    return text


def _datetime(text: str, *, aware: bool) -> _dt.datetime:
    if _is_number(text):
        moment = _dt.datetime.fromtimestamp(float(text), _UTC)
    else:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_UTC)  # naive wire times are UTC, as epoch seconds are
    return moment if aware else moment.astimezone(_UTC).replace(tzinfo=None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _expected(kind: type) -> str:
    if issubclass(kind, bool):
        return "true or false"
    if issubclass(kind, int):
        return "an integer"
    if issubclass(kind, (float, decimal.Decimal)):
        return "a number"
    if issubclass(kind, _dt.datetime):
        return "epoch seconds or an ISO 8601 date and time"
    if issubclass(kind, _dt.date):
        return "epoch seconds or an ISO 8601 date"
    if issubclass(kind, _dt.time):
        return "an ISO 8601 time"
    return f"a {kind.__name__} value"


def rhoconnect_type(column: sa.ColumnElement[Any]) -> str:
    """The property type of a RhoConnect fixed schema (protocol.md §9.2) for ``column``."""
    kind = python_type(column)
    if kind is None or issubclass(kind, str):
        return "string"
    if issubclass(kind, bool):
        return "string"
    if issubclass(kind, int):
        return "integer"
    if issubclass(kind, (float, decimal.Decimal)):
        return "float"
    if issubclass(kind, (_dt.date, _dt.datetime)):
        return "time" if issubclass(kind, _dt.datetime) else "date"
    return "string"
