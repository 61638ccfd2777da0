"""Parse RhoConnect replies (protocol.md §4.2, §6, §7, §2): pure, no I/O, no database.

Used by :mod:`rhom.sync.protocol`, which builds the requests and re-exports everything
public here; see its docstring for how strict the parsers are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rhom.exceptions import ProtocolError
from rhom.sync.errors import SyncVersionError

Objects = Mapping[str, Mapping[str, str]]

SYNC_VERSION = 3  #: the only data format version (§0.2)

_MAX_TOKEN = 2**64 - 1
_HEADER_KEYS = tuple("version token source count refresh_time progress_count total_count".split())
_RANK = {key: rank for rank, key in enumerate(_HEADER_KEYS)}
_OBJECT_ERROR_KEYS = ("create-error", "update-error", "delete-error")
_COMMAND_KEYS = frozenset(
    ["insert", "delete", "links", "metadata", "schema-changed", "source-error", "search-error",
     "update-rollback", *_OBJECT_ERROR_KEYS]
)  # fmt: skip
_BULK_RESULTS = frozenset({"wait", "url", "nop"})
_DIGITS = re.compile(r"[0-9]+")


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Reply:
    """A reply as the parsers see it: status, headers in wire order, body bytes."""

    status_code: int
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the first header called ``name`` (case-insensitive), or ``None``."""
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        """Return every header called ``name`` (case-insensitive), in wire order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def text(self) -> str:
        """The body decoded as UTF-8, undecodable bytes replaced."""
        return self.content.decode("utf-8", errors="replace")


# -- replies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectError:
    """A create, update or delete the server's adapter refused (§5.8).

    :param message: the adapter's error text.
    :param attributes: the attributes as pushed.
    """

    message: str
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class Page:
    """One page of a query (§4.2–4.3) or of a search reply (§6.3), parsed and typed.

    Header elements: ``version``, ``token`` (``""`` when the run is up to date),
    ``count``, ``progress_count``, ``total_count`` and ``refresh_time`` (``None`` when
    absent), ``source`` (search pages). Command object: ``insert`` and ``delete``
    (``{object_id: {attr: value}}``), ``links`` (``{temp_id: server_id}``), ``metadata``
    (the JSON string as sent), ``schema_changed``, ``source_errors`` and
    ``search_errors`` (``{"query-error": message, ...}`` in wire order), ``create_errors``,
    ``update_errors``, ``delete_errors`` (``{object_id: ObjectError}``),
    ``update_rollback`` (``{object_id: {attr: value}}``), and ``extra``: unknown keys.
    """

    version: int = SYNC_VERSION
    token: str = ""
    count: int = 0
    progress_count: int = 0
    total_count: int | None = None
    refresh_time: int | None = None
    source: str | None = None
    insert: Mapping[str, Mapping[str, str]] = field(default_factory=_frozen)
    delete: Mapping[str, Mapping[str, str]] = field(default_factory=_frozen)
    links: Mapping[str, str] = field(default_factory=_frozen)
    metadata: str | None = None
    schema_changed: bool = False
    source_errors: Mapping[str, str] = field(default_factory=_frozen)
    search_errors: Mapping[str, str] = field(default_factory=_frozen)
    create_errors: Mapping[str, ObjectError] = field(default_factory=_frozen)
    update_errors: Mapping[str, ObjectError] = field(default_factory=_frozen)
    delete_errors: Mapping[str, ObjectError] = field(default_factory=_frozen)
    update_rollback: Mapping[str, Mapping[str, str]] = field(default_factory=_frozen)
    extra: Mapping[str, Any] = field(default_factory=_frozen)

    @property
    def token_value(self) -> int:
        """The token as the integer ``sources.token`` stores; 0 for ``""``."""
        return int(self.token) if self.token else 0

    @property
    def is_last(self) -> bool:
        """True when the page has no token: the source is up to date, the run ends (§4.4).

        Its ``insert``/``delete``/``links`` are empty, but it may still carry
        ``total_count``, errors and metadata, which must be applied.
        """
        return self.token_value == 0

    @property
    def has_server_errors(self) -> bool:
        """True when the page reports adapter errors (notification code 8, §5.8)."""
        errors = (
            self.source_errors,
            self.search_errors,
            self.create_errors,
            self.update_errors,
            self.delete_errors,
            self.update_rollback,
        )
        return any(errors)

    def server_errors(self) -> dict[str, Any]:
        """Return the errors in the notification's ``server_errors`` shape (§5.8).

        ``source-error`` and ``search-error`` contribute their first entry only, keyed
        by its inner name; object errors become ``{object_id: {"message", "attributes"}}``
        and rollbacks ``{object_id: {"attributes"}}``.
        """
        result: dict[str, Any] = {}
        for errors in (self.source_errors, self.search_errors):
            for kind, message in list(errors.items())[:1]:
                result[kind] = {"message": message}
        object_errors = (self.create_errors, self.update_errors, self.delete_errors)
        for key, errors_of_kind in zip(_OBJECT_ERROR_KEYS, object_errors, strict=True):
            if errors_of_kind:
                result[key] = {
                    oid: {"message": err.message, "attributes": dict(err.attributes)}
                    for oid, err in errors_of_kind.items()
                }
        if self.update_rollback:
            result["update-rollback"] = {
                oid: {"attributes": dict(attributes)} for oid, attributes in self.update_rollback.items()
            }
        return result


@dataclass(frozen=True)
class SearchReply:
    """A search reply (§6.3): one entry per requested source, ``None`` for ``[]``."""

    pages: tuple[Page | None, ...] = ()

    @property
    def count(self) -> int:
        """Objects in this round, over all sources; 0 ends the search (§6.5)."""
        return sum(page.count for page in self.pages if page is not None)

    @property
    def tokens(self) -> dict[str, str]:
        """``{source: token}`` to acknowledge in the next round's request."""
        return {page.source: page.token for page in self.pages if page is not None and page.source and page.token}


