"""Replies shaped like the real server's (protocol.md §1.3, §1.4, §1.8) and the session.

The session lives in the signed ``rhoconnect_session`` cookie (§1.5): a JSON object
``{"sid": ..., "login": ..., "s": ...}`` signed with the configured secret (itsdangerous).
``s`` is the user's session stamp at login (``State.session_stamp``): deleting the user
or signing it out everywhere gives it a new stamp, and every older cookie stops
verifying. A reply to a request that carried a valid cookie repeats that same value with
a fresh expiry; the cookie is ``HttpOnly``, ``SameSite=Lax`` and, under https, ``Secure``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "rhoconnect_session"
HTML = "text/html;charset=utf-8"
TEXT = "text/plain"
JSON = "application/json"

UNKNOWN_CLIENT = "Unknown client"
NOT_AUTHENTICATED = "Not authenticated"
BAD_BODY = "Server error while processing client data"
_VERIFIED_SESSIONS = 10_000


@dataclass(frozen=True)
class Session:
    """What a verified session cookie names: the user and its session stamp then."""

    login: str
    stamp: str | None


class Sessions:
    """Signs and verifies session cookie values.

    A session sends the same value on every request, so verified values are remembered
    (with their expiry): checking a signature costs more than the rest of a small request.
    Whether the session is still the user's current one (its stamp) is the caller's check,
    against the user record it reads anyway.
    """

    def __init__(self, secret: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="rhom.server.session")
        self.max_age = max_age
        self._verified: OrderedDict[str, tuple[Session | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, login: str | None, stamp: str | None = None) -> str:
        """A new session value; ``login=None`` makes an anonymous session."""
        data: dict[str, str] = {"sid": secrets.token_hex(16)}
        if login is not None:
            data["login"] = login
            if stamp is not None:
                data["s"] = stamp
        return self._serializer.dumps(data)

    def session_of(self, value: str) -> Session | None:
        """The session a cookie value names, or ``None`` (anonymous, or not verifying)."""
        now = time.time()
        with self._lock:
            known = self._verified.get(value)
            if known is not None and known[1] > now:
                self._verified.move_to_end(value)
                return known[0]
        try:
            data, signed_at = self._serializer.loads(value, max_age=self.max_age, return_timestamp=True)
        except BadSignature:  # also SignatureExpired: older than cookie_expire
            return None
        session = _session(data)
        with self._lock:
            self._verified[value] = (session, signed_at.timestamp() + self.max_age)
            while len(self._verified) > _VERIFIED_SESSIONS:
                self._verified.popitem(last=False)
        return session

    def set_cookie(self, response: Response, value: str, *, secure: bool = False) -> None:
        """Send the session cookie; ``secure`` for a request that came over https."""
        expires = formatdate(time.time() + self.max_age, usegmt=True)
        flags = "; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        response.headers.append("set-cookie", f"{COOKIE_NAME}={value}; path=/; expires={expires}{flags}")


def _session(data: Any) -> Session | None:
    login = data.get("login") if isinstance(data, dict) else None
    if not isinstance(login, str) or not login:
        return None
    stamp = data.get("s")
    return Session(login, stamp if isinstance(stamp, str) else None)


def is_https(request: Request) -> bool:
    """Whether the request came over https (by a trusted proxy's word, behind one)."""
    return request.scope.get("scheme") == "https"


def text(status: int, body: str, content_type: str = HTML) -> Response:
    """A plain message reply labelled as the real server labels it."""
    response = Response(body.encode(), status_code=status)
    response.headers["content-type"] = content_type
    return response


def empty() -> Response:
    """The empty 200 of control routes (login, register, reset, push)."""
    return text(200, "")


def json_reply(value: Any, headers: dict[str, str] | None = None) -> Response:
    return json_bytes(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), headers)


def json_bytes(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """A 200 with a body already encoded as JSON."""
    response = Response(body, status_code=200, headers=headers)
    response.headers["content-type"] = JSON
    return response


def bad_body() -> Response:
    """The JSON-parse failure: plain text, connection closed, no session headers."""
    response = text(500, BAD_BODY, TEXT)
    response.headers["connection"] = "close"
    return response


def no_cache(response: Response) -> Response:
    response.headers["cache-control"] = "no-cache"
    response.headers["pragma"] = "no-cache"
    return response


def deprecated(response: Response, method: str, path: str) -> Response:
    response.headers["warning"] = f"Use of the {method} {path} is deprecated. Use Rhoconnect API v1 instead."
    return response
