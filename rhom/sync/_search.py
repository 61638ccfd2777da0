"""Search (protocol.md §6): ask the backend, page the results into the local data.

Each round sends the search with the tokens of the pages received in the previous round
(their acknowledgement) and applies every page like a query page, in its own
transaction. The round that brings no objects ends the search. Unlike the C++ client, an
exhausted source (``[]``) does not hide the pages of the sources after it (§6.5).

Before each request the request is persisted (setting ``search_request``); if the process
dies or the connection drops before the reply is applied, the next search first replays
it with ``resend=1``, so the page the server already counted as sent is not lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ProtocolError, SyncError
from . import _pull, _state, engine, protocol
from .errors import ErrorCode
from .notify import SyncNotification

if TYPE_CHECKING:
    from ._host import SyncHost

_REQUEST_KEY = "search_request"


def run(
    client: SyncHost,
    sync_run: engine.SyncRun,
    source_names: Sequence[str],
    *,
    from_: str = "search",
    search_params: Mapping[str, Any] | None = None,
    offset: int | None = None,
    max_results: int | None = None,
    progress_step: int | None = None,
    sync_changes: bool = False,
) -> SyncNotification:
    """One search; returns its final notification (``complete`` or ``error``)."""
    params = {str(k): str(v) for k, v in (search_params or {}).items()}
    by_name = {s.name: s for s in sync_run.sources}
    unknown = [n for n in source_names if n not in by_name]
    if not source_names or unknown:
        return SyncNotification(status="error", error_code=ErrorCode.RUNTIME, search_params=params,
                                error_message=f"search: unknown or missing sources {unknown or []}")  # fmt: skip
    sync_run.prepare()
    if sync_changes:
        for name in source_names:
            sync_run.push(by_name[name])
    _replay(sync_run, by_name)
    tokens: dict[str, str] = {}
    counted: dict[str, int] = dict.fromkeys(source_names, 0)
    while True:
        sync_run.check_stop()
        request = {"sources": list(source_names), "from": from_, "params": params, "offset": offset,
                   "max_results": max_results, "tokens": tokens}  # fmt: skip
        _state.set_config(_REQUEST_KEY, json.dumps(request))
        reply = sync_run.transport.call(_call(sync_run, request, resend=False))
        errors = _apply(client, sync_run, by_name, reply, counted, progress_step, params)
        _state.set_config(_REQUEST_KEY, None)
        if errors:
            return SyncNotification(status="error", error_code=ErrorCode.CUSTOM_SYNC_SERVER,
                                    server_errors=errors, search_params=params)  # fmt: skip
        if reply.count == 0:
            break
        tokens = reply.tokens
    return SyncNotification(status="complete", search_params=params)


def _call(sync_run: engine.SyncRun, request: Mapping[str, Any], *, resend: bool) -> protocol.Call[Any]:
    return protocol.search(
        request["sources"], client_id=sync_run.client_id, search_params=request["params"],
        page_size=sync_run.client.page_size, offset=request["offset"], max_results=request["max_results"],
        from_=request["from"], tokens=request["tokens"], resend=resend,
    )  # fmt: skip


def _replay(sync_run: engine.SyncRun, by_name: Mapping[str, Any]) -> None:
    """Re-send a search whose reply never got applied, and apply it silently."""
    stored = _state.get_config(_REQUEST_KEY)
    if not stored:
        return
    request = json.loads(stored)
    if request.get("tokens") and all(n in by_name for n in request["sources"]):
        try:
            reply = sync_run.transport.call(_call(sync_run, request, resend=True))
        except SyncError:
            return  # still unreachable: keep it for the next search
        for page in reply.pages:
            if page is not None and page.source in by_name and not page.search_errors:
                _pull.apply_page(by_name[page.source], page, dependents=[], download=sync_run.download, search=True)
    _state.set_config(_REQUEST_KEY, None)


def _apply(client: SyncHost, sync_run: engine.SyncRun, by_name: Mapping[str, Any], reply: Any,
           counted: dict[str, int], progress_step: int | None, params: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    errors: dict[str, Any] = {}
    for page in reply.pages:
        if page is None:
            continue  # this source is exhausted; the others may still have pages
        source = by_name.get(page.source or "")
        if source is None:
            raise ProtocolError(f"search reply names an unknown source {page.source!r}")
        if page.search_errors:
            found = page.server_errors()
            if "search-error" not in found:  # the adapter's login or logoff failed
                found["search-error"] = {"message": engine.first_message(found)}
            engine.merge_server_errors(errors, found, source=source.name)
            continue
        applied = _pull.apply_page(source, page, dependents=sync_run.dependents(source),
                                   download=sync_run.download, search=True)  # fmt: skip
        client._object_notify(source, applied)
        before, counted[source.name] = counted[source.name], counted[source.name] + page.count
        step = progress_step or 0
        if page.count and (step <= 0 or before // step != counted[source.name] // step):
            client._notify(SyncNotification(
                status="in_progress", source_id=source.id, source_name=source.name,
                processed_count=page.count, cumulative_count=counted[source.name], search_params=params))  # fmt: skip
    return errors


__all__ = ["run"]