@dataclass(frozen=True)
class BulkReply:
    """A bulk data reply (§7.3).

    :param result: ``wait`` (ask again later), ``nop`` (nothing for this partition) or
        ``url`` (a file is ready, or failed to build when ``url`` is empty).
    :param url: the file's path on the server, for ``url`` results.
    """

    result: str
    url: str | None = None

    @property
    def is_ready(self) -> bool:
        """True when a file can be downloaded from :attr:`url`."""
        return self.result == "url" and bool(self.url)

    @property
    def is_error(self) -> bool:
        """True for ``url`` with an empty url: a source of the bundle failed."""
        return self.result == "url" and not self.url


def _fail(where: str, problem: str, content: object, source: str | None = None) -> ProtocolError:
    return ProtocolError(f"{where}: {problem}", source=source, response=content)


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_json(content: bytes | str, where: str, source: str | None) -> Any:
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
    except UnicodeDecodeError as exc:
        raise _fail(where, f"body is not UTF-8 ({exc.reason})", content, source) from exc
    stripped = text.strip()
    if not stripped:
        raise _fail(where, "empty body, expected JSON", text, source)
    if stripped.startswith("<"):
        raise _fail(where, f"expected JSON, got HTML or XML: {_show(stripped)}", text, source)
    try:
        return json.loads(stripped)
    except ValueError as exc:
        raise _fail(where, f"not valid JSON (truncated?): {exc}", text, source) from exc


