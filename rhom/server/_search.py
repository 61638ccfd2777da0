"""Search (protocol.md §6): adapter results paged into the client's data, per source.

Per (client, source) the state keeps the search result, its token and the last page. A
request without a token runs the adapter's ``search``; one with the search token pages
on; a wrong token drops the search with ``Search error - invalid token``; ``resend``
repeats the last page. Sent objects are written to the source's change log and marked as
held by the client, so the next incremental query treats them as known.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from rhom.server import _http
from rhom.server._call import Call
from rhom.server._log import Held, read_held, write_objects
from rhom.server._logging import adapter_failed
from rhom.server._state import ClientSourceState, Doc, JsonObject, SearchState
from rhom.server.adapters import SourceAdapter, calling_as
from rhom.server.pages import Caller, fitting, new_token, normalize
from rhom.server.routes import page_size

__all__ = ["search"]

Element = list[JsonObject]


def search(call: Call) -> Response:
    """``POST /rc/v1/app/search``: one reply element per requested source, in order."""
    requested = _requested(call.params.values.get("sources"))
    adapters: list[tuple[SourceAdapter, str]] = []
    for name, token in requested:
        adapter = call.adapter(name)
        if adapter is None:
            return _http.text(500, "Unknown source")
        adapters.append((adapter, token))
    p_size = page_size(call)
    terms = call.params.values.get("search")
    terms = terms if isinstance(terms, dict) else {}
    resend = "resend" in call.params.values
    caller = call.caller()
    reply = [_one(caller, a, token, resend, p_size, terms) for a, token in adapters]
    headers: dict[str, str] = {}
    first = reply[0] if reply else []
    if len(first) == 5:  # a page, not [] nor the error form
        headers["X-Rhoconnect-PAGE-TOKEN"] = str(first[1]["token"])
        headers["X-Rhoconnect-PAGE-OBJECT-COUNT"] = str(first[3]["count"])
    return _http.json_reply(reply, headers)


def _requested(sources: Any) -> list[tuple[str, str]]:
    if isinstance(sources, str):
        sources = [s for s in sources.split(",") if s]
    if not isinstance(sources, list):
        return []
    out: list[tuple[str, str]] = []
    for item in sources:
        if isinstance(item, dict):
            out.append((str(item.get("name", "")), str(item.get("token") or "")))
        else:
            out.append((str(item), ""))
    return out


def _error(source: str, key: str, message: str) -> Element:
    return [{"version": 3}, {"source": source}, {"search-error": {key: {"message": message}}}]


def _page(source: str, token: str, objects: Doc) -> Element:
    return [
        {"version": 3},
        {"token": token},
        {"source": source},
        {"count": len(objects)},
        {"insert": objects},
    ]


def _run_search(caller: Caller, adapter: SourceAdapter, terms: JsonObject) -> Doc | Element:
    step = "login"
    with calling_as(caller.user, caller.base_url, caller.state.store, caller.pkey(adapter)):
        try:
            adapter.login()
            step = "search"
            result = fitting(caller.state, adapter.name, normalize(adapter.search(terms)))
            step = "logoff"
            adapter.logoff()
        except Exception as exc:  # reported in the search-error form
            adapter_failed(adapter.name, step, exc, user=caller.user, client=caller.client_id)
            return _error(adapter.name, f"{step}-error", str(exc))
    return result


def _one(caller: Caller, adapter: SourceAdapter, token: str, resend: bool, p_size: int, terms: JsonObject) -> Element:
    if adapter.pass_through:  # nothing stored; an acknowledgement ends it (§6.4, §14 #9)
        if token:
            return []
        found = _run_search(caller, adapter, terms)
        return found if isinstance(found, list) else _page(adapter.name, new_token(), found)
    state, log = caller.state, caller.log(adapter)
    with state.client_lock(caller.client_id):
        cs = state.client_state(caller.client_id, adapter.name)
        element, sent = _step(caller, adapter, log, cs, token, resend, p_size, terms)
        if sent:
            changes = list(sent.items())
            with state.master_lock(log):
                seqs = write_objects(state, log, changes, time.time())
            marks = Held(cs)
            for (oid, _), seq in zip(changes, seqs, strict=True):
                marks.mark(cs, oid, seq)
        state.store.set_many(state.client_state_items(caller.client_id, adapter.name, cs))
    return element


def _step(
    caller: Caller,
    adapter: SourceAdapter,
    log: str,
    cs: ClientSourceState,
    token: str,
    resend: bool,
    p_size: int,
    terms: JsonObject,
) -> tuple[Element, Doc]:
    """The element to answer and the objects of a new page (empty for anything else)."""
    current, cs.search = cs.search, None  # kept again below only where the search goes on
    if token and resend:
        if current is not None and current.page:
            cs.search = current
            return _page(adapter.name, current.token, current.page), {}
        return [], {}
    if token and (current is None or token != current.token):
        return _error(adapter.name, "search-error", "Search error - invalid token"), {}
    if current is None or not token:
        found = _run_search(caller, adapter, terms)
        if isinstance(found, list):
            return found, {}
        current = SearchState(new_token(), found)
    result = current.result
    held = read_held(caller.state, log, cs, result)
    page: Doc = {}
    for oid, obj in result.items():
        if held.get(oid) != obj:
            page[oid] = obj
            if len(page) >= p_size:
                break
    if not page:
        return [], {}
    current.page = page
    cs.search = current
    return _page(adapter.name, current.token, page), page
