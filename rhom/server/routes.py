"""One handler per protocol endpoint (protocol.md §1.2), shared by both URL layouts.

Handlers are plain functions of a :class:`~rhom.server._call.Call`; the pipeline in
``_call.py`` has already checked the session and the client id when the route needs them.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response, StreamingResponse

from rhom.server import _http
from rhom.server._call import Call
from rhom.server._cud import InvalidPush, parse_push, process_push
from rhom.server._log import read_held
from rhom.server._state import partition_key, q
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


def login(call: Call) -> Response:
    """``POST /rc/v1/app/login`` (§2.2): authenticate, then a new session cookie."""
    call.cookie = None  # a login always starts logged out
    name = call.params.values.get("login")
    name = name if isinstance(name, str) else ""
    password = call.params.values.get("password")
    password = password if isinstance(password, str) else ""
    call.new_cookie = call.server.sessions.issue(None)
    if not name:
        return _http.text(401, "Unable to authenticate ''")
    authenticate = call.server.authenticate
    try:
        verdict: Any = authenticate(name, password) if authenticate else True
    except LoginError as exc:
        return _http.text(401, str(exc))
    except Exception as exc:  # §2.2 step 3: any other failure is a 500 with its message
        return _http.text(500, str(exc))
    if not verdict:
        return _http.text(401, f"Unable to authenticate '{name}'")
    user = verdict if isinstance(verdict, str) and verdict else name
    call.state.add_user(user)
    call.new_cookie = call.server.sessions.issue(user)
    return _http.empty()


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

    An id the server never issued is created for the session's user (as the real server
    does); an id of another user's client is ``Unknown client``.
    """
    client_id = (
        call.request.headers.get("x-rhoconnect-client-id")
        or str(call.request.path_params.get("client_id", ""))
        or call.params.text("client_id")
    )
    if not client_id or len(client_id) > 128:
        return _http.text(500, _http.UNKNOWN_CLIENT)
    record = call.state.client(client_id) or {"user": call.user}
    if record.get("user") != call.user:
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
    with call.state.store.lock("c:" + q(call.client_id)):
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
        p_size = max(1, call.params.number("p_size", call.server.settings.default_page_size))
        token = call.params.text("token")
        try:
            page = query_page(call.caller(), adapter, token, p_size, call.params.values.get("query"))
        except StaleClient:  # offline longer than the log keeps history: start over
            return _http.text(500, _http.UNKNOWN_CLIENT)
    return _http.json_bytes(page.json(), page.headers())


def push(call: Call) -> Response:
    """``POST /app/v1/{Source}`` (§5): run creates, updates and deletes."""
    adapter = call.adapter(_source_name(call))
    if adapter is None:
        return _http.text(500, UNKNOWN_SOURCE)
    try:
        body, blob_fields = parse_push(call.params.values)
    except InvalidPush:
        return _http.bad_body()
    process_push(call.caller(), adapter, body, blob_fields, call.params.uploads)
    return _http.empty()


def update_object(call: Call) -> Response:
    """``PUT /app/v1/{Source}/{id}`` (§5.5): body ``{"update": {attrs}}``."""
    adapter = call.adapter(_source_name(call))
    if adapter is None:
        return _http.text(500, UNKNOWN_SOURCE)
    object_id = str(call.request.path_params["object_id"])
    try:
        body, _ = parse_push({"update": {object_id: call.params.values.get("update") or {}}})
    except InvalidPush:
        return _http.bad_body()
    process_push(call.caller(), adapter, body, [], {})
    return _http.empty()


def delete_object(call: Call) -> Response:
    """``DELETE /app/v1/{Source}/{id}`` (§5.5): delete with the values the client holds."""
    adapter = call.adapter(_source_name(call))
    if adapter is None:
        return _http.text(500, UNKNOWN_SOURCE)
    assert call.client_id is not None
    object_id = str(call.request.path_params["object_id"])
    caller = call.caller()
    cs = call.state.client_state(call.client_id, adapter.name)
    held = read_held(call.state, caller.log(adapter), cs, [object_id])
    body = {"delete": {object_id: held.get(object_id, {})}}
    process_push(caller, adapter, body, [], {})
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

    Resumes after the ``Last-Event-ID`` header (or ``last_event_id`` parameter).
    """
    assert call.user is not None
    last = call.request.headers.get("last-event-id") or call.params.text("last_event_id")
    return StreamingResponse(
        call.server.hub.stream(call.user, last or None),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