class _Reader:
    """Checks the parts of one decoded reply, naming the part at fault."""

    def __init__(self, where: str, content: object, source: str | None) -> None:
        self.where, self.content, self.source = where, content, source

    def fail(self, problem: str) -> ProtocolError:
        return _fail(self.where, problem, self.content, self.source)

    def string(self, what: str, value: object) -> str:
        if not isinstance(value, str):
            raise self.fail(f"{what}: expected a string, got {_show(value)}")
        return value

    def count(self, what: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"{what}: expected a non-negative integer, got {_show(value)}")
        return value

    def mapping(self, what: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{what}: expected an object, got {_show(value)}")
        return value

    def attributes(self, what: str, value: object) -> dict[str, str]:
        attributes = self.mapping(what, value)
        for name, attr_value in attributes.items():
            self.string(f"{what}[{name!r}]", attr_value)
        return attributes

    def objects(self, what: str, value: object) -> Mapping[str, Mapping[str, str]]:
        return _frozen(
            {oid: self.attributes(f"{what}[{oid!r}]", attrs) for oid, attrs in self.mapping(what, value).items()}
        )


def parse_page(content: bytes | str, *, source: str | None = None) -> Page:
    """Parse a query page (§4.2): a JSON array of header elements and a command object.

    :param content: the reply body.
    :param source: the source asked for; named in error messages and set on errors.
    :raises SyncVersionError: the ``version`` element is missing or not 3.
    :raises ProtocolError: anything else that does not match the protocol.
    """
    where = f"{source} page" if source else "page"
    return _parse_page_doc(_load_json(content, where, source), _Reader(where, content, source))


def _parse_page_doc(doc: object, reader: _Reader) -> Page:
    if not isinstance(doc, list):
        raise reader.fail(f"expected a JSON array, got {_show(doc)}")
    if not doc:
        raise reader.fail("empty array: no version, no command object")
    headers, extra = _header_elements(doc[:-1], reader)
    command = reader.mapping("command object (last element)", doc[-1])
    if len(command) == 1 and next(iter(command)) in _RANK:
        raise reader.fail(
            f"ends with header element {next(iter(command))!r}: the command object is missing (truncated page?)"
        )
    _check_version(headers, reader)
    return Page(
        **_typed_headers(headers, reader),
        **_command(command, reader),
        extra=_frozen({**extra, **{k: v for k, v in command.items() if k not in _COMMAND_KEYS}}),
    )


def _header_elements(elements: list[Any], reader: _Reader) -> tuple[dict[str, Any], dict[str, Any]]:
    headers: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    last_rank = -1
    for index, element in enumerate(elements):
        if not isinstance(element, dict) or len(element) != 1:
            raise reader.fail(f"element {index}: expected an object with one key, got {_show(element)}")
        ((key, value),) = element.items()
        if key not in _RANK:
            extra[key] = value
            continue
        if _RANK[key] <= last_rank:
            raise reader.fail(
                f"element {index}: {key!r} is repeated or out of order; expected the order {', '.join(_HEADER_KEYS)}"
            )
        headers[key], last_rank = value, _RANK[key]
    return headers, extra


def _check_version(headers: dict[str, Any], reader: _Reader) -> None:
    if "version" not in headers:
        raise SyncVersionError(
            f"{reader.where}: no 'version' element (expected version {SYNC_VERSION})",
            source=reader.source,
            response=reader.content,
        )
    version = reader.count("'version'", headers["version"])
    if version != SYNC_VERSION:
        raise SyncVersionError(
            f"{reader.where}: data format version {version}, expected {SYNC_VERSION}",
            version=version,
            source=reader.source,
            response=reader.content,
        )


def _typed_headers(headers: dict[str, Any], reader: _Reader) -> dict[str, Any]:
    typed: dict[str, Any] = {"version": headers["version"]}
    token = reader.string("'token'", headers.get("token", ""))
    if token and (not _DIGITS.fullmatch(token) or int(token) > _MAX_TOKEN):
        raise reader.fail(f"'token': expected \"\" or a 64-bit decimal string, got {_show(token)}")
    typed["token"] = token
    for key in ("count", "progress_count", "total_count", "refresh_time"):
        if key in headers:
            typed[key] = reader.count(repr(key), headers[key])
    if "source" in headers:
        typed["source"] = reader.string("'source'", headers["source"])
    return typed


def _command(command: dict[str, Any], reader: _Reader) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, name in (
        ("insert", "insert"),
        ("delete", "delete"),
        ("update-rollback", "update_rollback"),
    ):
        if key in command:
            parsed[name] = reader.objects(repr(key), command[key])
    if "links" in command:
        parsed["links"] = _links(command["links"], reader)
    if "metadata" in command:
        parsed["metadata"] = reader.string("'metadata'", command["metadata"])
    if "schema-changed" in command:
        parsed["schema_changed"] = _schema_changed(command["schema-changed"], reader)
    for key in ("source-error", "search-error"):
        if key in command:
            parsed[key.replace("-", "_") + "s"] = _op_errors(repr(key), command[key], reader)
    for key in _OBJECT_ERROR_KEYS:
        if key in command:
            parsed[key.replace("-", "_") + "s"] = _object_errors(repr(key), command[key], reader)
    return parsed


def _links(value: object, reader: _Reader) -> Mapping[str, str]:
    links = {}
    for temp_id, link in reader.mapping("'links'", value).items():
        target = reader.mapping(f"'links'[{temp_id!r}]", link)
        links[temp_id] = reader.string(f"'links'[{temp_id!r}]['l']", target.get("l"))
    return _frozen(links)


def _schema_changed(value: object, reader: _Reader) -> bool:
    if value not in ("true", True):
        raise reader.fail(f"'schema-changed': expected \"true\", got {_show(value)}")
    return True


def _message(what: str, value: object, reader: _Reader) -> str:
    return reader.string(f"{what}['message']", reader.mapping(what, value).get("message"))


def _op_errors(what: str, value: object, reader: _Reader) -> Mapping[str, str]:
    return _frozen(
        {kind: _message(f"{what}[{kind!r}]", entry, reader) for kind, entry in reader.mapping(what, value).items()}
    )


def _object_errors(what: str, value: object, reader: _Reader) -> Mapping[str, ObjectError]:
    # Entries come in pairs, in any order (A.32): "<id>": attributes, "<id>-error": message.
    messages: dict[str, str] = {}
    attributes: dict[str, dict[str, str]] = {}
    entries = reader.mapping(what, value)
    for key, entry in entries.items():
        oid = key.removesuffix("-error")
        if oid != key and (oid in entries or isinstance(entry, dict) and "message" in entry):
            messages[oid] = _message(f"{what}[{key!r}]", entry, reader)
        else:
            attributes[key] = reader.attributes(f"{what}[{key!r}]", entry)
    return _frozen(
        {
            oid: ObjectError(messages.get(oid, ""), _frozen(attributes.get(oid)))
            for oid in dict.fromkeys([*attributes, *messages])
        }
    )


def parse_search_reply(content: bytes | str, *, sources: Sequence[str] | None = None) -> SearchReply:
    """Parse a search reply (§6.3): an array with one page or ``[]`` per source.

    :param content: the reply body.
    :param sources: the sources searched; a page naming another source is refused.
    :raises SyncVersionError: a page's ``version`` is missing or not 3.
    :raises ProtocolError: anything else that does not match the protocol, including a
        page without its ``source`` element.
    """
    doc = _load_json(content, "search reply", None)
    reader = _Reader("search reply", content, None)
    if not isinstance(doc, list):
        raise reader.fail(f"expected a JSON array, got {_show(doc)}")
    pages: list[Page | None] = []
    for index, element in enumerate(doc):
        if element == []:
            pages.append(None)
            continue
        page = _parse_page_doc(element, _Reader(f"search reply element {index}", content, None))
        if page.source is None or (sources is not None and page.source not in sources):
            raise reader.fail(f"element {index}: 'source' {_show(page.source)} is not one of the sources searched")
        pages.append(page)
    return SearchReply(tuple(pages))


def parse_bulk_data_reply(content: bytes | str) -> BulkReply:
    """Parse a bulk data reply (§7.3): ``{"result": "wait" | "nop" | "url", "url": ...}``.

    :param content: the reply body.
    :raises ProtocolError: not such an object, or an unknown result.
    """
    reader = _Reader("bulk_data reply", content, None)
    doc = reader.mapping("body", _load_json(content, reader.where, None))
    result = reader.string("'result'", doc.get("result"))
    if result not in _BULK_RESULTS:
        raise reader.fail(f"'result': expected wait, url or nop, got {_show(result)}")
    if result != "url":
        return BulkReply(result)
    return BulkReply(result, reader.string("'url'", doc.get("url")))


def parse_client_create_reply(content: bytes | str) -> str:
    """Parse the clientcreate reply ``{"client": {"client_id": ...}}`` (§3.2).

    :param content: the reply body.
    :raises ProtocolError: no ``client.client_id``, or an empty one (Rhodes error 4).
    """
    reader = _Reader("clientcreate reply", content, None)
    doc = reader.mapping("body", _load_json(content, reader.where, None))
    client = reader.mapping("'client'", doc.get("client"))
    client_id = reader.string("'client'['client_id']", client.get("client_id"))
    if not client_id.strip():
        raise reader.fail("'client'['client_id'] is empty")
    return client_id


def session_from_set_cookie(set_cookie: Iterable[str]) -> str:
    """Build the stored session string from a login reply's ``Set-Cookie`` values (§1.5).

    Like the C++ client, every cookie's ``name=value`` pair is kept, each followed by
    ``;`` (``rhoconnect_session=BAh7...--5d1c;``); attributes such as ``path`` and
    ``expires`` are dropped. The string is replayed verbatim as the ``Cookie`` header.

    :param set_cookie: the ``Set-Cookie`` header values.
    :raises ProtocolError: there is no cookie (Rhodes error 4).
    """
    pairs = [value.split(";", 1)[0].strip() for value in set_cookie]
    session = "".join(f"{pair};" for pair in pairs if "=" in pair and pair.split("=", 1)[0])
    if not session:
        raise ProtocolError("login reply: 200 without a session cookie (no Set-Cookie)")
    return session


def session_from_reply(reply: Reply) -> str:
    """Return the session string of a 200 login reply (§2.3), see :func:`session_from_set_cookie`.

    :param reply: the login reply.
    :raises ProtocolError: the reply sets no cookie.
    """
    return session_from_set_cookie(reply.header_list("set-cookie"))
