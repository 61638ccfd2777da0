"""RhoConnect's backend push routes: a backend writes changes into a source's data over HTTP.

``POST /app/v1/{source}/push_objects``, ``push_deletes``, ``fast_insert``, ``fast_update``
and ``fast_delete``, with the API token in ``X-RhoConnect-API-TOKEN`` and a JSON body
naming the user (``user_id``; ignored for an app-partition source). Each answers 200
``done`` as RhoConnect 7.8 does (captures: spec/captures/rhoconnect-7.8-rest-api.md), and
the Python calls of :mod:`rhom.server.backend` do the same work in process.

* ``push_objects``: ``objects`` ``{id: {attr: value}}``, merged into the objects
  (``rebuild_md`` is accepted and changes nothing: there is no document to rebuild);
* ``push_deletes``: ``objects``, a list of ids;
* ``fast_insert``: ``data`` ``{id: {attr: value}}``, merged like ``push_objects``;
* ``fast_update``: ``delete_data`` then ``data`` (RhoConnect's name; ``update_data`` is
  accepted too), both ``{id: {attr: value}}``: the attributes named in ``delete_data``
  are removed, those of ``data`` merged;
* ``fast_delete``: ``data`` ``{id: {attr: value}}``: those attributes are removed, and an
  object left with none is deleted.

They suit a source whose data comes only through them (``poll_interval = -1``). Into a
source whose adapter is still queried they answer 200 too, as RhoConnect does, but the
next query replaces the source's data with its result: objects written here that it
does not return vanish. The server logs a warning saying so, once per source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response

from rhom.server import _http, backend
from rhom.server._admin import require_token
from rhom.server._call import Call

__all__ = ["fast_delete", "fast_insert", "fast_update", "push_deletes", "push_objects"]

Work = Callable[[Starlette, str, str | None, dict[str, Any]], None]


def _objects(values: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    found = values.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict) or not all(isinstance(attrs, dict) for attrs in found.values()):
        raise ValueError(f"'{key}' must be an object of objects {{id: {{attr: value}}}}")
    return found


def _run(call: Call, work: Work) -> Response:
    refused = require_token(call)
    if refused is not None:
        return refused
    values = call.params.values
    source = str(call.request.path_params["source"])
    user = values.get("user_id")
    try:
        if user is not None and not isinstance(user, (str, int)):
            raise ValueError("'user_id' must be a user name")
        work(call.request.app, source, None if user is None else str(user), values)
    except ValueError as exc:
        return _http.text(400, str(exc), _http.TEXT)
    return _http.text(200, "done")


def _push_objects(app: Starlette, source: str, user: str | None, values: dict[str, Any]) -> None:
    backend.push_objects(app, source, _objects(values, "objects"), user=user)


def _push_deletes(app: Starlette, source: str, user: str | None, values: dict[str, Any]) -> None:
    ids = values.get("objects") or []
    if isinstance(ids, dict):  # an object of ids works too
        ids = list(ids)
    if not isinstance(ids, list) or not all(isinstance(oid, (str, int)) for oid in ids):
        raise ValueError("'objects' must be a list of object ids")
    backend.push_deletes(app, source, ids, user=user)


def _fast_insert(app: Starlette, source: str, user: str | None, values: dict[str, Any]) -> None:
    backend.push_objects(app, source, _objects(values, "data"), user=user)


def _fast_update(app: Starlette, source: str, user: str | None, values: dict[str, Any]) -> None:
    # RhoConnect 7.8 reads the new attributes from "data"; "update_data" is taken too
    removed = _objects(values, "delete_data")
    added = {**_objects(values, "update_data"), **_objects(values, "data")}
    backend.delete_attributes(app, source, {oid: [a for a in attrs if a not in added.get(oid, {})]
                                            for oid, attrs in removed.items()}, user=user)  # fmt: skip
    backend.push_objects(app, source, added, user=user)


def _fast_delete(app: Starlette, source: str, user: str | None, values: dict[str, Any]) -> None:
    backend.delete_attributes(app, source, _objects(values, "data"), user=user)


def push_objects(call: Call) -> Response:
    """``POST /app/v1/{source}/push_objects``: merge objects into the source's data.

    Into a source still queried (``poll_interval >= 0``) the objects last until the next
    query, which replaces the data with its result (a warning is logged, once per source).
    """
    return _run(call, _push_objects)


def push_deletes(call: Call) -> Response:
    """``POST /app/v1/{source}/push_deletes``: delete objects by id."""
    return _run(call, _push_deletes)


def fast_insert(call: Call) -> Response:
    """``POST /app/v1/{source}/fast_insert``: merge objects, as ``push_objects``."""
    return _run(call, _fast_insert)


def fast_update(call: Call) -> Response:
    """``POST /app/v1/{source}/fast_update``: remove ``delete_data``, merge ``update_data``."""
    return _run(call, _fast_update)


def fast_delete(call: Call) -> Response:
    """``POST /app/v1/{source}/fast_delete``: remove attributes; objects left empty go."""
    return _run(call, _fast_delete)
