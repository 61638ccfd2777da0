"""Rhodes error codes, and how rhom's exceptions map onto them.

Rhodes applications see sync failures as numeric ``error_code`` values
(``spec/rhom-api.md`` §8, ``spec/protocol.md`` §11.9); rhom raises exceptions from
:mod:`rhom.exceptions`. This module is the bridge: :class:`ErrorCode` holds the Rhodes
numbers, :class:`RhoError` is the Rhodes ``RhoError`` class, and :func:`error_code_for` /
:func:`rho_error_for` turn an exception raised by a sync run into the code and message a
notification carries.

Three exceptions refine the :mod:`rhom.exceptions` tree for cases the Rhodes codes tell
apart::

    AuthError
    └── NotLoggedInError     no stored session; raised before any request (code 7)
    ProtocolError
    └── SyncVersionError     a page whose ``version`` is not 3 (code 11)
    ServerError
    └── UnknownClientError   500 ``Unknown client``: the server forgot this client id (code 2)
"""

from __future__ import annotations

from enum import IntEnum

from rhom.exceptions import (
    AuthError,
    ConfigurationError,
    NetworkError,
    ProtocolError,
    ServerError,
)

__all__ = [
    "ErrorCode",
    "NotLoggedInError",
    "RhoError",
    "SyncVersionError",
    "UnknownClientError",
    "error_code_for",
    "is_unknown_client_message",
    "rho_error_for",
]


class ErrorCode(IntEnum):
    """The Rhodes ``RhoError`` codes, spelled in PEP 8 form (``rhom-api.md`` §8.1)."""

    NONE = 0  #: success
    NETWORK = 1  #: no HTTP response: DNS, refused, reset, timeout, TLS failure
    REMOTE_SERVER = 2  #: an HTTP status other than 200/206/401, ``Unknown client`` included
    RUNTIME = 3  #: internal client error, e.g. sync of an unknown source requested
    UNEXPECTED_SERVER_RESPONSE = 4  #: a reply that does not match the protocol
    DIFF_DOMAINS_IN_SYNC_SRC = 5  #: legacy, unused
    NO_SERVER_RESPONSE = 6  #: legacy, unused
    CLIENT_IS_NOT_LOGGED_IN = 7  #: sync requested without a stored session
    CUSTOM_SYNC_SERVER = 8  #: the server's source adapter reported errors in a page
    UNAUTHORIZED = 9  #: HTTP 401: bad credentials or expired session
    CANCEL_BY_USER = 10  #: the run was stopped by the application
    SYNC_VERSION = 11  #: a page whose data format ``version`` is not 3
    GEOLOCATION = 12  #: not sync related (shared Rhodes enum)


_MESSAGES: dict[int, str] = {
    ErrorCode.NONE: "",
    ErrorCode.NETWORK: "Could not establish network connection",
    ErrorCode.REMOTE_SERVER: "Server returned an error",
    ErrorCode.RUNTIME: "Application has encountered an error and must close",
    ErrorCode.UNEXPECTED_SERVER_RESPONSE: "Unexpected server response",
    ErrorCode.DIFF_DOMAINS_IN_SYNC_SRC: "All sync sources should be from one domain",
    ErrorCode.NO_SERVER_RESPONSE: "Cannot connect to sync server",
    ErrorCode.CLIENT_IS_NOT_LOGGED_IN: "Client is not logged in. No sync will be performed",
    ErrorCode.CUSTOM_SYNC_SERVER: "Sync server returned an error",
    ErrorCode.UNAUTHORIZED: "Unauthorized access",
    ErrorCode.CANCEL_BY_USER: "Operation was cancelled by user",
    ErrorCode.SYNC_VERSION: "Sync server version does not match the client",
    ErrorCode.GEOLOCATION: "Geolocation error",
}

_UNKNOWN_CLIENT = "unknown client"


class NotLoggedInError(AuthError):
    """A sync was requested but no session is stored; nothing was sent (code 7)."""


class SyncVersionError(ProtocolError):
    """A page or search reply whose data format ``version`` is not 3 (code 11).

    :param version: the version the reply carried, ``None`` when the element was missing.
    """

    def __init__(
        self,
        message: str,
        *,
        version: object = None,
        source: str | None = None,
        response: object = None,
    ) -> None:
        super().__init__(message, source=source, response=response)
        self.version = version


