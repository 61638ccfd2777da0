"""Build RhoConnect requests and parse replies: pure, no I/O, no database.

Everything here follows ``spec/protocol.md`` (layout 4 URLs, data format version 3) and
the replies of a real RhoConnect 7.8 server (``spec/captures``). A builder returns a
:class:`Call`: the :class:`WireRequest` to send and the parser for its 200 reply;
:class:`~rhom.sync.transport.Transport` sends it::

    page = transport.call(protocol.query("Product", client_id=cid, token="1"))

The parsers can be used alone too (:func:`parse_page`, :func:`parse_search_reply`,
:func:`parse_bulk_data_reply`, :func:`parse_client_create_reply`). A reply that does not
match the protocol raises :class:`~rhom.exceptions.ProtocolError` whose message names the
element at fault and whose ``response`` is the reply text.

How strict the parsers are (decisions for ``protocol.md`` §4.2 and §15):

* A page must be a JSON array whose **last** element is the command object; every
  element before it is a one-key header element. Header elements may be omitted (the C++
  client allows it) except ``version``: a missing ``version`` reads as 0 and raises
  :class:`~rhom.sync.errors.SyncVersionError`, as any version other than 3 does. Known
  header elements must come in the order of §4.2 and at most once; a page that ends on a
  header element has lost its command object (a truncated page) and is refused.
* Types are checked: counts are non-negative integers, ``token`` is ``""`` or a decimal
  string that fits in 64 bits, object ids, attribute names and values are strings
  (§1.9: the server never sends numbers, booleans or null as values).
* Unknown keys are tolerated, for servers newer than the spec: unknown command keys and
  unknown header elements are kept in :attr:`Page.extra` and otherwise ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from rhom.exceptions import ProtocolError, ValidationError
from rhom.sync.errors import SyncVersionError

T = TypeVar("T")
Objects = Mapping[str, Mapping[str, str]]

SYNC_VERSION = 3  #: the only data format version (§0.2)
DEFAULT_PAGE_SIZE = 2000  #: ``p_size`` of the C++ client
RUN_STARTED_TOKEN = 1  #: ``sources.token`` while a run waits for its first page (§4.4)
CLIENT_ID_HEADER = "X-RhoConnect-CLIENT-ID"
SESSION_COOKIE = "rhoconnect_session"

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


# -- requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobUpload:
    """A blob attribute uploaded as a file part of a push (§5.3).

    :param attrib: the local attribute name (no ``-rhoblob`` suffix).
    :param object_id: the object the attribute belongs to.
    :param path: the local file; the transport reads it when sending.
    """

    attrib: str
    object_id: str
    path: Path

    @property
    def field_name(self) -> str:
        """The multipart field name, ``<attrib>-<object_id>``."""
        return f"{self.attrib}-{self.object_id}"


@dataclass(frozen=True)
class WireRequest:
    """One HTTP request, described without sending it.

    :param method: ``GET`` or ``POST``.
    :param path: relative to the sync server's base URL (``app/v1/Product``); a path
        starting with ``/`` is taken from the server's root (bulk files), and an absolute
        ``http(s)://`` URL is used as is (blob downloads).
    :param query: the encoded query string, without ``?``.
    :param client_id: sent as the ``X-RhoConnect-CLIENT-ID`` header when set.
    :param json: the JSON body, ``None`` for an empty body; left out of ``repr`` because
        it may hold a password or user data.
    :param blobs: files to upload; when present the body is multipart, with the JSON as
        the last part, named ``cud``.
    """

    method: str
    path: str
    query: str = ""
    client_id: str | None = None
    json: Any = field(default=None, repr=False)
    blobs: tuple[BlobUpload, ...] = ()


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


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request together with the parser of its 200 reply.

    :param request: what to send.
    :param parse: turns the 200 reply into a result; raises ``ProtocolError``.
    :param source: the source name the call belongs to, put on raised errors.
    """

    request: WireRequest
    parse: Callable[[Reply], T]
    source: str | None = None


def _ignore_reply(reply: Reply) -> None:
    """Control routes answer 200 with an empty body (§1.3); there is nothing to read."""


