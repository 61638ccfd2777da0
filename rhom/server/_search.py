"""Search (protocol.md §6): adapter results paged into the client's data, per source.

Per (client, source) the state keeps the search result, its token and the last page. A
request without a token runs the adapter's ``search``; one with the search token pages
on; a wrong token drops the search with ``Search error - invalid token``; ``resend``
repeats the last page. Sent objects join the client document and the master document,
so the next incremental query treats them as known.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from rhom.server import _http
from rhom.server._call import Call
from rhom.server._state import Doc, JsonObject, q
from rhom.server.adapters import SourceAdapter, calling_as
from rhom.server.documents import Caller, new_token, normalize

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
    p_size = max(1, call.params.number("p_size", call.server.settings.default_page_size))
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
    with calling_as(caller.user, caller.base_url, caller.state.store):
        try:
            adapter.login()
            step = "search"
            result = normalize(adapter.search(terms))
            step = "logoff"
            adapter.logoff()
        except Exception as exc:  # reported in the search-error form
            return _error(adapter.name, f"{step}-error", str(exc))
    return result


def _one(caller: Caller, adapter: SourceAdapter, token: str, resend: bool, p_size: int, terms: JsonObject) -> Element:
    if adapter.pass_through:  # nothing stored; an acknowledgement ends it (§6.4, §14 #9)
        if token:
            return []
        found = _run_search(caller, adapter, terms)
        return found if isinstance(found, list) else _page(adapter.name, new_token(), found)
    state = caller.state
    with state.store.lock(caller.client_lock()):
        cs, cd = state.client_source(caller.client_id, adapter.name)
        element, new_cd = _step(caller, adapter, cs, cd, token, resend, p_size, terms)
        changed = list(element[4]["insert"]) if new_cd is not None else None
        state.store.set_many(state.client_source_items(caller.client_id, adapter.name, cs, new_cd, changed))
    if new_cd is not None and len(element) == 5:
        _add_to_master(caller, adapter, element[4]["insert"])
    return element


def _step(
    caller: Caller,
    adapter: SourceAdapter,
    cs: JsonObject,
    cd: Doc,
    token: str,
    resend: bool,
    p_size: int,
    terms: JsonObject,
) -> tuple[Element, Doc | None]:
    current: JsonObject = cs.pop("search", None) or {}
    if token and resend:
        if current.get("page"):
            cs["search"] = current
            return _page(adapter.name, current["token"], current["page"]), None
        return [], None
    if token and token != current.get("token"):
        return _error(adapter.name, "search-error", "Search error - invalid token"), None
    if not token:
        found = _run_search(caller, adapter, terms)
        if isinstance(found, list):
            return found, None
        current = {"token": new_token(), "result": found}
    result: Doc = current["result"]
    page: Doc = {}
    for oid, obj in result.items():
        if cd.get(oid) != obj:
            page[oid] = obj
            if len(page) >= p_size:
                break
    if not page:
        return [], None
    current["page"] = page
    cs["search"] = current
    return _page(adapter.name, current["token"], page), {**cd, **page}


def _add_to_master(caller: Caller, adapter: SourceAdapter, objects: Doc) -> None:
    state, pkey = caller.state, caller.pkey(adapter)
    with state.store.lock(f"m:{pkey}:{q(adapter.name)}"):
        meta, md = state.master(pkey, adapter.name)
        new_md = {**md, **objects}
        state.store.set_many(state.master_items(pkey, adapter.name, meta, new_md, list(objects)))
