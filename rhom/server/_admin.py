"""The admin API subset needed to reset and inspect a server (protocol.md §1.4, §13).

Every route except ``system/login`` needs the ``X-RhoConnect-API-TOKEN`` header (not a
query parameter, which access logs would record); a missing token answers 422
``No API token provided``, a wrong one 422 ``Invalid/missing API user``, as RhoConnect
does.
"""

from __future__ import annotations

import hmac

from starlette.responses import Response

from rhom.server import _http, live
from rhom.server._call import Call
from rhom.server._log import log_name, read_all, read_client_view
from rhom.server._state import partition_key
from rhom.server.routes import refuse_url_credentials, too_many_logins
from rhom.server.settings import DEV_API_TOKEN

__all__ = [
    "client_doc",
    "client_docnames",
    "client_info",
    "delete_client",
    "delete_user",
    "ping",
    "read_state",
    "require_token",
    "sign_out",
    "source_doc",
    "source_docnames",
    "stats",
    "store_doc",
    "system_login",
    "system_reset",
    "user_clients",
    "user_info",
    "users",
]

ADMIN_USER = "rhoadmin"


def require_token(call: Call) -> Response | None:
    """``None`` when the request carries the API token, else the 422 reply."""
    token = call.request.headers.get("x-rhoconnect-api-token")
    if not token:
        return _http.text(422, "No API token provided")
    if not hmac.compare_digest(token.encode(), call.server.settings.api_token.encode()):
        return _http.text(422, "Invalid/missing API user")
    return None


def system_login(call: Call) -> Response:
    """``POST /rc/v1/system/login``: the API token for ``rhoadmin`` and its password.

    An empty admin password opens this route only while the API token is the
    development one: a configured token must be configured, or fetched with a configured
    password, never had for an empty one (production mode or not). Failed attempts count
    against the ``rhoadmin`` account and the caller's address, as app logins do.
    """
    settings = call.server.settings
    call.new_cookie = call.server.sessions.issue(None)
    refused = refuse_url_credentials(call)
    if refused is not None:
        return refused
    name = call.params.text("login")
    password = call.params.text("password")
    throttle = call.server.throttle
    locked = throttle.retry_after("admin", name, call.address) if throttle else None
    if locked is not None:
        return too_many_logins(locked)
    allowed = bool(settings.admin_password) or settings.api_token == DEV_API_TOKEN
    if (
        not allowed
        or name != ADMIN_USER
        or not hmac.compare_digest(password.encode(), settings.admin_password.encode())
    ):
        if throttle:
            throttle.failed("admin", name, call.address)
        return _http.text(401, f"Unable to authenticate '{name}'")
    if throttle:
        throttle.succeeded("admin", name, call.address)
    call.new_cookie = call.server.sessions.issue(ADMIN_USER)
    return _http.text(200, settings.api_token)


def _admin(call: Call) -> Response | None:
    refused = require_token(call)
    if refused is not None:
        return refused
    return None


def system_reset(call: Call) -> Response:
    """``POST /rc/v1/system/reset``: forget every user, client and document."""
    refused = _admin(call)
    if refused is not None:
        return refused
    call.state.store.flush()
    call.state.cache.clear()
    return _http.text(200, "DB reset")


def users(call: Call) -> Response:
    """``GET /rc/v1/users``: the user names; ``POST`` with ``attributes[login]`` adds one."""
    refused = _admin(call)
    if refused is not None:
        return refused
    if call.request.method == "POST":
        attributes = call.params.values.get("attributes")
        login = attributes.get("login") if isinstance(attributes, dict) else None
        if not isinstance(login, str) or not login:
            return _http.text(500, "Missing user login")
        call.state.add_user(login)
        return _http.text(200, "User created")
    return _http.json_reply(call.state.users())


def _known_user(call: Call) -> str | Response:
    """The ``user_id`` path parameter, or the 404 reply when no such user exists."""
    user = str(call.request.path_params["user_id"])
    if not call.state.user_exists(user):
        return _http.text(404, "Unknown user")
    return user


def delete_user(call: Call) -> Response:
    """``DELETE /rc/v1/users/{user_id}``: the user, its clients and its documents."""
    refused = _admin(call)
    if refused is not None:
        return refused
    user = _known_user(call)
    if isinstance(user, Response):
        return user
    call.state.delete_user(user)
    live.revoke(call.server, user)  # its open live streams end with its sessions
    return _http.text(200, "User deleted")


