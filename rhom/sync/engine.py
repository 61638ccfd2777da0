"""One sync run, phase by phase, as protocol.md §11.1 orders it.

1. Order the sources: ascending ``sync_priority`` (ties by name), owners before the
   sources that ``belongs_to`` them.
2. No session: error 7, nothing is sent.
3. Get a client id (and reset the client on the server when a local reset asked for it).
4. Bulk sync when ``bulksync_state`` is 0 (or only its blob phase when it is 2).
5. Per source: push its changelog (§5), then pull pages until the token is empty (§4),
   each page applied in one transaction with its token (see ``_pull``).
6. Send ``complete`` unless the run was stopped or the server changed a schema.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _runtime, blobs
from ..exceptions import AuthError, NetworkError, ProtocolError, ServerError, SyncError
from . import _pull, _push, _state, _unanswered, notify, protocol
from .errors import ErrorCode, NotLoggedInError, SyncVersionError, UnknownClientError, rho_error_for
from .notify import ObjRef, SyncNotification
from .source import SyncSource

if TYPE_CHECKING:
    from ._host import SyncHost

log = logging.getLogger("rhom.sync")


@dataclasses.dataclass(frozen=True)
class SourceStats:
    """What the last sync of a source did (``SyncClient.last_sync_stats``)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    errors: int = 0
    server_errors: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


class StopRequested(Exception):
    """The application called ``stop_sync``."""


#: ``server_errors`` kinds keyed by object id; the others are ``{"message": str}``.
OBJECT_ERROR_KINDS = ("create-error", "update-error", "delete-error", "update-rollback")


def merge_server_errors(into: dict[str, Any], errors: Mapping[str, Any], *, source: str | None = None) -> None:
    """Add *errors* (the ``server_errors`` shape) to *into*, losing none.

    Object errors are merged object by object. A ``{"message"}`` kind already present
    keeps its message and gains the new one after ``"; "``, prefixed with *source* when
    given (a run's errors from several sources).
    """
    for kind, entry in errors.items():
        if kind in OBJECT_ERROR_KINDS:
            into.setdefault(kind, {}).update(entry)
            continue
        message = str(entry.get("message", "")) if isinstance(entry, Mapping) else str(entry)
        if kind not in into:
            into[kind] = {"message": message}
        elif message and message not in into[kind]["message"]:
            into[kind] = {"message": f"{into[kind]['message']}; {f'{source}: ' if source else ''}{message}"}


def first_message(errors: Mapping[str, Any]) -> str:
    """The first error message of a ``server_errors`` mapping (a notification's
    ``error_message``)."""
    for kind, entry in errors.items():
        if kind not in OBJECT_ERROR_KINDS:
            return str(entry.get("message", ""))
        for oid, item in entry.items():
            if isinstance(item, Mapping) and item.get("message"):
                return f"{kind} {oid}: {item['message']}"
    return ""


def order_sources(sources: Sequence[SyncSource]) -> list[SyncSource]:
    """Priority order, then each owner moved before the sources that belong to it."""
    ordered = sorted(sources, key=lambda s: (s.priority, s.name))
    by_name = {s.name: s for s in ordered}
    result: list[SyncSource] = []
    visiting: set[str] = set()

    def place(source: SyncSource) -> None:
        if source in result or source.name in visiting:
            return
        visiting.add(source.name)
        for owners in source.belongs_to.values():
            for owner in owners:
                if owner in by_name:
                    place(by_name[owner])
        result.append(source)

    for source in ordered:
        place(source)
    return result


def sync_sources(models: Sequence[Any] | None = None) -> list[SyncSource]:
    """The synced sources of the current setup, in sync order."""
    chosen = _runtime.current().models if models is None else models
    return order_sources([SyncSource(m) for m in chosen if m._rhom.is_sync])


