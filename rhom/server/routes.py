"""One handler per protocol endpoint (protocol.md §1.2), shared by both URL layouts.

Handlers are plain functions of a :class:`~rhom.server._call.Call`; the pipeline in
``_call.py`` has already checked the session and the client id when the route needs them.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from starlette.responses import Response

from rhom.server import _http, live
from rhom.server._call import Call
from rhom.server._cud import InvalidPush, Limits, PushOverLimit, parse_push, process_push
from rhom.server._log import read_held
from rhom.server._state import partition_key
from rhom.server.adapters import LoginError, blob_key
from rhom.server.pages import Page, StaleClient, query_page

__all__ = [
    "blob",
    "client_create",
    "client_register",
    "client_reset",
    "delete_object",
    "live_events",
    "login",
    "push",
    "query",
    "refuse_url_credentials",
    "too_many_logins",
    "update_object",
]

DEVICE_FIELDS = (
    "device_type",
    "device_push_type",
    "device_pin",
    "device_port",
    "phone_id",
    "device_app_id",
    "device_app_version",
)
UNKNOWN_SOURCE = "Unknown source"

logger = logging.getLogger("rhom.server")


def login(call: Call) -> Response:
    """``POST /rc/v1/app/login`` (§2.2): authenticate, then a new session cookie.

    Failed logins are counted per account and address (rhom.server._throttle): past the
    limits, 429 with ``Retry-After``. A password in the URL is refused (400) unread.
    """
    call.cookie = None  # a login always starts logged out
    call.new_cookie = call.server.sessions.issue(None)
    refused = refuse_url_credentials(call)
    if refused is not None:
        return refused
    name = call.params.values.get("login")
    name = name if isinstance(name, str) else ""
    password = call.params.values.get("password")
    password = password if isinstance(password, str) else ""
    if not name:
        return _http.text(401, "Unable to authenticate ''")
    throttle = call.server.throttle
    locked = throttle.retry_after("app", name, call.address) if throttle else None
    if locked is not None:
        return too_many_logins(locked)
    authenticate = call.server.authenticate
    try:
        verdict: Any = authenticate(name, password) if authenticate else True
    except LoginError as exc:
        verdict, message = False, str(exc)
    except Exception:  # §2.2 step 3 answers 500; the message stays in the server's log
        logger.exception("rhom.server: authenticate(%r) raised", name)
        return _http.text(500, "Internal server error")
    else:
        message = f"Unable to authenticate '{name}'"
    if not verdict:
        if throttle:
            throttle.failed("app", name, call.address)
        return _http.text(401, message)
    user = verdict if isinstance(verdict, str) and verdict else name
    stamp = call.state.add_user(user)
    if throttle:
        throttle.succeeded("app", name, call.address)
    call.new_cookie = call.server.sessions.issue(user, stamp)
    return _http.empty()


def refuse_url_credentials(call: Call) -> Response | None:
    """The 400 for a password in the query string (which access logs keep), or ``None``."""
    if call.params.in_query("password"):
        return _http.text(400, "Send the login and password in the request body, not in the URL", _http.TEXT)
    return None


def too_many_logins(retry_after: int) -> Response:
    """429 with ``Retry-After``: a client sees error 2 with this message, and may retry."""
    reply = _http.text(429, "Too many failed logins: try again later", _http.TEXT)
    reply.headers["retry-after"] = str(retry_after)
    return reply


def _device_fields(call: Call) -> dict[str, str]:
    values = call.params.values
    return {f: str(values[f]) for f in DEVICE_FIELDS if isinstance(values.get(f), (str, int))}


def client_create(call: Call) -> Response:
    """``POST /rc/v1/clients`` (§3.2): a new 32-hex client id for the session's user."""
    client_id = secrets.token_hex(16)
    call.state.save_client(client_id, {"user": call.user, **_device_fields(call)})
    return _http.json_reply({"client": {"client_id": client_id}})


def client_register(call: Call) -> Response:
    """``POST /rc/v1/clients/{id}/register`` (§3.3): store device fields.

    The id comes from the header, the URL's path or the body (layout 3), never from the
    query string. An id the server never issued, or one of another user's clients, is
    ``Unknown client`` (RhoConnect creates a never-issued one: docs/protocol-decisions.md).
    """
    client_id = (
        call.request.headers.get("x-rhoconnect-client-id")
        or str(call.request.path_params.get("client_id", ""))
        or call.params.body_text("client_id")
    )
    if not client_id or len(client_id) > 128:
        return _http.text(500, _http.UNKNOWN_CLIENT)
    record = call.state.client(client_id)
    if record is None or record.get("user") != call.user:
        return _http.text(500, _http.UNKNOWN_CLIENT)
    record.update(_device_fields(call))
    call.state.save_client(client_id, record)
    return _http.empty()


def client_reset(call: Call) -> Response:
    """``POST /rc/v1/clients/{id}/reset`` (§3.5): forget the client's documents."""
    assert call.client_id is not None
    sources = call.params.values.get("sources")
    names: list[str] | None = None
    if isinstance(sources, list):
        names = [str(s["name"]) if isinstance(s, dict) and "name" in s else str(s) for s in sources]
    with call.state.client_lock(call.client_id):
        call.state.reset_client(call.client_id, names)
    return _http.empty()