def sign_out(call: Call) -> Response:
    """``DELETE /rc/v1/users/{user_id}/sessions``: sign the user out everywhere.

    Every session cookie the user holds stops working (its clients get 401 and log in
    again) and its open live streams end; its clients and data stay. 404 for an
    unknown user. rhom's own route: RhoConnect has no way to revoke a session.
    """
    refused = _admin(call)
    if refused is not None:
        return refused
    user = _known_user(call)
    if isinstance(user, Response):
        return user
    call.state.revoke_sessions(user)
    live.revoke(call.server, user)
    return _http.text(200, "Sessions revoked")


def user_clients(call: Call) -> Response:
    """``GET /rc/v1/users/{user_id}/clients``: the user's client ids."""
    refused = _admin(call)
    if refused is not None:
        return refused
    return _http.json_reply(call.state.client_ids(str(call.request.path_params["user_id"])))


def client_info(call: Call) -> Response:
    """``GET /rc/v1/clients/{client_id}``: the client's attributes as name/value/type."""
    refused = _admin(call)
    if refused is not None:
        return refused
    record = call.state.client(str(call.request.path_params["client_id"]))
    if record is None:
        return _http.text(500, _http.UNKNOWN_CLIENT)
    return _http.json_reply([{"name": k, "value": str(v), "type": "string"} for k, v in sorted(record.items())])


def delete_client(call: Call) -> Response:
    """``DELETE /rc/v1/clients/{client_id}``: the client and its documents."""
    refused = _admin(call)
    if refused is not None:
        return refused
    client_id = str(call.request.path_params["client_id"])
    if call.state.client(client_id) is None:
        return _http.text(500, _http.UNKNOWN_CLIENT)
    call.state.delete_client(client_id)
    return _http.text(200, "Client deleted")


def ping(call: Call) -> Response:
    """``POST /rc/v1/users/ping``: ping ``user_id`` (one name or a list) so its clients sync.

    ``sources`` (a list) narrows the sync; ``message``, ``badge``, ``sound`` and
    ``vibrate`` travel with the ping. Answers 200 with an empty body, as RhoConnect does,
    whether or not the user has a client to reach (rhom.server.live).
    """
    refused = _admin(call)
    if refused is not None:
        return refused
    values = call.params.values
    named = values.get("user_id")
    users = [named] if isinstance(named, str) else named
    if not isinstance(users, list) or not users or not all(isinstance(u, str) and u for u in users):
        return _http.text(400, "user_id must be a user name or a list of user names", _http.TEXT)
    sources = values.get("sources")
    if sources is not None and not (isinstance(sources, list) and all(isinstance(s, str) for s in sources)):
        return _http.text(400, "sources must be a list of source names", _http.TEXT)
    fields = [values.get(name) for name in live.PING_FIELDS]
    live.send_ping(call.server, users, live.ping_payload(sources, *fields))
    return _http.text(200, "")


def read_state(call: Call) -> Response:
    """``PUT /rc/v1/readstate/users/{user_id}/sources/{source}``: set when the source's
    adapter ``query`` runs next for that user (``refresh_time``, epoch seconds; ``0``: on
    the next client query). Answers 200 with an empty body, as RhoConnect does; 400 for an
    unknown source or a ``refresh_time`` that is not a number (rhom's choice: RhoConnect
    answers a Ruby error page)."""
    refused = _admin(call)
    if refused is not None:
        return refused
    user = str(call.request.path_params["user_id"])
    name = str(call.request.path_params["source"])
    adapter = call.server.adapters.get(name)
    if adapter is None:
        return _http.text(400, f"Unknown source {name!r}", _http.TEXT)
    try:
        when = float(call.params.text("refresh_time", "0"))
    except ValueError:
        return _http.text(400, "refresh_time must be epoch seconds", _http.TEXT)
    log = log_name(partition_key(adapter.partition, user), adapter.name)
    state = call.state
    with state.master_lock(log):
        meta = state.master(log)
        # the next refresh is due poll_interval seconds after the stored refresh time
        meta["refreshed"] = when - max(adapter.poll_interval, 0) if when > 0 else None
        state.store.set_many(state.master_item(log, meta))
    return _http.text(200, "")


