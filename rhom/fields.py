"""Fields of rhom models: peewee's fields with rhom's value rules, plus blobs and belongs-to.

Every field is nullable with a NULL default (Rhom stores "attribute absent" as NULL). On a
fixed-schema model (:class:`rhom.Model`) a field is a column; on a property-bag model
(:class:`rhom.PropertyBagModel`) it declares a known attribute, converts values on read and
feeds the frozen and blob checks (the stored value is always text).

Dates and times are stored as integer epoch seconds (UTC), as Rhodes does, and read back as
:class:`datetime.date` and timezone-aware :class:`datetime.datetime`.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

import peewee

from .exceptions import ValidationError

__all__ = [
    "BelongsTo",
    "BlobField",
    "CharField",
    "DateField",
    "Field",
    "FloatField",
    "IntegerField",
    "TextField",
    "TimeField",
]

_EPOCH_DATE = _dt.date(1970, 1, 1)


class Field(peewee.Field):
    """Base of rhom fields: nullable, NULL default, values checked before they are written."""

    #: True for fields whose value is a file in the blob folder.
    is_blob = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)

    def _where(self) -> str:
        model = getattr(self, "model", None)
        return f"{model.__name__}.{self.name}" if model is not None else str(self.name)

    def invalid(self, expected: str, value: Any) -> ValidationError:
        """The error for a value this field cannot store."""
        return ValidationError(f"{self._where()}: expected {expected}, got {value!r}")

    def to_python(self, value: Any) -> Any:
        """Check and convert an assigned value; ``None`` always passes."""
        return value

    def db_value(self, value: Any) -> Any:
        return None if value is None else self.to_python(value)

    def to_bag(self, value: Any) -> str | None:
        """The text a property-bag model stores for *value*."""
        value = self.db_value(value)
        return None if value is None else _text(value)

    def from_bag(self, text: str | None) -> Any:
        """The Python value of stored property-bag text."""
        return None if text is None else self.python_value(text)  # type: ignore[no-untyped-call]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


class CharField(Field):
    """A string attribute (``varchar``). Numbers, booleans, dates and times are stored as
    their text (``str(datetime)``: ``2024-05-01 12:00:00``), as Rhom stores ``value.to_s``."""

    field_type = "VARCHAR"

    def __init__(self, max_length: int = 255, *args: Any, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(*args, **kwargs)

    def get_modifiers(self) -> list[int] | None:
        return [self.max_length] if self.max_length else None

    def to_python(self, value: Any) -> Any:
        # Rhom writes every value as text (rhom_object_factory.rb, update_attributes and
        # save: ``val.to_s``), a Time too; other objects (lists, dicts, ...) have no text
        # worth storing and are refused
        if isinstance(value, (bool, int, float, _dt.date, _dt.time)):
            value = _text(value)
        if not isinstance(value, str):
            raise self.invalid("text", value)
        if self.max_length and len(value) > self.max_length:
            raise ValidationError(
                f"{self._where()}: expected at most {self.max_length} characters, got {len(value)}"
                " (declare a TextField or a larger max_length)"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.invalid("valid Unicode text (a lone surrogate is not)", value) from None
        return value

    def python_value(self, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else _text(value)


class TextField(CharField):
    """A long string attribute (``text``)."""

    field_type = "TEXT"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(0, *args, **kwargs)


class IntegerField(Field):
    """An integer attribute. Accepts ints and integer text (server values arrive as text).

    A bool is refused, as by every number field: Rhom stores ``true.to_s``, the text
    ``"true"``, which is no number (rhom_object_factory.rb, save and update_attributes).
    """

    field_type = "INTEGER"

    def to_python(self, value: Any) -> Any:
        number: int | None = None
        if isinstance(value, bool):  # an int to Python, but not a number anyone means
            raise self.invalid("an integer", value)
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                pass
        if number is None:
            raise self.invalid("an integer", value)
        if not -(2**63) <= number < 2**63:  # what SQLite stores
            raise self.invalid("an integer within 64 bits", value)
        return number

    def python_value(self, value: Any) -> Any:
        return None if value is None or value == "" else self.to_python(value)


class FloatField(Field):
    """A floating point attribute. Accepts numbers and numeric text; refuses a bool."""

    field_type = "FLOAT"

    def to_python(self, value: Any) -> Any:
        number: float | None = None
        if isinstance(value, bool):
            raise self.invalid("a number", value)
        try:
            if isinstance(value, (int, float)):
                number = float(value)
            elif isinstance(value, str):
                number = float(value.strip())
        except (ValueError, OverflowError):
            pass
        if number is None:
            raise self.invalid("a number", value)
        if not math.isfinite(number):  # SQLite stores NaN as NULL: the value would be lost
            raise self.invalid("a finite number", value)
        return number

    def python_value(self, value: Any) -> Any:
        return None if value is None or value == "" else self.to_python(value)


class _EpochField(Field):
    """Integer epoch seconds in the table; accepts dates, datetimes and numbers."""

    field_type = "INTEGER"

    def to_python(self, value: Any) -> Any:
        if isinstance(value, _dt.datetime):
            return _epoch(value)
        if isinstance(value, _dt.date):
            return (value - _EPOCH_DATE).days * 86400
        return _epoch_number(self, value)

    def python_value(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        return _dt.datetime.fromtimestamp(_epoch_number(self, value), _dt.timezone.utc)


class DateField(_EpochField):
    """A date, stored as integer epoch seconds of its midnight (UTC); reads as ``date``."""

    def python_value(self, value: Any) -> Any:
        moment = super().python_value(value)
        return None if moment is None else moment.date()


class TimeField(_EpochField):
    """A point in time, stored as integer epoch seconds; reads as an aware UTC ``datetime``.

    Naive datetimes are taken as UTC.
    """


def _epoch(value: _dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return int(value.timestamp())


def _epoch_number(field: Field, value: Any) -> int:
    if isinstance(value, bool):
        raise field.invalid("a date, datetime or epoch seconds", value)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            pass
    raise field.invalid("a date, datetime or epoch seconds", value)


class BlobField(CharField):
    """A file kept in the blob folder; the stored value is its path relative to that folder.

    Assign bytes, a :class:`pathlib.Path` or a file path outside the blob folder, or a
    readable binary file object: the Rhom write methods copy it into the blob folder first.
    Replacing the value or destroying the record deletes the old file once the transaction
    commits.

    :param overwrite: on sync, always replace the local file with the server copy (Rhom's
        ``:blob, :overwrite``); otherwise only download when the local value is empty.
    :param max_size: the largest file accepted, in bytes; by default ``rhom.setup``'s
        ``max_blob_size`` (none). A larger one raises :class:`rhom.ValidationError` when it
        is written, and nothing is written.
    """

    is_blob = True

    def __init__(self, *args: Any, overwrite: bool = False, max_size: int | None = None, **kwargs: Any) -> None:
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0):
            raise ValidationError(f"BlobField: max_size must be a number of bytes, got {max_size!r}")
        self.overwrite = overwrite
        self.max_size = max_size
        super().__init__(*args, **kwargs)

    def size_limit(self) -> int | None:
        """The limit in force: this field's ``max_size``, else the setup's ``max_blob_size``."""
        if self.max_size is not None:
            return self.max_size
        from . import _runtime

        return _runtime.current().max_blob_size

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        raise ValidationError(
            f"{self._where()}: a blob value must be stored through the model "
            f"(save/create/update_attributes) or rhom.blobs.store(); got {type(value).__name__}"
        )


class BelongsTo(CharField):
    """An attribute holding the object id of an owner record (Rhom's ``belongs_to``).

    The owner source syncs first; when the server confirms an owner created on this device,
    the sync engine rewrites this attribute from the temporary to the server id.

    :param owners: the owner model name, or a list of names (polymorphic).
    """

    def __init__(self, owners: str | Sequence[str], *args: Any, **kwargs: Any) -> None:
        names = [owners] if isinstance(owners, str) else list(owners)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValidationError(f"BelongsTo: owner names must be non-empty strings, got {owners!r}")
        self.owners = tuple(names)
        super().__init__(*args, **kwargs)
