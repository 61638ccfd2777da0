"""Request parameters as RhoConnect sees them: query string, form and JSON body merged.

Rack nests bracketed names (``search[name]=x`` → ``{"search": {"name": "x"}}``,
``sources[][name]=A&sources[][token]=T`` → ``{"sources": [{"name": "A", "token": "T"}]}``),
protocol.md §1.3; :func:`parse_nested` does the same.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request

from rhom.server.adapters import Upload

__all__ = ["BadBody", "BodyTimeout", "BodyTooLarge", "InvalidInput", "Params", "check", "parse_nested", "read_params"]

_DRAIN = 1024 * 1024  # bytes read past the limit before the connection is dropped
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class BadBody(Exception):
    """The request body does not parse (answered 500, protocol.md §1.3)."""


class BodyTooLarge(Exception):
    """The request body exceeds ``max_body_size``."""


class BodyTimeout(Exception):
    """The request body stalled for longer than ``body_timeout``."""


class InvalidInput(Exception):
    """Parameters that parse but that no handler may see (answered 400 with the reason)."""


#: Nesting deeper than this is no RhoConnect request (the deepest, a push, is 3 levels).
MAX_DEPTH = 16


@dataclass
class Params:
    """Merged parameters of one request, plus uploaded files of a multipart push.

    ``values`` holds the query string's parameters and the body's (the body wins, as in
    Rack); ``query`` and ``body`` each one's alone, for what a URL must not carry.
    """

    values: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    has_body: bool = False
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    def text(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        return value if isinstance(value, str) else default

    def body_text(self, name: str, default: str = "") -> str:
        """Like :meth:`text`, from the body only (JSON, form or multipart ``cud``)."""
        value = self.body.get(name)
        return value if isinstance(value, str) else default

    def in_query(self, name: str) -> bool:
        """Whether the query string names ``name`` (where a password must never be)."""
        return name in self.query

    def number(self, name: str, default: int) -> int:
        value = self.values.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return default


def parse_nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build Rack-style nested parameters from ``(name, value)`` pairs."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            result[name] = value
            continue
        parts = re.findall(r"\[([^\[\]]*)\]", match.group(2))
        if len(parts) > MAX_DEPTH:
            raise InvalidInput(f"parameter {match.group(1)!r} nested deeper than {MAX_DEPTH} levels")
        _assign(result, match.group(1), parts, value)
    return result


def _assign(target: dict[str, Any], key: str, parts: list[str], value: str) -> None:
    if not parts:
        target[key] = value
        return
    head, rest = parts[0], parts[1:]
    if head == "":
        items = target.get(key)
        if not isinstance(items, list):
            items = target[key] = []
        if not rest:
            items.append(value)
            return
        # sources[][name]=A&sources[][token]=T: a new hash starts when the key repeats
        if not items or not isinstance(items[-1], dict) or _has_path(items[-1], rest):
            items.append({})
        _assign(items[-1], rest[0], rest[1:], value)
        return
    child = target.get(key)
    if not isinstance(child, dict):
        child = target[key] = {}
    _assign(child, head, rest, value)


def _has_path(target: dict[str, Any], parts: list[str]) -> bool:
    node: Any = target
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


async def read_body(request: Request, limit: int, idle: float | None = None) -> bytes:
    """Read the body, refusing more than ``limit`` bytes.

    :param idle: seconds the body may go without sending a byte (``None``: no limit): a
        client that stops half-way must not hold a worker's memory and a connection.
    :raises BodyTooLarge: the declared or actual length exceeds ``limit``.
    :raises BodyTimeout: no byte arrived for ``idle`` seconds.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _DRAIN:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    stream = request.stream()
    while True:
        try:
            with anyio.fail_after(idle):
                chunk = await anext(stream)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise BodyTimeout() from None
        size += len(chunk)
        if size > limit + _DRAIN:
            raise BodyTooLarge()
        if size <= limit:
            chunks.append(chunk)
    if size > limit:  # drained a little so that the client reads the 413 cleanly
        raise BodyTooLarge()
    body = b"".join(chunks)
    request._body = body  # lets Starlette's form parser re-read what was counted
    return body


async def read_params(request: Request, limit: int, idle: float | None = None) -> Params:
    """Merge query string and body parameters of ``request``.

    :param idle: seconds the body may go without a byte (:func:`read_body`).
    :raises BadBody: malformed JSON, a malformed ``cud`` part, or an unreadable form.
    :raises BodyTooLarge: see :func:`read_body`.
    :raises BodyTimeout: see :func:`read_body`.
    """
    query = request.scope.get("query_string", b"").decode("latin-1")  # request.url costs a URL build
    in_url = parse_nested(urllib.parse.parse_qsl(query, True))
    params = Params(values=dict(in_url), query=in_url)
    body = await read_body(request, limit, idle)
    if not body:
        return params
    params.has_body = True
    found = params.body
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("application/json"):
        found.update(_json_object(body))
    elif ctype.startswith("application/x-www-form-urlencoded"):
        text = body.decode("utf-8", "replace")
        found.update(parse_nested(urllib.parse.parse_qsl(text, True)))
        cud = found.pop("cud", None)
        if isinstance(cud, str):  # older clients post the push as a form field (§5.1)
            found.update(_json_object(cud.encode()))
    elif ctype.startswith("multipart/form-data"):
        await _read_multipart(request, params, limit)
        if not found and not params.uploads:  # a body no part of which parsed
            raise InvalidInput("multipart body without a readable part (check its boundary)")
    params.values.update(found)
    check(params.values)
    return params


def check(value: Any, depth: int = 0) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and text that is not valid Unicode.

    A lone surrogate (``"\\ud800"`` in JSON) is no character: it cannot be stored or sent
    on, so it is refused before any adapter runs.

    :raises InvalidInput: naming what is wrong.
    """
    stack = [(value, depth)]
    while stack:
        node, level = stack.pop()
        if level > MAX_DEPTH:
            raise InvalidInput(f"parameters nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, dict):
            for key, item in node.items():
                _check_text(str(key))
                stack.append((item, level + 1))
        elif isinstance(node, list):
            stack.extend((item, level + 1) for item in node)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"text that is not valid Unicode (a lone surrogate) in {text[:40]!r}") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadBody() from None
    except RecursionError:
        raise InvalidInput(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise BadBody()
    return value


async def _read_multipart(request: Request, params: Params, limit: int) -> None:
    try:
        form = await request.form(max_part_size=limit)
    except Exception as exc:  # the multipart parser's own errors: a broken body
        raise InvalidInput(f"multipart body does not parse (check its boundary): {exc}") from None
    try:
        fields: list[tuple[str, str]] = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                params.uploads[name] = Upload(
                    filename=value.filename or name,
                    content_type=value.content_type or "application/octet-stream",
                    data=data,
                )
            elif name == "cud":
                params.body.update(_json_object(value.encode()))
            else:
                fields.append((name, value))
        params.body.update(parse_nested(fields))
    finally:
        await form.close()