def stats(call: Call) -> Response:
    """``GET /rc/v1/system/stats``: with stats off, 500 ``Stats not enabled`` as RhoConnect
    answers. With them on: ``names`` (a glob) lists the metric names; ``metric`` gives
    its buckets, oldest first, as RhoConnect's ``"<value>:<start>"`` members (``value`` is
    ``count,seconds`` for a request metric, the histogram's counts for ``latency``),
    indexed by ``start`` and ``finish`` as a Redis range is (``0`` and ``-1``: all);
    404 ``Unknown metric`` for a name never recorded."""
    refused = _admin(call)
    if refused is not None:
        return refused
    recorder = call.state.stats
    if recorder is None:
        return _http.text(500, "Stats not enabled")
    recorder.flush()
    names = call.params.values.get("names")
    if isinstance(names, str) and names:
        return _http.json_reply(recorder.names(names))
    metric = call.params.text("metric")
    points = recorder.series(metric) if metric else []
    if not points:
        return _http.text(404, "Unknown metric")
    try:
        first, last = int(call.params.text("start", "0")), int(call.params.text("finish", "-1"))
    except ValueError:
        return _http.text(400, "start and finish must be integers", _http.TEXT)
    # Redis ZRANGE indexes: inclusive, negative counts from the end
    first, last = (i + len(points) if i < 0 else i for i in (first, last))
    members = [",".join(_number(v) for v in p.values) + f":{p.start}" for p in points[max(first, 0) : last + 1]]
    return _http.json_reply(members)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


#: The documents of a source that the docs routes show, named as RhoConnect names them.
SOURCE_DOCS = ("md", "md_size", "md_copy", "errors")
SHARED_USER = "__shared__"  # RhoConnect's user part of an app-partition document name


def user_info(call: Call) -> Response:
    """``GET /rc/v1/users/{user_id}``: the user's attributes as name/type/value, in the
    order RhoConnect answers them; 404 for an unknown user.

    rhom keeps no passwords or e-mail (the app's ``authenticate`` hook checks logins), so
    those values are ``null``. ``clients`` is the list of client ids, where RhoConnect
    prints an internal object name.
    """
    refused = _admin(call)
    if refused is not None:
        return refused
    user = _known_user(call)
    if isinstance(user, Response):
        return user
    attributes = [
        {"name": "rho__id", "type": "string", "value": user},
        {"name": "login", "type": "string", "value": user},
        {"name": "email", "type": "string", "value": None},
        {"name": "salt", "type": "string", "value": None},
        {"name": "hashed_password", "type": "string", "value": None},
        {"name": "clients", "type": "set", "value": call.state.client_ids(user)},
        {"name": "admin", "type": "integer", "value": None},
        {"name": "token_id", "type": "string", "value": None},
    ]
    return _http.json_reply(attributes)


def _doc_owner(user: str, partition: str) -> str:
    return SHARED_USER if partition == "app" else user


def source_docnames(call: Call) -> Response:
    """``GET /rc/v1/users/{user_id}/sources/{source}/docnames``: the names of the
    source's documents for that user, in RhoConnect's form
    (``source:application:<user>:<source>:md``), readable with the docs and store routes."""
    refused = _admin(call)
    if refused is not None:
        return refused
    name = str(call.request.path_params["source"])
    adapter = call.server.adapters.get(name)
    if adapter is None:
        return _http.text(400, f"Unknown source {name!r}", _http.TEXT)
    owner = _doc_owner(str(call.request.path_params["user_id"]), adapter.partition)
    return _http.json_reply({doc: f"source:application:{owner}:{name}:{doc}" for doc in SOURCE_DOCS})


def source_doc(call: Call) -> Response:
    """``GET /rc/v1/users/{user_id}/sources/{source}/docs/{doc}``: one document of the
    source (``md``: its objects; ``md_size``: how many; ``errors``: the adapter's error)."""
    refused = _admin(call)
    if refused is not None:
        return refused
    params = call.request.path_params
    return _doc(call, str(params["user_id"]), str(params["source"]), str(params["doc"]))


def store_doc(call: Call) -> Response:
    """``GET /rc/v1/store/{doc}``: a document by its full name, as ``docnames`` gives it."""
    refused = _admin(call)
    if refused is not None:
        return refused
    parts = str(call.request.path_params["doc"]).split(":")
    if len(parts) == 6 and parts[:2] == ["client", "application"]:
        return _client_doc(call, parts[3], parts[4], parts[5], user=parts[2])
    if len(parts) != 5 or parts[:2] != ["source", "application"]:
        return _http.text(
            400,
            "Unknown document: expected source:application:<user>:<source>:<doc> "
            "or client:application:<user>:<client>:<source>:<doc>",
            _http.TEXT,
        )
    return _doc(call, parts[2], parts[3], parts[4])


