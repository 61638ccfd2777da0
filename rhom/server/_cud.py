"""Pushed creates, updates and deletes (protocol.md §5.4).

The whole push is validated before anything runs, so a malformed body changes nothing.
Then the adapter sees the creates, the updates and the deletes, in that order. Results
reach the client through its next page: create-links, ``create-error``,
``update-error`` (with ``update-rollback``) and ``delete-error`` entries that carry the
pushed attributes and no ``id``. A failing entry does not hold back the entries after it
(the real server re-queues them until the next push); see docs/protocol-decisions.md.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from rhom.server._log import Held, read_held, write_objects
from rhom.server._logging import adapter_failed
from rhom.server._state import ClientSourceState, Doc
from rhom.server.adapters import SourceAdapter, Upload, calling_as, creating, keeping_blobs
from rhom.server.pages import RESERVED, Caller

__all__ = ["InvalidPush", "Limits", "Push", "PushOverLimit", "parse_push", "process_push"]

OPERATIONS = ("create", "update", "delete")

Push = dict[str, Doc]


class InvalidPush(Exception):
    """The push body does not have the shape of protocol.md §5.1."""


class PushOverLimit(Exception):
    """A push names an object or attribute longer than the server accepts; the message
    names the limit (answered 400)."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one push may name (settings ``max_object_id_length``,
    ``max_attribute_name_length``; ``0``: no limit)."""

    object_id: int = 0
    attribute_name: int = 0


def parse_push(values: Mapping[str, Any], limits: Limits = Limits()) -> tuple[Push, list[str]]:
    """Validate the ``create``/``update``/``delete`` sections and ``blob_fields``.

    :raises InvalidPush: a section that is not ``{id: {attr: scalar}}``, or an attribute
        name containing ``:`` (protocol.md §1.9).
    :raises PushOverLimit: an object id or attribute name over *limits*.
    """
    push: Push = {}
    for op in OPERATIONS:
        section = values.get(op)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise InvalidPush(op)
        push[op] = {_object_id(str(oid), limits): _attrs(op, obj, limits) for oid, obj in section.items()}
    fields = values.get("blob_fields") or []
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise InvalidPush("blob_fields")
    return push, sorted(set(fields))


def _object_id(oid: str, limits: Limits) -> str:
    if limits.object_id and len(oid) > limits.object_id:
        raise PushOverLimit(
            f"object id of {len(oid)} characters: the limit is {limits.object_id} (max_object_id_length)"
        )
    return oid


def _attrs(op: str, obj: Any, limits: Limits) -> dict[str, str]:
    if not isinstance(obj, dict):
        raise InvalidPush(op)
    attrs: dict[str, str] = {}
    for name, value in obj.items():
        if ":" in name or isinstance(value, (dict, list)):
            raise InvalidPush(op)
        if limits.attribute_name and len(name) > limits.attribute_name:
            raise PushOverLimit(
                f"attribute name of {len(name)} characters: the limit is {limits.attribute_name} "
                "(max_attribute_name_length)"
            )
        attrs[name] = "" if value is None else value if isinstance(value, str) else str(value)
    return attrs


#: Temporary ids of a client's creates remembered per source, so that a create pushed twice
#: (the first reply lost) makes one backend record. Client temporary ids never repeat.
_CREATED_KEPT = 10_000


def _stored(attrs: Mapping[str, str]) -> dict[str, str]:
    return {a: v for a, v in attrs.items() if a not in RESERVED}


class _Outcome:
    """What one push changes: the client state and the objects to write to the log."""

    def __init__(
        self,
        cs: ClientSourceState,
        created: dict[str, str],
        record: Callable[[str, str], None],
        max_errors: int = 0,
        caller: Caller | None = None,
        source: str = "",
    ) -> None:
        self.cs = cs
        self.caller = caller
        self.source = source
        self.max_errors = max_errors
        self.created = created
        self.record = record  # makes one create's link durable at once
        self.created_now: list[str] = []
        self.created_changed = False
        self.log_changes: list[tuple[str, dict[str, str] | None]] = []
        self.failed_updates: list[str] = []
        self.errors = 0

    def failed(self, op: str, exc: BaseException, oid: str | None = None) -> None:
        """Log what an adapter hook raised, for the server's operators (the client gets
        the message only)."""
        caller = self.caller
        adapter_failed(self.source, op, exc, user=caller.user if caller else None,
                       client=caller.client_id if caller else None, object_id=oid)  # fmt: skip

    def error(self, op: str, oid: str, attrs: Mapping[str, str], message: str) -> None:
        self.errors += 1
        kinds = self.cs.errors
        errors = kinds.setdefault(op + "-error", {})
        kept = sum(len(entries) for kind, entries in kinds.items() if kind.endswith("-error")) // 2  # id, id-error
        # past max_error_entries, an error keeps its message, not the attributes pushed:
        # what one client can make the server keep for it stays bounded
        errors[oid] = _stored(attrs) if not self.max_errors or kept < self.max_errors else {}
        errors[oid + "-error"] = {"message": message}
        if op == "update":
            self.failed_updates.append(oid)


def process_push(
    caller: Caller,
    adapter: SourceAdapter,
    push: Push,
    blob_fields: list[str],
    uploads: Mapping[str, Upload],
    max_errors: int = 0,
) -> None:
    """Run a validated push against ``adapter`` and record its results for the client.

    :param max_errors: errors of this client and source kept with their attributes
        (setting ``max_error_entries``; ``0``: all).

    Created and deleted objects go to the change log at once, marked as held by this
    client, so its next page does not echo its own push.
    """
    if adapter.pass_through:
        _pass_through(caller, adapter, push)
        return
    state, log = caller.state, caller.log(adapter)
    with state.client_lock(caller.client_id):
        cs = state.client_state(caller.client_id, adapter.name)
        created: dict[str, str] = {}
        if "create" in push:
            created = state.created_ids(caller.client_id, adapter.name)
            # links recorded one by one by a push that died before it finished
            created.update(state.links_in_flight(caller.client_id, adapter.name, push["create"]))

        def record(temporary_id: str, server_id: str) -> None:
            state.store.set(state.link_in_flight_key(caller.client_id, adapter.name, temporary_id), server_id.encode())

        outcome = _Outcome(cs, created, record, max_errors, caller, adapter.name)
        with calling_as(caller.user, caller.base_url, state.store, caller.pkey(adapter), blob_quota=state.blob_quota):
            _run(adapter, push, blob_fields, uploads, outcome)
        state.count("errors:" + adapter.name, outcome.errors)
        if outcome.failed_updates:  # the server's version of what the client holds
            held = read_held(state, log, cs, outcome.failed_updates)
            if held:
                cs.errors.setdefault("update-rollback", {}).update(held)
        if outcome.log_changes:
            with state.master_lock(log):
                seqs = write_objects(state, log, outcome.log_changes, time.time())
            marks = Held(cs)
            for (oid, _), seq in zip(outcome.log_changes, seqs, strict=True):
                marks.mark(cs, oid, seq)
        items = state.client_state_items(caller.client_id, adapter.name, cs)
        if outcome.created_changed:
            items.update(state.created_ids_item(caller.client_id, adapter.name, outcome.created))
            for temporary_id in push.get("create", {}):  # now in the map: one key less each
                items[state.link_in_flight_key(caller.client_id, adapter.name, temporary_id)] = None
        state.store.set_many(items)


def _run(
    adapter: SourceAdapter,
    push: Push,
    blob_fields: list[str],
    uploads: Mapping[str, Upload],
    outcome: _Outcome,
) -> None:
    try:
        adapter.login()
    except Exception as exc:  # every entry fails with the login message
        outcome.failed("login", exc)
        for op, section in push.items():
            for oid, attrs in section.items():
                outcome.error(op, oid, attrs, str(exc))
        return
    for oid, attrs in push.get("create", {}).items():
        _create(adapter, oid, attrs, blob_fields, uploads, outcome)
    for oid, attrs in push.get("update", {}).items():
        _update(adapter, oid, attrs, blob_fields, uploads, outcome)
    for oid, attrs in push.get("delete", {}).items():
        _delete(adapter, oid, attrs, outcome)
    try:
        adapter.logoff()
    except Exception as exc:  # the work is done; a logoff failure changes no result
        outcome.failed("logoff", exc)


def _with_blobs(
    adapter: SourceAdapter,
    oid: str,
    attrs: dict[str, str],
    blob_fields: list[str],
    uploads: Mapping[str, Upload],
) -> dict[str, str]:
    """The object with its uploaded files stored. ``store_blob`` gets the object itself,
    as RhoConnect passes it: what the adapter sets there (a file name, a size) is part of
    the record it then creates or updates."""
    if not any(f"{name}-{oid}" in uploads for name in blob_fields):
        return attrs
    obj = dict(attrs)
    for name in blob_fields:
        upload = uploads.get(f"{name}-{oid}")
        if upload is not None:
            obj[name] = str(adapter.store_blob(obj, name, upload))
    return obj


def _create(
    adapter: SourceAdapter,
    oid: str,
    attrs: dict[str, str],
    blob_fields: list[str],
    uploads: Mapping[str, Upload],
    outcome: _Outcome,
) -> None:
    created = outcome.created
    if oid in created:
        # The same create again: its push reached us before (a client that died or lost the
        # reply sends it once more). Repeat the link instead of creating a second record.
        # It carries the client's current version (edits made since the first attempt):
        # the record takes it, as an update.
        # Its files come again too: stored like a create's, so that the record never
        # names the device's own file name instead of a stored blob.
        server_id = created[oid]
        outcome.cs.links[oid] = {"l": server_id}
        outcome.created_changed = True
        try:
            with keeping_blobs():
                stored = _with_blobs(adapter, oid, attrs, blob_fields, uploads)
                adapter.update({**stored, "id": server_id})
        except Exception as exc:  # the record is made and linked: the edits failed, as an update would
            outcome.failed("update", exc, server_id)
            outcome.error("update", server_id, attrs, str(exc))  # as pushed: the stored files are gone
            return
        outcome.log_changes.append((server_id, _stored(stored)))
        return
    try:
        with keeping_blobs():  # a create that fails keeps none of its files
            attrs = _with_blobs(adapter, oid, attrs, blob_fields, uploads)
            with creating(oid):
                new_id = adapter.create(dict(attrs))
    except Exception as exc:
        outcome.failed("create", exc, oid)
        outcome.error("create", oid, attrs, str(exc))
        return
    if new_id is None or str(new_id) == "":
        outcome.cs.deletes[oid] = _stored(attrs)
        return
    server_id = str(new_id)
    outcome.record(oid, server_id)  # durable before the next create: a retry finds it
    created[oid] = server_id
    outcome.created_changed = True
    while len(created) > _CREATED_KEPT:  # oldest first: dicts keep insertion order
        del created[next(iter(created))]
    outcome.cs.links[oid] = {"l": server_id}
    outcome.log_changes.append((server_id, _stored(attrs)))


def _update(
    adapter: SourceAdapter,
    oid: str,
    attrs: dict[str, str],
    blob_fields: list[str],
    uploads: Mapping[str, Upload],
    outcome: _Outcome,
) -> None:
    try:
        with keeping_blobs():  # an update that fails keeps none of its files
            stored = _with_blobs(adapter, oid, attrs, blob_fields, uploads)
            adapter.update({**stored, "id": oid})
    except Exception as exc:
        outcome.failed("update", exc, oid)
        outcome.error("update", oid, attrs, str(exc))  # as pushed: the stored files are gone


def _delete(adapter: SourceAdapter, oid: str, attrs: dict[str, str], outcome: _Outcome) -> None:
    try:
        adapter.delete({**attrs, "id": oid})
    except Exception as exc:
        outcome.failed("delete", exc, oid)
        outcome.error("delete", oid, attrs, str(exc))
        return
    # removed by id, whatever attributes were pushed: an echo would tell the client nothing
    outcome.log_changes.append((oid, None))


def _pass_through(caller: Caller, adapter: SourceAdapter, push: Push) -> None:
    """Pass-through (§4.7): call the adapter per object, keep nothing."""
    with calling_as(caller.user, caller.base_url, caller.state.store, caller.pkey(adapter)):
        for op in OPERATIONS:
            for oid, attrs in push.get(op, {}).items():
                try:
                    if op == "create":
                        adapter.create(dict(attrs))
                    else:
                        getattr(adapter, op)({**attrs, "id": oid})
                except Exception as exc:  # pass-through pushes report nothing back: the log does
                    adapter_failed(adapter.name, op, exc, user=caller.user, client=caller.client_id, object_id=oid)
                    continue
