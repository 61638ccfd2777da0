"""SyncClient: rhom's RhoConnect client (Rhodes' ``Rho::RhoConnectClient``).

::

    client = rhom.SyncClient("http://127.0.0.1:9292/", threaded_mode=False)
    client.login("alice", "secret")
    result = client.do_sync()          # threaded_mode=True returns a Future instead
    assert result.status == "complete"

Runs are serialised on one background thread (``threaded_mode=True``, the default: calls
return a :class:`concurrent.futures.Future` of a :class:`SyncResult`) or run in the
calling thread (``threaded_mode=False``: calls block and return the ``SyncResult``).
While logged in, a threaded client also syncs every ``poll_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from .. import _registry, _runtime, signals
from ..exceptions import AuthError, ConfigurationError, SyncError, ValidationError
from . import _recover, _resolve, _state, _unanswered, engine, notify, protocol
from .errors import ErrorCode, NotLoggedInError, rho_error_for
from .live import LiveChannel
from .notify import ObjRef, SyncNotification, SyncResult
from .source import SyncSource
from .transport import Transport

__all__ = ["PushRegistration", "SyncClient"]

log = logging.getLogger("rhom.sync")

Callback = Callable[[SyncNotification], Any]


@dataclasses.dataclass(frozen=True)
class PushRegistration:
    """The push registration state of a :class:`SyncClient` (``client.push_registration``).

    :param token: the device's push token registered with the server, or ``None``.
    :param token_sent: whether the server has been sent that token since the last login.
    """

    token: str | None
    token_sent: bool


#: The client most recently created; ``Model.sync()`` and friends use it.
default_client: SyncClient | None = None


def _source_name(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, int) and not isinstance(source, bool):
        for model in _runtime.current().models:
            if model._rhom.source_id == source:
                return str(model._rhom.source_name)
        raise ConfigurationError(f"no source has id {source}")
    opts = getattr(source, "_rhom", None)
    if opts is None:
        raise ValidationError(f"expected a source name, id or model class, got {source!r}")
    return str(opts.source_name)


class SyncClient:
    """A RhoConnect sync client bound to the models of :func:`rhom.setup`.

    :param sync_server: the server URL (layout 4 routes are built below it).
    :param threaded_mode: run on a background thread and return Futures (default), or block.
    :param page_size: objects per page asked of the server (``p_size``).
    :param poll_interval: seconds between automatic syncs while logged in (threaded mode);
        0 disables polling.
    :param ssl_verify_peer: verify TLS certificates (keep it on outside tests).
    :param timeout: seconds without progress before a request fails.
    :param transport: an ``httpx`` transport (tests only).
    :param recover_unknown_client: when the server no longer knows this client, reset it
        (keeping unpushed local changes) and sync again once.
    :param bulksync_timeout: seconds between polls while the server builds a bulk file.
    :param bulksync_max_wait: seconds of ``wait`` answers after which a bulk sync gives up
        with an error (the server never finished the file).
    :param live: keep the live channel to rhom.server open while logged in, and sync when
        the server pings this user or a backend changes a source (:mod:`rhom.sync.live`).
    """

    def __init__(
        self,
        sync_server: str,
        *,
        threaded_mode: bool = True,
        page_size: int = protocol.DEFAULT_PAGE_SIZE,
        poll_interval: float = 60,
        ssl_verify_peer: bool = True,
        timeout: float = 30.0,
        transport: Any = None,
        recover_unknown_client: bool = True,
        bulksync_timeout: float = 5.0,
        bulksync_max_wait: float = 600.0,
        live: bool = False,
    ) -> None:
        global default_client
        _runtime.current()  # fail early: setup() must come first
        self._server = sync_server
        self._timeout = timeout
        self._httpx_transport = transport
        self._ssl_verify_peer = ssl_verify_peer
        self._transport = self._make_transport()
        self.threaded_mode = threaded_mode
        self.page_size = page_size
        self._poll_interval = poll_interval
        self.recover_unknown_client = recover_unknown_client
        self.bulksync_timeout = bulksync_timeout
        self.bulksync_max_wait = bulksync_max_wait
        self.show_status_popup = True
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._syncing = threading.Event()
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None
        self._callbacks: dict[str, tuple[Callback, Any]] = {}
        self._object_callback: Callable[..., Any] | None = None
        self._tracked: set[tuple[str, str]] = set()
        self._source_props: dict[str, dict[str, str]] = {}
        self._last_counts: dict[str, int] = {}
        self._last_stats: dict[str, engine.SourceStats] = {}
        self._collected: list[SyncNotification] | None = None
        if _state.get_config("syncserver") is None:
            _state.set_config("syncserver", sync_server)  # the server the client info is for
        # Another server's client id and session stay stored, unused, until this server
        # has answered a login: a mistyped URL must not cost the real server's client id.
        default_client = self
        self._live: LiveChannel | None = None
        if live:
            self._live = LiveChannel(self)
            self._live.start()

    def _client_info(self) -> dict[str, Any]:
        """The stored client id and session when they belong to this client's server."""
        return _state.client_info() if _state.get_config("syncserver") == self._server else {}

    def _make_transport(self) -> Transport:
        session = self._client_info().get("session")
        return Transport(self._server, session=session, transport=self._httpx_transport,
                         timeout=self._timeout, ssl_verify_peer=self._ssl_verify_peer)  # fmt: skip

    def __repr__(self) -> str:
        return f"<rhom.SyncClient {self._server}>"

    # -- properties ---------------------------------------------------------------------

    @property
    def sync_server(self) -> str:
        return self._server

    @sync_server.setter
    def sync_server(self, url: str) -> None:
        """Another URL needs a login there; the stored client id and session are replaced
        only once that server accepted the login (going back to the old URL keeps them)."""
        if url == self._server:
            return
        self.stop_sync()
        with self._lock:
            self._server = url
            self._transport.close()
            self._transport = self._make_transport()

    @property
    def ssl_verify_peer(self) -> bool:
        return self._ssl_verify_peer

    @property
    def user_name(self) -> str | None:
        """The logged-in user, or the last one that logged in."""
        return _state.get_config("rho_sync_user")

    @property
    def poll_interval(self) -> float:
        return self._poll_interval

    @poll_interval.setter
    def poll_interval(self, seconds: float) -> None:
        self._poll_interval = seconds
        self._ensure_poller()

    def set_pollinterval(self, seconds: float) -> float:
        """Set the poll interval; return the old one (Rhodes' legacy call)."""
        old, self.poll_interval = self._poll_interval, seconds
        return old

    @property
    def bulksync_state(self) -> int:
        """0: bulk sync at the next run; 2: files installed, blobs still to fetch; 1: done (default)."""
        return int(_state.get_config("bulksync_state", "1") or 1)

    @bulksync_state.setter
    def bulksync_state(self, value: int) -> None:
        _state.set_config("bulksync_state", str(int(value)))

    def is_logged_in(self) -> bool:
        return bool(self._client_info().get("session"))

    @property
    def push_registration(self) -> PushRegistration:
        """This device's push registration with the sync server, as ``client_info`` keeps
        it (Rhodes' ``token`` and ``token_sent``): no token, not sent, until one is
        registered; a login clears ``token_sent`` so that it is registered again."""
        info = self._client_info()
        return PushRegistration(token=info.get("token") or None, token_sent=bool(info.get("token_sent")))

    def is_syncing(self) -> bool:
        return self._syncing.is_set()

    # -- running calls: threaded or not ----------------------------------------------------

    def _submit(self, fn: Callable[[], SyncNotification], final_only: bool = False) -> Any:
        def call() -> SyncResult:
            with self._lock:
                self._stop.clear()
                self._syncing.set()
                self._collected = []
                try:
                    final = fn()
                finally:
                    self._syncing.clear()
                    collected, self._collected = self._collected or [], None
                return SyncResult(final, collected)

        if not self.threaded_mode:
            return call()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rhom-sync")
        return self._executor.submit(call)

    def close(self) -> None:
        """Stop syncing and polling, wait for the sync thread, close the connection."""
        self._closed.set()
        if self._live is not None:
            self._live.close()
        self.stop_sync()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._poller is not None:
            self._poller.join(timeout=5)
        self._transport.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- login / logout ---------------------------------------------------------------------

    def login(self, login: str, password: str, callback: Callback | None = None) -> Any:
        """Log in; a different user than the last one fires ``sync_user_changed``.

        :returns: a :class:`SyncResult` whose ``error_code`` is 0 on success (9 for bad
            credentials, 1 when the server cannot be reached), or a Future of it.
        """
        self.stop_sync()

        def work() -> SyncNotification:
            try:
                session = self._transport.login(login, password)
            except SyncError as exc:
                err = rho_error_for(exc)
                note = SyncNotification(
                    status="error",
                    error_code=ErrorCode(err.code),
                    error_message=err.message,
                    http_status=getattr(exc, "status_code", None),
                )
            else:
                if _state.get_config("syncserver") != self._server:  # this server answered: it is ours now
                    _state.drop_client_info()
                    _state.set_config("syncserver", self._server)
                _state.set_client_info(session=session, token_sent=0)
                previous = _state.get_config("rho_sync_user")
                _state.set_config("rho_sync_user", login)
                if previous is not None and previous != login:
                    self._user_changed(previous, login)
                note = SyncNotification(status="ok")
                self._ensure_poller()
            notify.login_finished.send(self, error_code=note.error_code, error_message=note.error_message)
            if callback is not None:
                callback(note)
            return note

        return self._submit(work)

    def _user_changed(self, old: str, new: str) -> None:
        results = signals.sync_user_changed.send(self, old_user=old, new_user=new)
        if not any(r is False for _, r in results):
            from .. import maintenance

            maintenance.database_full_reset()

    def logout(self) -> None:
        """Stop syncing and drop the session; local data and the client id stay."""
        self.stop_sync()
        _state.end_session()
        self._transport.session = None

    def _session_expired(self) -> None:
        _state.end_session()
        self._transport.session = None

    # -- sync ---------------------------------------------------------------------------

    def do_sync(self, show_status_popup: bool | None = None, query_params: Any = None,
                sync_only_changed_sources: bool = False) -> Any:  # fmt: skip
        """Sync every source; the final notification is ``complete`` (or ``error``).

        :param query_params: for the adapters' ``query``: a string sent as it is
            (``"query[brand]=HTC"``) or a mapping (``{"brand": "HTC"}``, sent as
            ``query[brand]=HTC``).
        :raises ValidationError: a *query_params* key that is not a plain name.
        """
        _check_query_params(query_params)
        return self._submit(lambda: engine.run(self, stop=self._stop, query_params=query_params,
                                               only_changed=sync_only_changed_sources))  # fmt: skip

    def do_sync_source(self, source: Any, show_status_popup: bool | None = None, query_params: Any = None) -> Any:
        """Sync one source (name, id or model class); final status ``ok`` or ``error``.

        *query_params* as for :meth:`do_sync`.
        """
        _check_query_params(query_params)
        try:
            name = _source_name(source)
            types = {s.name: s.sync_type for s in engine.sync_sources()}
        except (ConfigurationError, ValidationError):
            name, types = str(source), {}
        problem = None
        if name not in types:
            problem = f"unknown source {name!r}"
        elif types[name] == "none":
            problem = f"source {name!r} is switched off (set_sync_type('none')): set_sync_type('incremental') first"
        if problem:
            note = SyncNotification(status="error", source_name=name, error_code=ErrorCode.RUNTIME,
                                    error_message=problem)  # fmt: skip

            def unknown() -> SyncNotification:
                self._notify(note, final=True)
                return note

            return self._submit(unknown)
        return self._submit(lambda: engine.run(self, stop=self._stop, source_names=[name],
                                               query_params=query_params))  # fmt: skip

    @property
    def live_connected(self) -> bool:
        """Whether the live channel is open right now (``live=True`` clients)."""
        return self._live is not None and self._live.connected.is_set()

    def _sync_names(self, names: list[str] | None) -> Any:
        """Sync the named sources (``None``: all), as a live event asks."""
        return self._submit(lambda: engine.run(self, stop=self._stop, source_names=names))

    async def do_sync_async(self, **kwargs: Any) -> SyncResult:
        """``await`` a full sync from asyncio code; it runs on the sync thread."""
        query_params = kwargs.get("query_params")
        only_changed = bool(kwargs.get("sync_only_changed_sources", False))
        return await self._await(
            lambda: engine.run(self, stop=self._stop, query_params=query_params, only_changed=only_changed)
        )

    async def _await(self, fn: Callable[[], SyncNotification]) -> SyncResult:
        threaded, self.threaded_mode = self.threaded_mode, True
        try:
            future = self._submit(fn)
        finally:
            self.threaded_mode = threaded
        result: SyncResult = await asyncio.wrap_future(future)
        return result

    def search(
        self,
        source_names: Any,
        *,
        from_: str = "search",
        search_params: Any = None,
        offset: int | None = None,
        max_results: int | None = None,
        progress_step: int | None = None,
        sync_changes: bool = False,
        callback: Callback | None = None,
        callback_data: Any = None,
    ) -> Any:
        """Search the backend of *source_names* and store the results locally (protocol.md §6).

        :param source_names: source names, model classes, or one of them.
        :param search_params: handed to the adapters' ``search`` (``search[key]=value``).
        :param progress_step: send ``in_progress`` every this many objects (default: per page).
        :param sync_changes: push the local changes of these sources first.
        :param callback: called with each notification of this search (one-shot).
        :returns: the final notification (``complete`` or ``error``, with ``search_params``).
        """
        single = isinstance(source_names, (str, type)) or hasattr(source_names, "_rhom")
        names = [_source_name(s) for s in ([source_names] if single else list(source_names))]
        self.stop_sync()

        def work() -> SyncNotification:
            from . import _search

            sync_run = engine.SyncRun(self, stop=self._stop)
            for source in sync_run.sources:
                source.properties.update(self._source_props.get(source.name, {}))
            notify.sync_started.send(self, sources=names, kind="search")
            try:
                note = _search.run(self, sync_run, names, from_=from_, search_params=search_params,
                                   offset=offset, max_results=max_results, progress_step=progress_step,
                                   sync_changes=sync_changes)  # fmt: skip
            except engine.StopRequested:
                note = SyncNotification(status="error", error_code=ErrorCode.CANCEL_BY_USER,
                                        error_message="the search was stopped")  # fmt: skip
            except SyncError as exc:
                if isinstance(exc, AuthError) and not isinstance(exc, NotLoggedInError):
                    self._session_expired()
                note = sync_run.error_notification(exc)
            params = {str(k): str(v) for k, v in (search_params or {}).items()}
            note = dataclasses.replace(note, search_params=params)
            if self._collected is not None:
                self._collected.append(note)
            notify.search_finished.send(self, notification=note)
            if callback is not None:
                try:
                    callback(note.with_data(callback_data))
                except Exception:
                    log.exception("a search callback raised")
            return note

        return self._submit(work)

    def stop_sync(self) -> None:
        """Stop a running login, sync or search at its next checkpoint."""
        if self._syncing.is_set():
            self._stop.set()

    # -- notifications ---------------------------------------------------------------------

    def set_notification(self, source: Any, callback: Callback, callback_data: Any = None) -> None:
        """Call *callback* with the notifications of *source* (one-shot) or ``"*"`` (all)."""
        name = "*" if source == "*" else _source_name(source)
        self._callbacks[name] = (callback, callback_data)

    def clear_notification(self, source: Any) -> None:
        name = "*" if source == "*" else _source_name(source)
        self._callbacks.pop(name, None)

    def _notify(self, note: SyncNotification, *, final: bool = False) -> None:
        if self._collected is not None:
            self._collected.append(note)
        if note.source_name is not None:
            model = _registry.get(note.source_name)
            notify.source_notification.send(model, notification=note)
        elif note.sync_type == "bulk":
            notify.bulk_progress.send(self, notification=note, bulk_status=note.bulk_status, partition=note.partition)
        else:
            notify.sync_finished.send(self, notification=note)
        target = note.source_name if note.source_name in self._callbacks else "*"
        entry = self._callbacks.get(target)
        if entry is None:
            return
        if target != "*" and final:
            self._callbacks.pop(target, None)  # per-source callbacks are one-shot
        callback, data = entry
        try:
            callback(note.with_data(data))
        except Exception:
            log.exception("a sync notification callback raised")

    def set_object_notification(self, callback: Callable[..., Any] | None) -> None:
        """Call ``callback(created, updated, deleted)`` (lists of :class:`ObjRef`) after pages."""
        self._object_callback = callback

    def add_object_notify(self, source: Any, object_id: str) -> None:
        self._tracked.add((_source_name(source), str(object_id)))

    def track_objects(self, records: Iterable[Any]) -> None:
        """Track these model objects (replacing the tracked set)."""
        self._tracked = {(type(r)._rhom.source_name, str(r.object)) for r in records}

    def clean_object_notify(self) -> None:
        """Forget the tracked objects."""
        self._tracked.clear()

    def _object_notify(self, source: SyncSource, applied: Any) -> None:
        def refs(ids: Iterable[str]) -> list[ObjRef]:
            return [ObjRef(source.id, source.name, i) for i in ids if (source.name, i) in self._tracked]

        created, updated, deleted = refs(applied.linked), refs(applied.inserted), refs(applied.deleted)
        if not (created or updated or deleted):
            return
        for ref in created:  # a linked object is now known under its server id
            self._tracked.discard((ref.source_name, ref.object))
            self._tracked.add((ref.source_name, applied.linked[ref.object]))
        notify.objects_changed.send(self, created=created, updated=updated, deleted=deleted)
        if self._object_callback is not None:
            self._object_callback(created, updated, deleted)

    # -- sources ------------------------------------------------------------------------

    def get_last_sync_object_count(self, source: Any) -> int:
        try:
            return self._last_counts.get(_source_name(source), 0)
        except (ConfigurationError, ValidationError):
            return 0

    def last_sync_stats(self, source: Any) -> engine.SourceStats:
        """Inserted, updated and deleted objects, errors and seconds of the source's last sync."""
        return self._last_stats.get(_source_name(source), engine.SourceStats())

    def source_options(self, source: Any) -> MutableMapping[str, str]:
        """The engine's per-source options (``full_update``, ``pass_through``, ``freezed``)."""
        return self._source_props.setdefault(_source_name(source), {})

    def set_source_property(self, source: Any, name: str, value: str) -> None:
        self.source_options(source)[name] = str(value)

    def get_source_property(self, source: Any, name: str) -> str:
        return self._source_props.get(_source_name(source), {}).get(name, "")

    def get_source_name_by_id(self, source_id: int) -> str | None:
        if source_id == -1:
            return "*"
        try:
            return _source_name(source_id)
        except ConfigurationError:
            return None

    # -- error resolution (rhom-api §2.4) --------------------------------------------------

    def on_sync_create_error(self, source: Any, objects: Any, action: str) -> None:
        _resolve.on_create_error(_model(source), objects, action)

    def on_sync_update_error(self, source: Any, objects: Any, action: str, rollback_objects: Any = None) -> None:
        _resolve.on_update_error(_model(source), objects, action, rollback_objects)

    def on_sync_delete_error(self, source: Any, objects: Any, action: str) -> None:
        _resolve.on_delete_error(_model(source), objects, action)

    def push_changes(self, source: Any) -> None:
        _model(source).push_changes()

    def unanswered_errors(self, source: Any = None) -> dict[str, dict[str, Any]]:
        """The server errors kept in the data folder until the app answers them, by
        source name, each in the ``server_errors`` shape of a notification.

        The server reports a refused change once; rhom keeps it (also across restarts)
        until ``on_sync_create_error``, ``on_sync_update_error`` or ``on_sync_delete_error``
        answers it, or a later push of the object goes through. Each entry also has
        ``"since"``, when it was first reported (an aware UTC datetime). Source errors
        (``query-error``, ...) are those of the source's last run; ``blob-error`` names
        files the server would not hand out, tried again at every run.

        :param source: one source (name, id or model class); ``None``: every synced one.

        .. versionadded:: 0.1
        """
        models = [_model(source)] if source is not None else [m for m in _runtime.current().models if m._rhom.is_sync]
        found: dict[str, dict[str, Any]] = {}
        for model in models:
            kept = _unanswered.of_source(SyncSource(model))
            if kept:
                found[model._rhom.source_name] = _unanswered.as_server_errors(kept)
        return found

    # -- internals used by the engine -------------------------------------------------------

    def _run_bulk_if_needed(self, sync_run: engine.SyncRun) -> None:
        for source in sync_run.sources:
            source.properties.update(self._source_props.get(source.name, {}))
        if _state.get_config("bulksync_state") in ("0", "2"):  # 2: the blob phase is left
            from . import _bulk

            _bulk.run(self, sync_run)

    def _recover_unknown_client(self) -> None:
        _recover.reset_keeping_local_changes()

    def _ensure_poller(self) -> None:
        if not self.threaded_mode or self._poll_interval <= 0 or self._closed.is_set():
            return
        if self._poller is not None and self._poller.is_alive():
            return
        self._poller = threading.Thread(target=self._poll, name="rhom-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.wait(self._poll_interval if self._poll_interval > 0 else 1):
            if self._poll_interval > 0 and self.is_logged_in() and not self.is_syncing():
                try:
                    self.do_sync()
                except RuntimeError:  # the executor shut down meanwhile
                    return


def _model(source: Any) -> Any:
    name = _source_name(source)
    model = _registry.get(name)
    if model is None:
        raise ConfigurationError(f"unknown source {name!r}")
    return model


def search(models: Any = None, **options: Any) -> Any:
    """Search several models' backends at once: ``rhom.search(models=[Product, Customer], ...)``.

    :raises ValidationError: *models* is missing or empty.
    :raises ConfigurationError: a model is unknown, or no SyncClient exists yet.
    """
    if not models:
        raise ValidationError("rhom.search: models=[...] is required")
    names = [_source_name(m) for m in models]
    for name in names:
        _model(name)
    if default_client is None:
        raise ConfigurationError("rhom.search: create a rhom.SyncClient first")
    return default_client.search(names, **options)


def _check_query_params(query_params: Any) -> None:
    """Refuse, in the caller's thread, query params that cannot be sent."""
    if query_params is None or isinstance(query_params, str):
        return
    if not isinstance(query_params, Mapping):
        raise ValidationError(f"query_params: expected a string or a mapping, got {type(query_params).__name__}")
    for key in query_params:
        protocol.query_key(key)