def _doc(call: Call, user: str, name: str, doc: str) -> Response:
    adapter = call.server.adapters.get(name)
    if adapter is None:
        return _http.text(400, f"Unknown source {name!r}", _http.TEXT)
    if doc not in SOURCE_DOCS:
        return _http.text(400, f"Unknown document {doc!r}: one of {', '.join(SOURCE_DOCS)}", _http.TEXT)
    if adapter.partition == "app" and user == SHARED_USER:
        user = ""
    log = log_name(partition_key(adapter.partition, user), adapter.name)
    if doc == "errors":
        error = call.state.master(log).get("error")
        return _http.json_reply(error or {})
    objects, _ = read_all(call.state.store, log)
    if doc == "md_size":
        return _http.json_reply(len(objects))
    return _http.json_reply(objects)


#: The documents of a client source that the docs routes show, named as RhoConnect
#: names them. rhom keeps a cursor per client, not a copy: ``cd`` is rebuilt from the log.
CLIENT_DOCS = (
    "cd",
    "cd_size",
    "page",
    "delete_page",
    "create_links",
    "create_links_page",
    "metadata_page",
    "total_count_page",
    "page_token",
    "schema_sha1",
    "metadata_sha1",
    "create_errors",
    "update_errors",
    "update_rollback",
    "delete_errors",
)


def client_docnames(call: Call) -> Response:
    """``GET /rc/v1/clients/{client_id}/sources/{source}/docnames``: the names of the
    client source's documents (``client:application:<user>:<client>:<source>:<doc>``)."""
    refused = _admin(call)
    if refused is not None:
        return refused
    cid, name = str(call.request.path_params["client_id"]), str(call.request.path_params["source"])
    record = call.state.client(cid)
    if record is None:
        return _http.text(500, _http.UNKNOWN_CLIENT)
    if name not in call.server.adapters:
        return _http.text(400, f"Unknown source {name!r}", _http.TEXT)
    base = f"client:application:{record['user']}:{cid}:{name}"
    return _http.json_reply({doc: f"{base}:{doc}" for doc in CLIENT_DOCS})


def client_doc(call: Call) -> Response:
    """``GET /rc/v1/clients/{client_id}/sources/{source}/docs/{doc}``: one document of the
    client source (``cd``: what the client holds by the server's record; ``page``: the
    outstanding page's inserts; ``page_token``: its token; the error documents: errors
    waiting for the client's next page)."""
    refused = _admin(call)
    if refused is not None:
        return refused
    params = call.request.path_params
    return _client_doc(call, str(params["client_id"]), str(params["source"]), str(params["doc"]))


def _client_doc(call: Call, cid: str, name: str, doc: str, user: str | None = None) -> Response:
    record = call.state.client(cid)
    if record is None or (user is not None and record.get("user") != user):
        return _http.text(500, _http.UNKNOWN_CLIENT)
    adapter = call.server.adapters.get(name)
    if adapter is None:
        return _http.text(400, f"Unknown source {name!r}", _http.TEXT)
    if doc not in CLIENT_DOCS:
        return _http.text(400, f"Unknown document {doc!r}: one of {', '.join(CLIENT_DOCS)}", _http.TEXT)
    state = call.state
    cs = state.client_state(cid, name)
    if doc in ("cd", "cd_size"):
        log = log_name(partition_key(adapter.partition, str(record["user"])), adapter.name)
        held = read_client_view(state.store, log, cs)
        return _http.json_reply(len(held) if doc == "cd_size" else held)
    page = state.stored_page(cid, name) if cs.token else {}
    errors = cs.errors
    value = {
        "page": page.get("insert", {}),
        "delete_page": page.get("delete", {}),
        "create_links": cs.links,
        "create_links_page": page.get("links", {}),
        "metadata_page": page.get("metadata", ""),
        "total_count_page": cs.page_total if cs.token else 0,
        "page_token": cs.token,
        "schema_sha1": cs.schema_sha1 or "",
        "metadata_sha1": cs.metadata_sha1 or "",
        "create_errors": errors.get("create-error", {}),
        "update_errors": errors.get("update-error", {}),
        "update_rollback": errors.get("update-rollback", {}),
        "delete_errors": errors.get("delete-error", {}),
    }[doc]
    return _http.json_reply(value)
