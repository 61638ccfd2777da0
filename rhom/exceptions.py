"""rhom's exceptions.

Every error rhom raises on purpose derives from :class:`RhomError`::

    RhomError
    ├── ConfigurationError      bad Meta option, unknown source or model, bad settings
    ├── ValidationError         a value a field cannot store, bad condition or attribute name
    │   ├── UnknownAttributeError   an attribute a frozen model does not declare (also AttributeError)
    │   └── SQLError            SQL of a find condition or find_by_sql that SQLite refused
    │                           (also peewee.OperationalError)
    ├── RecordNotFound          find() called without an id (Rhom's RecordNotFound)
    ├── BlobError               a blob file missing or unreadable
    ├── DatabaseImportError     database_import() rejected the archive (original restored)
    ├── SyncError               raised by a sync run; ``.source`` names the model
    │   ├── NetworkError        server unreachable or timed out; ``__cause__`` is the httpx error
    │   ├── AuthError           login refused or session expired
    │   ├── ProtocolError       a reply that does not match the protocol; ``.response`` kept
    │   └── ServerError         the server reported an error; ``.status_code``, ``.details``
    └── rhom.server.StoreUnavailableError  (server side) the store cannot answer now (a Redis
                                Cluster failing over); requests get 503, or 504 if a write began

Messages name the bad input and where it came from (``Product.price: expected a number,
got 'abc'``) and never carry a password, session cookie or token. peewee's own errors
(``IntegrityError``, ``Model.DoesNotExist``) pass through unchanged and are re-exported from
:mod:`rhom`.
"""

from __future__ import annotations

from typing import Any

import peewee

__all__ = [
    "AuthError",
    "BlobError",
    "ConfigurationError",
    "DatabaseImportError",
    "NetworkError",
    "ProtocolError",
    "RecordNotFound",
    "RhomError",
    "SQLError",
    "ServerError",
    "SyncError",
    "UnknownAttributeError",
    "ValidationError",
]


class RhomError(Exception):
    """Base class of every error rhom raises on purpose."""


class ConfigurationError(RhomError):
    """A model declaration, Meta option, source name or setting is wrong."""


class ValidationError(RhomError, ValueError):
    """A value, condition or attribute name that rhom refuses to store or run."""


class UnknownAttributeError(ValidationError, AttributeError):
    """An attribute that a frozen (or fixed-schema) model does not declare."""


class SQLError(ValidationError, peewee.OperationalError):
    """SQL the caller wrote that SQLite refused to run: a ``find`` condition given as SQL
    (``"price >> 3"``, ``("name = ?", "x")``) or the statement of ``find_by_sql``.

    SQLite refuses a statement it cannot compile (a syntax error, an unknown column or
    function) or parameters that do not fit it; a database that fails (busy, locked,
    full, unreadable) raises peewee's or sqlite3's error as before. The message names
    the model and quotes the SQL.

    It is a :class:`ValidationError`, as Rhom raises ``ArgumentError`` (Rhodes' spec
    "should not add property to freezed model"), and a ``peewee.OperationalError``,
    which it stands in for, so that code catching the database error keeps working.

    :param sql: the refused SQL, as given.
    :param orig: SQLite's own error (also ``__cause__``'s), kept in ``.orig`` as peewee
        keeps it.
    """

    def __init__(self, message: str, *, sql: str | None = None, orig: BaseException | None = None) -> None:
        super().__init__(message)
        self.sql = sql
        self.orig = orig


class RecordNotFound(RhomError, LookupError):
    """``find()`` was called without an object id or mode (Rhom's ``RecordNotFound``)."""


class BlobError(RhomError):
    """A blob file is missing, unreadable or cannot be copied into the blob folder."""


class DatabaseImportError(RhomError):
    """``database_import`` could not install the archive; the original database was restored."""


class SyncError(RhomError):
    """An error raised by a sync run.

    :param source: the source (model) name the error belongs to, if any.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class NetworkError(SyncError):
    """The server could not be reached or timed out; retrying later may succeed.

    :param may_have_arrived: ``False`` only when the request certainly never reached the
        server (the connection was refused or never made). Otherwise the server may have
        acted on it and the reply was lost: the sync engine treats a push in that state
        as *in doubt*, never as failed.
    """

    def __init__(self, message: str, *, source: str | None = None, may_have_arrived: bool = True) -> None:
        super().__init__(message, source=source)
        self.may_have_arrived = may_have_arrived


class AuthError(SyncError):
    """The login was refused or the session expired (HTTP 401)."""


class ProtocolError(SyncError):
    """A server reply that does not match the RhoConnect protocol.

    :param response: the offending reply (an ``httpx.Response`` or raw text), kept for debugging.
    """

    def __init__(self, message: str, *, source: str | None = None, response: Any = None) -> None:
        super().__init__(message, source=source)
        self.response = response


class ServerError(SyncError):
    """The server reported an error.

    :param status_code: the HTTP status code.
    :param details: the parsed error body, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        status_code: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, source=source)
        self.status_code = status_code
        self.details = details
