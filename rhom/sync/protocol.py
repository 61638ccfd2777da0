"""Build RhoConnect requests; their reply parsers live in ``_replies`` and are re-exported here.

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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from rhom.exceptions import ProtocolError, ValidationError
from rhom.sync._replies import (
    SYNC_VERSION,
    BulkReply,
    ObjectError,
    Objects,
    Page,
    Reply,
    SearchReply,
    parse_bulk_data_reply,
    parse_client_create_reply,
    parse_page,
    parse_search_reply,
    session_from_reply,
    session_from_set_cookie,
)

__all__ = [
    "CLIENT_ID_HEADER",
    "DEFAULT_PAGE_SIZE",
    "RUN_STARTED_TOKEN",
    "SESSION_COOKIE",
    "SYNC_VERSION",
    "BlobUpload",
    "BulkReply",
    "Call",
    "ObjectError",
    "Objects",
    "Page",
    "Reply",
    "SearchReply",
    "WireRequest",
    "blob_file",
    "bulk_data",
    "bulk_file",
    "client_create",
    "client_register",
    "live_events",
    "client_reset",
    "client_unregister",
    "login",
    "next_token",
    "parse_bulk_data_reply",
    "parse_client_create_reply",
    "parse_page",
    "parse_search_reply",
    "push",
    "query",
    "search",
    "session_from_reply",
    "session_from_set_cookie",
]

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 2000  #: ``p_size`` of the C++ client
RUN_STARTED_TOKEN = 1  #: ``sources.token`` while a run waits for its first page (§4.4)
CLIENT_ID_HEADER = "X-RhoConnect-CLIENT-ID"
SESSION_COOKIE = "rhoconnect_session"

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


def query_key(key: Any) -> str:
    """``brand`` -> ``query[brand]``; ``query[brand]`` stays as it is."""
    text = str(key)
    if text.startswith("query[") and text.endswith("]"):
        return text
    if not text or "[" in text or "]" in text:
        raise ValidationError(f"query_params: key {key!r} is not a plain name (it is sent as query[<name>])")
    return f"query[{text}]"


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


def live_events(client_id: str) -> WireRequest:
    """The live channel of ``client_id``: server-sent events (rhom.server; not RhoConnect)."""
    return WireRequest("GET", "rc/v1/app/live", client_id=client_id)


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
    :param query_params: extra parameters for the adapter: a string is appended
        verbatim; a mapping's keys are sent as ``query[key]`` (a key already written
        ``query[...]`` is kept), which is what the server hands to the adapter.
    """
    pairs = [("p_size", str(page_size)), ("version", str(SYNC_VERSION))]
    if token is not None:
        pairs.append(("token", str(token)))
    if isinstance(query_params, str):  # verbatim, except what a URL cannot carry
        extra = quote(query_params.lstrip("?&"), safe="!#$%&'()*+,/:;=?@[]~")
    else:
        extra = _encode_query((_encode_key(query_key(k)), v) for k, v in (query_params or {}).items())
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