def _source_name(call: Call) -> str:
    path_name = call.request.path_params.get("source")
    if path_name:  # layout 4: the path wins over any body value (§1.2)
        return str(path_name)
    return call.params.text("source_name")


def query(call: Call) -> Response:
    """``GET /app/v1/{Source}`` (§4): the next page for this client."""
    name = _source_name(call)
    adapter = call.adapter(name)
    if adapter is None:
        if not call.request.path_params.get("source"):
            return _http.text(500, UNKNOWN_SOURCE)
        error = {"source-error": {"query-error": {"message": UNKNOWN_SOURCE}}}
        page = Page("", 0, 0, error)
    else:
        p_size = page_size(call)
        token = call.params.text("token")
        try:
            page = query_page(call.caller(), adapter, token, p_size, call.params.values.get("query"))
        except StaleClient:  # offline longer than the log keeps history: start over
            return _http.text(500, _http.UNKNOWN_CLIENT)
    return _http.json_bytes(page.json(), page.headers())


def page_size(call: Call) -> int:
    """The request's ``p_size`` (``default_page_size`` when absent), at least 1 and at most
    ``max_page_size``: a page is built in memory, so no client decides how large."""
    settings = call.server.settings
    return max(1, min(call.params.number("p_size", settings.default_page_size), settings.max_page_size))


def _limits(call: Call) -> Limits:
    settings = call.server.settings
    return Limits(settings.max_object_id_length, settings.max_attribute_name_length)


def _max_errors(call: Call) -> int:
    return call.server.settings.max_error_entries


def push(call: Call) -> Response:
    """``POST /app/v1/{Source}`` (§5): run creates, updates and deletes."""
    adapter = call.adapter(_source_name(call))
    if adapter is None:
        return _http.text(500, UNKNOWN_SOURCE)
    try:
        body, blob_fields = parse_push(call.params.values, _limits(call))
    except InvalidPush:
        return _http.bad_body()
    except PushOverLimit as exc:
        return _http.text(400, str(exc), _http.TEXT)
    process_push(call.caller(), adapter, body, blob_fields, call.params.uploads, _max_errors(call))
    return _http.empty()


def update_object(call: Call) -> Response:
    """``PUT /app/v1/{Source}/{id}`` (§5.5): body ``{"update": {attrs}}``."""
    adapter = call.adapter(_source_name(call))
    if adapter is None:
        return _http.text(500, UNKNOWN_SOURCE)
    object_id = str(call.request.path_params["object_id"])
    try:
        body, _ = parse_push({"update": {object_id: call.params.values.get("update") or {}}}, _limits(call))
    except InvalidPush:
        return _http.bad_body()
    except PushOverLimit as exc:
        return _http.text(400, str(exc), _http.TEXT)
    process_push(call.caller(), adapter, body, [], {}, _max_errors(call))
    return _http.empty()


def delete_object(call: Call) -> Response:
    """``DELETE /app/v1/{Source}/{id}`` (§5.5): delete with the values the client holds."""
    adapter = call.adapter(_source_name(call))
    if adapter is None:
        return _http.text(500, UNKNOWN_SOURCE)
    assert call.client_id is not None
    object_id = str(call.request.path_params["object_id"])
    try:
        parse_push({"delete": {object_id: {}}}, _limits(call))
    except PushOverLimit as exc:
        return _http.text(400, str(exc), _http.TEXT)
    caller = call.caller()
    cs = call.state.client_state(call.client_id, adapter.name)
    held = read_held(call.state, caller.log(adapter), cs, [object_id])
    body = {"delete": {object_id: held.get(object_id, {})}}
    process_push(caller, adapter, body, [], {}, _max_errors(call))
    return _http.empty()


def blob(call: Call) -> Response:
    """``GET /rc/v1/blobs/{name}``: a file saved by ``SourceAdapter.save_blob`` (§8)."""
    name = str(call.request.path_params["name"])
    assert call.user is not None
    # the caller's own partition, then the shared one: never another user's files
    mine, shared = call.state.store.get_many([blob_key(partition_key("user", call.user), name), blob_key("app", name)])
    data = mine if mine is not None else shared
    if data is None:
        return _http.text(404, "Not Found", _http.TEXT)
    response = Response(data, status_code=200)
    response.headers["content-type"] = "application/octet-stream"
    return response


def live_events(call: Call) -> Response:
    """``GET /rc/v1/app/live``: the live channel, server-sent events until the client leaves.

    Resumes after the ``Last-Event-ID`` header (or ``last_event_id`` parameter). A user
    or client id that already keeps its share of this process's streams open gets 429.
    """
    assert call.session is not None and call.client_id is not None
    settings, hub = call.server.settings, call.server.hub
    user, client_id = call.session.login, call.client_id
    full = hub.reserve(
        user, client_id, per_user=settings.live_streams_per_user, per_client=settings.live_streams_per_client
    )
    if full is not None:
        reply = _http.text(429, f"Too many live streams open for this {full}", _http.TEXT)
        reply.headers["retry-after"] = str(int(live.KEEPALIVE))
        return reply
    last = call.request.headers.get("last-event-id") or call.params.text("last_event_id")
    return live.LiveResponse(
        hub.stream(call.session, last or None),
        lambda: hub.release(user, client_id),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