def _push_reply(reply: Reply) -> None:
    """A push answers 200 with an empty body (§5.1). Anything else did not come from the
    sync server as it should (a captive portal's page, a cut or garbled reply): the
    push's fate is unknown."""
    if reply.content.strip():
        raise ProtocolError(f"push answered 200 with an unexpected body: {reply.content[:80]!r}", response=reply)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Join ``(key, value)`` pairs; keys come encoded, values are percent-encoded here."""
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in pairs)


def _encode_key(key: str) -> str:
    # Rack's brackets stay readable (query[city]=x, search[name]=x), as the C++ client sends them
    return quote(key, safe="[]")


def login(login: str, password: str) -> Call[str]:
    """Build the login request (§2.1); its result is the session cookie string.

    :param login: the user name.
    :param password: the password, possibly empty.
    """
    body = {"login": login, "password": password, "remember_me": 1}
    return Call(WireRequest("POST", "rc/v1/app/login", json=body), session_from_reply)


def client_create() -> Call[str]:
    """Build the request for a new client id (§3.2); its result is the client id."""
    return Call(WireRequest("POST", "rc/v1/clients"), lambda reply: parse_client_create_reply(reply.content))


def client_register(
    client_id: str,
    *,
    device_pin: str,
    device_type: str,
    device_push_type: str = "",
    device_app_id: str = "",
    device_app_version: str = "",
    phone_id: str = "",
    push_port: int = 100,
) -> Call[None]:
    """Build the device registration request (§3.3), for push notifications only.

    :param client_id: the client id, sent in the URL (not as a header).
    :param device_pin: the push token.
    :param device_type: the platform name, e.g. ``ANDROID``; the server accepts any string.
    :param device_push_type: the push service; ``rhoconnect`` is sent as ``rhoconnect_push``.
    :param device_app_id: the application id.
    :param device_app_version: the application version.
    :param phone_id: the device hardware id; left out when empty.
    :param push_port: sent as ``device_port``; 0 sends ``""``.
    """
    if device_push_type == "rhoconnect":
        device_push_type = "rhoconnect_push"
    body = {
        "device_pin": device_pin,
        "phone_id": phone_id,
        "device_port": str(push_port) if push_port else "",
        "device_type": device_type,
        "device_push_type": device_push_type,
        "device_app_id": device_app_id,
        "device_app_version": device_app_version,
    }
    if not phone_id:
        del body["phone_id"]
    return Call(
        WireRequest("POST", f"rc/v1/clients/{_segment(client_id)}/register", json=body),
        _ignore_reply,
    )


def client_unregister(client_id: str) -> Call[None]:
    """Build the unregister request sent at logout: a registration with blank fields (§3.4).

    :param client_id: the client id of the session being logged out.
    """
    return client_register(client_id, device_pin="", device_type="", push_port=0)


def client_reset(client_id: str, sources: Sequence[str] | None = None) -> Call[None]:
    """Build the client reset request (§3.5): the server forgets what this client holds.

    :param client_id: the client id, sent in the URL.
    :param sources: reset only these sources; ``None`` or empty resets all (empty body).
    """
    body = {"sources": [{"name": name} for name in sources]} if sources else None
    return Call(WireRequest("POST", f"rc/v1/clients/{_segment(client_id)}/reset", json=body), _ignore_reply)


def next_token(stored_token: int) -> str:
    """Return the ``token`` to send with the next query of a source (§4.4).

    rhom persists a page's token in the transaction that applies the page, and always
    sends the stored value: it acknowledges the page just applied, or, after a crash
    before the commit, no longer matches, so the server resends the outstanding page.
    Before the first page of a run the stored value is the run marker 1, which the server
    ignores when nothing is outstanding (live check L.1).

    :param stored_token: ``sources.token``: 0 (idle), 1 (run started) or the last token.
    """
    return str(max(stored_token, RUN_STARTED_TOKEN))


def query(
    source: str,
    *,
    client_id: str,
    page_size: int = DEFAULT_PAGE_SIZE,
    token: str | int | None = None,
    query_params: str | Mapping[str, str] | None = None,
) -> Call[Page]:
    """Build the request for one page of a source (§4.1); its result is a :class:`Page`.

    :param source: the source name.
    :param client_id: the client id, sent as a header.
    :param page_size: ``p_size``, the most objects per page.
    :param token: the acknowledgement (see :func:`next_token`); ``None`` sends none.
    :param query_params: extra parameters: a string is appended verbatim, a mapping is
        encoded. The server hands only ``query[...]`` keys to the adapter.
    """
    pairs = [("p_size", str(page_size)), ("version", str(SYNC_VERSION))]
    if token is not None:
        pairs.append(("token", str(token)))
    if isinstance(query_params, str):  # verbatim, except what a URL cannot carry
        extra = quote(query_params.lstrip("?&"), safe="!#$%&'()*+,/:;=?@[]~")
    else:
        extra = _encode_query((_encode_key(k), v) for k, v in (query_params or {}).items())
    query_string = "&".join(part for part in (_encode_query(pairs), extra) if part)
    request = WireRequest("GET", f"app/v1/{_segment(source)}", query_string, client_id)
    return Call(request, lambda reply: parse_page(reply.content, source=source), source)


def push(
    source: str,
    *,
    client_id: str,
    create: Objects | None = None,
    update: Objects | None = None,
    delete: Objects | None = None,
    blob_fields: Iterable[str] = (),
    blobs: Sequence[BlobUpload] = (),
) -> Call[None]:
    """Build the push of local changes (§5.1); multipart when ``blobs`` is given (§5.3).

    Empty sections are left out, objects are ordered by id, attributes keep their order.
    With no section at all the body holds only ``source_name`` and ``client_id``: the
    ``push_changes`` request. ``blob_fields`` is written once, with the attributes of
    ``blobs`` added.

    :param source: the source name.
    :param client_id: the client id, sent as header and in the body.
    :param create: ``{temp_id: {attr: value}}``, all non-NULL attributes.
    :param update: ``{object_id: {attr: value}}``, the changed attributes.
    :param delete: ``{object_id: {attr: value}}``, every attribute the object had.
    :param blob_fields: names of blob attributes among the values.
    :param blobs: files to upload; their values in the body are the local paths.
    :raises ValidationError: an id, attribute name or value is not a string.
    """
    body: dict[str, Any] = {"source_name": source, "client_id": client_id}
    for section, objects in (("create", create), ("update", update), ("delete", delete)):
        if objects:
            body[section] = _push_section(f"{source} {section}", objects)
    fields = sorted({*blob_fields, *(blob.attrib for blob in blobs)})
    if fields:
        body["blob_fields"] = fields
    request = WireRequest("POST", f"app/v1/{_segment(source)}", client_id=client_id, json=body, blobs=tuple(blobs))
    return Call(request, _push_reply, source)


def _push_section(where: str, objects: Objects) -> dict[str, dict[str, str]]:
    section = {}
    for object_id in sorted(objects, key=_require_str(where)):
        attributes = objects[object_id]
        for name, value in attributes.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ValidationError(
                    f"{where} {object_id!r}: attribute {name!r} must map a string to a "
                    f"string, got {type(value).__name__}"
                )
        section[object_id] = dict(attributes)
    return section


def _require_str(where: str) -> Callable[[object], str]:
    def key(object_id: object) -> str:
        if not isinstance(object_id, str):
            raise ValidationError(f"{where}: object id {object_id!r} is not a string")
        return object_id

    return key


def search(
    sources: Sequence[str],
    *,
    client_id: str,
    search_params: Mapping[str, str] | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    offset: int | None = None,
    max_results: int | None = None,
    from_: str = "search",
    tokens: Mapping[str, str] | None = None,
    resend: bool = False,
) -> Call[SearchReply]:
    """Build a search request (§6.2); its result is a :class:`SearchReply`.

    :param sources: the source names searched, in the order the reply follows.
    :param client_id: the client id, sent as a header.
    :param search_params: sent as ``search[key]=value``, handed to the adapter.
    :param page_size: ``p_size``, per source.
    :param offset: sent as ``offset`` when given (the standard server ignores it).
    :param max_results: sent as ``max_results`` when given (likewise).
    :param from_: the route under ``rc/v1/app/``.
    :param tokens: ``{source: token}`` acknowledging the previous round of this search.
    :param resend: ask the server to resend its last page (recovery, §6.5).
    """
    pairs = [("p_size", str(page_size)), ("version", str(SYNC_VERSION))]
    pairs += [
        (key, str(value)) for key, value in (("offset", offset), ("max_results", max_results)) if value is not None
    ]
    pairs += [(f"search[{_segment(key)}]", value) for key, value in (search_params or {}).items()]
    if resend:
        pairs.append(("resend", "1"))
    tokens = tokens or {}
    entries = [{"name": name, **({"token": tokens[name]} if name in tokens else {})} for name in sources]
    request = WireRequest(
        "POST",
        f"rc/v1/app/{_segment(from_)}",
        _encode_query(pairs),
        client_id,
        {"sources": entries} if entries else None,
    )
    return Call(request, lambda reply: parse_search_reply(reply.content, sources=sources))


def bulk_data(partition: str, sources: Sequence[str], *, client_id: str) -> Call[BulkReply]:
    """Build the bulk data request of one partition (§7.2); result: a :class:`BulkReply`.

    :param partition: ``user`` or ``app``.
    :param sources: every synced source, in priority order, whatever its partition.
    :param client_id: the client id, sent as a header.
    """
    body = {"partition": partition, "sources": list(sources)}
    request = WireRequest("POST", "rc/v1/app/bulk_data", client_id=client_id, json=body)
    return Call(request, lambda reply: parse_bulk_data_reply(reply.content))


def bulk_file(url: str, *, suffix: str = ".rzip") -> WireRequest:
    """Build the download of a ready bulk file (§7.4), from the server's root.

    :param url: the ``url`` of a :class:`BulkReply`, e.g. ``/data/application/a/a_1.data``.
    :param suffix: ``.rzip`` (a ZIP), ``.gzip`` (gzip) or ``""`` (the SQLite file).
    """
    return WireRequest("GET", "/" + url.lstrip("/") + suffix)


def blob_file(url: str, *, client_id: str) -> WireRequest:
    """Build the download of a blob (§8.2): ``client_id`` is appended to the URL.

    :param url: the absolute URL the server sent as a ``-rhoblob`` value.
    :param client_id: appended as the ``client_id`` query parameter.
    """
    base, _, existing = url.partition("?")
    extra = _encode_query([("client_id", client_id)])
    return WireRequest("GET", base, f"{existing}&{extra}" if existing else extra)


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