class UnknownClientError(ServerError):
    """The server answered 500 ``Unknown client``: it does not know this client id.

    The session is still valid. The documented reaction (``protocol.md`` §3.6) is a client
    reset: forget the client id and the page tokens, delete the synced local data, and sync
    again, which creates a fresh client id.
    """


def is_unknown_client_message(message: str | None) -> bool:
    """Tell whether an error message is the server's ``Unknown client`` reply.

    The comparison ignores case and surrounding white space, as Rhodes'
    ``RhoError#unknown_client?`` and the Objective-C ``isUnknownClientError`` do.

    :param message: an ``error_message`` or reply body; ``None`` is never a match.
    """
    return message is not None and message.strip().lower() == _UNKNOWN_CLIENT


class RhoError(Exception):
    """The Rhodes ``Rho::RhoError``: an error code with its message.

    :param code: a Rhodes code; numbers outside :class:`ErrorCode` are kept as plain ints.
    :param message: the message; defaults to the code's English text, or
        ``"Unknown error"`` for a number Rhodes does not define.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        try:
            self.code: int = ErrorCode(code)
        except ValueError:
            self.code = code
        if message is None:
            message = _MESSAGES.get(self.code, "Unknown error")
        self.message: str = message
        super().__init__(message)

    def unknown_client(self, error_message: str | None) -> bool:
        """Tell whether this error is the server's ``Unknown client`` reply.

        True when the code is :attr:`ErrorCode.REMOTE_SERVER` and ``error_message``
        (the notification's ``error_message``) reads ``Unknown client``, case-insensitively.

        :param error_message: the message to test, usually the notification's.
        """
        return self.code == ErrorCode.REMOTE_SERVER and is_unknown_client_message(error_message)

    def __repr__(self) -> str:
        return f"RhoError({int(self.code)}, {self.message!r})"


def error_code_for(exc: BaseException) -> ErrorCode:
    """Return the Rhodes code a notification reports for an exception of a sync run.

    ======================================  ===================================
    exception                               code
    ======================================  ===================================
    :class:`RhoError`                       its own code (``RUNTIME`` if unknown)
    :class:`NotLoggedInError`               ``CLIENT_IS_NOT_LOGGED_IN`` (7)
    :class:`~rhom.exceptions.AuthError`     ``UNAUTHORIZED`` (9)
    :class:`~rhom.exceptions.NetworkError`  ``NETWORK`` (1)
    :class:`SyncVersionError`               ``SYNC_VERSION`` (11)
    :class:`~rhom.exceptions.ProtocolError` ``UNEXPECTED_SERVER_RESPONSE`` (4)
    :class:`~rhom.exceptions.ServerError`   ``REMOTE_SERVER`` (2), ``Unknown client`` too
    anything else                           ``RUNTIME`` (3)
    ======================================  ===================================

    :param exc: the exception.
    """
    if isinstance(exc, RhoError):
        return exc.code if isinstance(exc.code, ErrorCode) else ErrorCode.RUNTIME
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return ErrorCode.RUNTIME


# Most specific first: the subclasses of this module come before their bases.
_CODES: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (NotLoggedInError, ErrorCode.CLIENT_IS_NOT_LOGGED_IN),
    (AuthError, ErrorCode.UNAUTHORIZED),
    (NetworkError, ErrorCode.NETWORK),
    (SyncVersionError, ErrorCode.SYNC_VERSION),
    (ProtocolError, ErrorCode.UNEXPECTED_SERVER_RESPONSE),
    (ServerError, ErrorCode.REMOTE_SERVER),
    (ConfigurationError, ErrorCode.RUNTIME),
)


def rho_error_for(exc: BaseException) -> RhoError:
    """Return the :class:`RhoError` (code and message) a notification reports for ``exc``.

    The message of a :class:`~rhom.exceptions.ServerError` is the server's reply body
    (its ``details``), as Rhodes puts the body into ``error_message``: so
    ``rho_error_for(exc).unknown_client(...)`` works on it. Other exceptions give their
    own message.

    :param exc: the exception.
    """
    if isinstance(exc, RhoError):
        return exc
    message = str(exc)
    if isinstance(exc, ServerError) and isinstance(exc.details, str):
        message = exc.details
    return RhoError(error_code_for(exc), message)