class SyncRun:
    """The state of one run: the client, the stop flag, the notifications it sent."""

    def __init__(self, client: SyncHost, *, stop: threading.Event) -> None:
        self.client = client
        self.transport = client._transport
        self.stop = stop
        self.schema_changed: list[str] = []
        self.server_errors: dict[str, dict[str, Any]] = {}  # by source, until it ends
        self.run_errors: dict[str, Any] = {}  # every source's, for the run's final result
        self.engine_error: BaseException | None = None
        #: every synced source (links rewrite dependents in all of them)
        self.sources = sync_sources()
        #: the sources this run syncs: not switched off with ``set_sync_type("none")``
        self.active = [s for s in self.sources if s.sync_type != "none"]
        self.client_id = ""

    # -- helpers ----------------------------------------------------------------------

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise StopRequested()

    def error_notification(
        self, exc: BaseException, source: SyncSource | None = None, **extra: Any
    ) -> SyncNotification:
        err = rho_error_for(exc)
        return SyncNotification(
            status="error",
            source_id=source.id if source else None,
            source_name=source.name if source else None,
            error_code=ErrorCode(err.code)
            if isinstance(err.code, int) and err.code in ErrorCode._value2member_map_
            else ErrorCode.RUNTIME,
            error_message=err.message,
            http_status=getattr(exc, "status_code", None),
            **extra,
        )

    # -- phase 2-3: session and client id ------------------------------------------------

    def prepare(self) -> None:
        info = self.client._client_info()
        if not info.get("session"):
            raise NotLoggedInError("not logged in: call login() first")
        self.transport.session = info["session"]
        client_id = info.get("client_id")
        if not client_id:
            client_id = self.transport.call(protocol.client_create())
            if not client_id:
                raise ProtocolError("clientcreate answered without a client id")
            _state.set_client_info(client_id=client_id)
        elif info.get("reset"):
            models = _state.get_config("reset_models")
            names = [n for n in models.split(",") if n] if models else None
            self.transport.call(protocol.client_reset(client_id, names))
            _state.set_client_info(reset=0)
            _state.set_config("reset_models", None)
        self.client_id = client_id

    # -- phase 5: one source ---------------------------------------------------------------

    def sync_source(self, source: SyncSource, *, query_params: Any = None) -> SyncNotification:
        start = time.monotonic()
        inserted = updated = deleted = 0
        total = cumulative = 0
        blob_errors: list[SyncError] = []
        try:
            if source.token() == 0:
                source.set_token(protocol.RUN_STARTED_TOKEN)
            self.push(source)
            _unanswered.retry_blobs(source, self.download)
            repeats = 0
            while True:
                self.check_stop()
                token = protocol.next_token(source.token())
                page = self.transport.call(protocol.query(
                    source.name, client_id=self.client_id, page_size=self.client.page_size,
                    token=token, query_params=query_params))  # fmt: skip
                repeats = repeats + 1 if page.token and page.token == token else 0
                if repeats > MAX_REPEATED_PAGES:
                    raise ProtocolError(
                        f"{source.name}: the server keeps sending page {page.token} after it was "
                        f"acknowledged ({repeats} times): its paging does not move on", source=source.name)  # fmt: skip
                applied = _pull.apply_page(source, page, dependents=self.dependents(source), download=self.download)
                inserted += len(applied.inserted) - applied.existed
                updated += applied.existed
                deleted += len(applied.deleted)
                blob_errors += applied.blob_errors
                cumulative += page.count
                total = page.total_count if page.total_count is not None else total
                self.after_page(source, page, applied, total, cumulative)
                if page.schema_changed:
                    self.schema_changed.append(source.name)
                    break
                if page.is_last or source.pass_through:
                    _push.requeue_lost_creates(source)
                    break
        except StopRequested:
            raise
        except (AuthError, UnknownClientError, SyncVersionError) as exc:
            self.engine_error = exc
            errors = self._record(source, False, (inserted, updated, deleted), start)
            return self.error_notification(exc, source, server_errors=errors)
        except SyncError as exc:
            log.info("sync of %s failed: %s", source.name, exc)
            errors = self._record(source, False, (inserted, updated, deleted), start)
            return self.error_notification(exc, source, total_count=total, cumulative_count=cumulative,
                                           server_errors=errors)  # fmt: skip
        errors = self._record(source, True, (inserted, updated, deleted), start, failed=bool(blob_errors))
        if blob_errors:
            # every page applied (the sync succeeded), but files the server would not hand
            # out are missing: the source ends with the first refusal, which names the
            # object and the URL (kept as a blob-error, and tried again at the next run)
            log.info("sync of %s: %s", source.name, blob_errors[0])
            return self.error_notification(blob_errors[0], source, total_count=total, cumulative_count=cumulative,
                                           server_errors=errors)  # fmt: skip
        if errors and not page.schema_changed:
            # the pages were applied, but the server refused something of this source:
            # the source ends in error 8 with every error of the run (rhom-api §7.4)
            return SyncNotification(
                status="error", source_id=source.id, source_name=source.name, total_count=total,
                processed_count=0, cumulative_count=cumulative, error_code=ErrorCode.CUSTOM_SYNC_SERVER,
                error_message=first_message(errors), server_errors=errors)  # fmt: skip
        status = "schema_changed" if page.schema_changed else "ok"
        return SyncNotification(status=status, source_id=source.id, source_name=source.name,
                                total_count=total, processed_count=0, cumulative_count=cumulative,
                                server_errors=errors)  # fmt: skip

    def add_server_errors(self, source: SyncSource, errors: Mapping[str, Any]) -> None:
        """Keep *errors* for the source's final notification and the run's result."""
        merge_server_errors(self.server_errors.setdefault(source.name, {}), errors)
        merge_server_errors(self.run_errors, errors, source=source.name)

    def _record(self, source: SyncSource, ok: bool, counts: tuple[int, int, int], start: float, *,
                failed: bool = False) -> dict[str, Any]:  # fmt: skip
        """Record the source's run; return the server errors it collected.

        :param failed: the run counts as failed in the stats although its pages were
            applied (files the server would not hand out).
        """
        inserted, updated, deleted = counts
        duration = time.monotonic() - start
        errors = self.server_errors.pop(source.name, None) or {}
        self.client._last_counts[source.name] = inserted + updated + deleted
        self.client._last_stats[source.name] = SourceStats(
            inserted, updated, deleted, errors=0 if ok and not errors and not failed else 1, server_errors=errors,
            seconds=duration,
        )  # fmt: skip
        # object errors stay kept until answered; source errors are the last run's
        _unanswered.settle_messages(source.db.connection(), source.id,
                                    [k for k in errors if k not in OBJECT_ERROR_KINDS])  # fmt: skip
        source.record_run(success=ok, inserted=inserted + updated, deleted=deleted,
                          duration_ms=int(duration * 1000), now=int(time.time()))  # fmt: skip
        return errors

    def dependents(self, owner: SyncSource) -> list[tuple[SyncSource, str]]:
        return [(s, attr) for s in self.sources for attr, owners in s.belongs_to.items() if owner.name in owners]

    def push(self, source: SyncSource) -> None:
        owners = {s.name: s for s in self.sources}
        batch = _push.prepare(source, owners)
        if batch.is_empty:
            return
        try:
            self._send(source, batch)
        except ServerError as exc:
            if exc.status_code != 413 or not batch.uploads:
                raise
            self._push_around_oversized(source, owners, {u.object_id for u in batch.uploads})

    def _push_around_oversized(self, source: SyncSource, owners: dict[str, SyncSource], big: set[str]) -> None:
        """The server refused a push with blobs as too large (413): push the other
        objects, then each object with a blob alone; one still refused fails alone with
        a create/update-error notification, and the sync goes on."""
        rest = _push.prepare(source, owners, skip=big)
        if not rest.is_empty:
            self._send(source, rest)
        for oid in sorted(big):
            alone = _push.prepare(source, owners, only={oid})
            if alone.is_empty:
                continue
            try:
                self._send(source, alone, refusal_settled_by_caller=True)
            except ServerError as exc:
                if exc.status_code != 413:
                    raise
                self._refused(source, oid, _push.settle_refused(source, alone))

    def _refused(self, source: SyncSource, oid: str, sent: dict[str, dict[str, dict[str, str]]]) -> None:
        message = (f"{source.name} {oid}: the server refused it as too large (HTTP 413): "
                   "make its file smaller, then answer the error")  # fmt: skip
        errors: dict[str, Any] = {}
        for kind, objects in sent.items():
            section = errors.setdefault(f"{kind}-error", {})
            for object_id, attrs in objects.items():
                section[object_id] = {"message": message, "attributes": dict(attrs)}
        log.warning("%s", message)
        _unanswered.record_now(source, errors)
        self.add_server_errors(source, errors)
        self.client._notify(SyncNotification(
            status="error", source_id=source.id, source_name=source.name,
            error_code=ErrorCode.CUSTOM_SYNC_SERVER, error_message=message, server_errors=errors))  # fmt: skip

    def _send(self, source: SyncSource, batch: _push.PushBatch, *, refusal_settled_by_caller: bool = False) -> None:
        """Send one push and settle its rows by the outcome (a 413 is left in flight for
        the caller with *refusal_settled_by_caller*)."""
        body = batch.body(source.name, self.client_id)
        call = protocol.push(source.name, client_id=self.client_id, create=batch.create,
                             update=batch.update, delete=batch.delete,
                             blob_fields=batch.blob_fields, blobs=batch.uploads)  # fmt: skip
        try:
            self.transport.call(call)
        except BaseException as exc:
            # push_sent comes before the bookkeeping on failure too (as its doc says), so
            # that an edit made "during" a failed push meets the in-flight rows
            try:
                notify.push_sent.send(source.model, body=body, ok=False)
            finally:
                if _may_have_run(exc):  # sent, no answer: in doubt, never "failed"
                    _push.settle_in_doubt(source, batch)
                elif refusal_settled_by_caller and isinstance(exc, ServerError) and exc.status_code == 413:
                    pass
                else:
                    _push.settle_failure(source, batch)
            raise
        notify.push_sent.send(source.model, body=body, ok=True)
        _push.settle_success(source, batch)

    def download(self, url: str) -> str:
        """Fetch a blob into the blob folder; return its stored value."""
        name = uuid.uuid4().hex + _pull.blob_file_name(url)
        dest = blobs.blob_dir() / name
        part = dest.with_name(name + ".part")
        try:
            self.transport.download(protocol.blob_file(url, client_id=self.client_id), part)
            part.replace(dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return name

    def after_page(self, source: SyncSource, page: protocol.Page, applied: _pull.Applied,
                   total: int, cumulative: int) -> None:  # fmt: skip
        """Notifications of a committed page: server errors, objects, progress."""
        if page.has_server_errors:
            self.add_server_errors(source, page.server_errors())
            self.client._notify(SyncNotification(
                status="error", source_id=source.id, source_name=source.name, total_count=total,
                processed_count=page.count, cumulative_count=cumulative,
                error_code=ErrorCode.CUSTOM_SYNC_SERVER, server_errors=page.server_errors()))  # fmt: skip
        self.client._object_notify(source, applied)
        if page.count > 0:
            self.client._notify(SyncNotification(
                status="in_progress", source_id=source.id, source_name=source.name, total_count=total,
                processed_count=page.count, cumulative_count=cumulative))  # fmt: skip


#: An acknowledged page sent again this many times in a row ends the source with a
#: ProtocolError: a server whose token never changes would otherwise page forever.
MAX_REPEATED_PAGES = 3


def _may_have_run(exc: BaseException) -> bool:
    """Whether the server may have acted on a request that raised ``exc``: a reply lost
    after sending, a reply that is not the server's, or a gateway's 502/504 (the server
    behind it may have run it). The server's own error answers are refusals: nothing
    ran, or what ran it reports."""
    if isinstance(exc, NetworkError):
        return exc.may_have_arrived
    if isinstance(exc, ProtocolError):  # a 200 that was not the server's reply
        return True
    return isinstance(exc, ServerError) and exc.status_code in (502, 504)


def run(client: SyncHost, *, stop: threading.Event, source_names: Sequence[str] | None = None,
        query_params: Any = None, only_changed: bool = False,
        recover: bool = True) -> SyncNotification:  # fmt: skip
    """Run a sync of all sources (or of *source_names*); return the final notification."""
    sync_run = SyncRun(client, stop=stop)
    selected = sync_run.active
    if source_names is not None:
        selected = [s for s in selected if s.name in source_names]
    notify.sync_started.send(client, sources=[s.name for s in selected],
                             kind="all" if source_names is None else "source")  # fmt: skip
    try:
        sync_run.prepare()
        client._run_bulk_if_needed(sync_run)
        last: SyncNotification | None = None
        for source in selected:
            sync_run.check_stop()
            if source_names is None and source.sync_type == "bulk_sync_only":
                continue
            if only_changed and not _has_changes(source):
                last = SyncNotification(status="ok", source_id=source.id, source_name=source.name)
                client._notify(last, final=True)
                continue
            last = sync_run.sync_source(source, query_params=query_params)
            client._notify(last, final=True)
            if sync_run.engine_error is not None:
                raise sync_run.engine_error
            if sync_run.schema_changed:
                notify.schema_changed.send(client, sources=list(sync_run.schema_changed))
                return last
        if source_names is not None:
            return last or SyncNotification(status="ok")
        done = SyncNotification(status="complete", server_errors=sync_run.run_errors)
        client._notify(done, final=True)
        return done
    except StopRequested:
        done = SyncNotification(status="error", error_code=ErrorCode.CANCEL_BY_USER,
                                error_message="the sync was stopped", server_errors=sync_run.run_errors)  # fmt: skip
        client._notify(done, final=True)
        return done
    except UnknownClientError as exc:
        if recover and client.recover_unknown_client:
            log.warning("the server does not know this client: resetting it and syncing again")
            client._recover_unknown_client()
            return run(client, stop=stop, source_names=source_names, query_params=query_params,
                       only_changed=only_changed, recover=False)  # fmt: skip
        return _fail(client, sync_run, exc)
    except AuthError as exc:
        if not isinstance(exc, NotLoggedInError):
            client._session_expired()
        return _fail(client, sync_run, exc)
    except (SyncError, NetworkError) as exc:
        return _fail(client, sync_run, exc)


def _fail(client: SyncHost, sync_run: SyncRun, exc: BaseException) -> SyncNotification:
    note = sync_run.error_notification(exc, server_errors=sync_run.run_errors)
    client._notify(note, final=True)
    return note


def _has_changes(source: SyncSource) -> bool:
    return bool(source.db.execute_sql(
        "SELECT 1 FROM changed_values WHERE source_id = ? AND (sent <= 1 OR sent = 6) LIMIT 1",
        (source.id,)))  # fmt: skip


ObjectCallback = Callable[[list[ObjRef], list[ObjRef], list[ObjRef]], None]
