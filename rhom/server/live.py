"""Push-enabled apps: pings, and a live channel for clients without a phone push service.

RhoConnect apps are *push-enabled*: when data changed, the backend calls the ping API and
the device syncs at once instead of waiting for its poll interval. rhom.server delivers a
ping two ways:

* to every client of the user that keeps the **live channel** open: one long-lived
  server-sent-events stream, ``GET /rc/v1/app/live`` (session cookie and client id, like
  a query). ``rhom.SyncClient(..., live=True)`` keeps it open;
* to clients registered (``clientregister``) with a ``device_type`` for which the app has
  a :class:`PushSender` (a phone push service such as FCM or APNs; rhom ships none).

Backend-driven changes (``rhom.server.backend`` and the ``push_objects`` family of
routes) reach live clients the same way, as a ``changed`` event naming the source.

Events are kept per stream (one per user, and ``app`` for app-partition sources), the
newest :data:`KEEP_EVENTS` of each, in the store: a client that reconnects with the
``Last-Event-ID`` it last saw receives what it missed; one that was away longer gets a
``changed`` event for every source (sync everything) instead.

A stream lasts as long as the session it was opened with: when the user is deleted or
signed out everywhere (:func:`revoke`), its open streams end at once on this process,
and within :data:`WATCH_INTERVAL` on the others. Each process keeps at most
``live_streams_per_user`` streams of one user and ``live_streams_per_client`` of one
client id open; more are refused with 429 (the file descriptors of a process are few).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from rhom.server import _keys as keys
from rhom.server._http import Session
from rhom.server._slots import waiting
from rhom.server._state import State, dumps, is_current, loads, partition_key

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from rhom.server._call import Server

__all__ = [
    "KEEP_EVENTS",
    "Hub",
    "LiveResponse",
    "PingResult",
    "PushSender",
    "close_streams",
    "ping",
    "publish",
    "revoke",
]

logger = logging.getLogger("rhom.server")

#: Events kept per stream for clients that reconnect.
KEEP_EVENTS = 100
#: Seconds between keep-alive comments on an idle stream (proxies close silent ones).
KEEPALIVE = 15.0
#: Seconds between checks for events written by other server processes.
WATCH_INTERVAL = 0.5
APP_STREAM = "app"
_NO_EVENTS: dict[str, Any] = {"n": 0, "e": []}
_COUNTER = keys.event_counter()
PING_FIELDS = ("message", "badge", "sound", "vibrate")


def user_stream(user: str) -> str:
    return partition_key("user", user)


class PushSender(Protocol):
    """Delivers a ping to a device through a phone push service.

    Registered per ``device_type`` with ``create_app(..., push_senders={"ANDROID": s})``.
    ``send`` runs in a worker thread; it returns ``True`` when the service took the
    message and raises or returns ``False`` when it did not.
    """

    def send(self, client_id: str, device: Mapping[str, str], payload: Mapping[str, Any]) -> bool: ...


@dataclass
class PingResult:
    """What :func:`ping` did: clients reached on the live channel's users, sent by push
    senders, and the clients whose sender failed (``{client_id: reason}``)."""

    users: list[str]
    sent: list[str]
    failed: dict[str, str]


def publish(state: State, streams: Iterable[str], event: Mapping[str, Any], hub: Hub | None = None) -> None:
    """Append ``event`` to each stream and wake the live connections that read them."""
    written: list[str] = []
    for stream in dict.fromkeys(streams):
        with state.events_lock(stream):
            record = loads(state.store.get(keys.events(stream)), {"n": 0, "e": []})
            number = int(record["n"]) + 1
            events = [*record["e"], [number, dict(event, at=round(time.time(), 3))]][-KEEP_EVENTS:]
            state.store.set(keys.events(stream), dumps({"n": number, "e": events}))
        written.append(stream)
    with state.event_counter_lock():
        counter = int(state.store.get(_COUNTER) or b"0") + 1
        state.store.set(_COUNTER, str(counter).encode())
    if hub is not None:
        hub.wake(written, counter)


def revoke(server: Server, user: str) -> None:
    """End the open streams of ``user``, whose sessions were just revoked (the user was
    deleted or signed out everywhere): at once on this process, and within
    :data:`WATCH_INTERVAL` on the others, which see the event counter move."""
    state = server.state
    with state.event_counter_lock():
        counter = int(state.store.get(_COUNTER) or b"0") + 1
        state.store.set(_COUNTER, str(counter).encode())
    server.hub.wake([user_stream(user)], counter)


def ping(
    app: Starlette | Request,
    users: str | Sequence[str],
    *,
    sources: Sequence[str] | None = None,
    message: str | None = None,
    badge: str | int | None = None,
    sound: str | None = None,
    vibrate: str | int | None = None,
) -> PingResult:
    """Ping ``users``: their live clients, and their registered devices that have a sender.

    :param sources: the sources to sync (``None``: all).
    :raises ValueError: a user name is empty, or a source is unknown.
    """
    from rhom.server._call import server_of  # _call needs this module's types

    server = server_of(app)
    names = [users] if isinstance(users, str) else list(users)
    if not names or any(not isinstance(u, str) or not u for u in names):
        raise ValueError(f"rhom.server.ping: users must be non-empty names, got {users!r}")
    unknown = [s for s in sources or () if s not in server.adapters]
    if unknown:
        raise ValueError(f"rhom.server.ping: unknown source(s) {', '.join(map(repr, unknown))}")
    return send_ping(server, names, ping_payload(sources, message, badge, sound, vibrate))


def ping_payload(
    sources: Sequence[str] | None,
    message: Any = None,
    badge: Any = None,
    sound: Any = None,
    vibrate: Any = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "ping", "sources": list(sources) if sources else None}
    for name, value in zip(PING_FIELDS, (message, badge, sound, vibrate), strict=True):
        if value is not None:
            payload[name] = str(value)
    return payload


def send_ping(server: Server, users: Sequence[str], payload: Mapping[str, Any]) -> PingResult:
    """Publish ``payload`` to each user's live stream, then to each device's sender."""
    state, senders = server.state, server.push_senders
    publish(state, [user_stream(u) for u in users], payload, server.hub)
    sent: list[str] = []
    failed: dict[str, str] = {}
    for user in users:
        for client_id in state.client_ids(user):
            device = state.client(client_id) or {}
            sender = senders.get(str(device.get("device_type", "")))
            if sender is None or not device.get("device_pin"):
                continue
            try:
                with waiting():  # a push service is a network call
                    ok = sender.send(client_id, {k: str(v) for k, v in device.items()}, payload)
            except Exception as exc:  # a push service failure is reported, never raised
                logger.warning("rhom.server: ping of client %s failed: %s", client_id, exc)
                failed[client_id] = str(exc) or type(exc).__name__
                continue
            if ok:
                sent.append(client_id)
            else:
                failed[client_id] = "refused by the push sender"
    return PingResult(list(users), sent, failed)


#: Every Hub of this process, for :func:`close_streams`.
_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()


def close_streams() -> None:
    """End every live stream of this process at once (from any thread, a signal handler
    too): the server is stopping, and a stream never ends by itself. New ones end at once."""
    for hub in list(_hubs):
        hub.close()


class Hub:
    """The live connections of one server process, and how they are woken.

    A publish in this process wakes the connections of its streams at once. Events that
    another process wrote (Redis, ``--workers N``) are noticed within
    :data:`WATCH_INTERVAL` by watching one counter key, which wakes every connection.
    A woken connection reads its user's record with its events, and ends when its
    session is no longer the user's (:func:`revoke`).
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen = b""
        self._watcher: asyncio.Task[None] | None = None
        # One read per set of keys and wake-up, shared by the connections woken together.
        # A read is shared only with connections woken before it started (generation), so
        # that none misses an event written after a read it joins.
        self._generation = 0
        self._reads: dict[tuple[str, ...], tuple[int, asyncio.Future[list[bytes | None]]]] = {}
        # streams open on this process, per user and per client id (reserve/release)
        self._open = threading.Lock()
        self._per_user: Counter[str] = Counter()
        self._per_client: Counter[str] = Counter()
        self._closing = False
        _hubs.add(self)

    def close(self) -> None:
        """End this hub's streams at once (see :func:`close_streams`)."""
        self._closing = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def wake_all() -> None:
            for waiters in list(self._waiters.values()):
                for waiter in waiters:
                    waiter.set()

        loop.call_soon_threadsafe(wake_all)

    @property
    def connections(self) -> int:
        return len({id(e) for events in self._waiters.values() for e in events})

    def reserve(self, user: str, client_id: str, *, per_user: int, per_client: int) -> str | None:
        """Count one more open stream of ``user`` and ``client_id``, unless that makes
        more than ``per_user`` or ``per_client`` (``0``: no limit); then say which
        (``"user"`` or ``"client"``) and count nothing. :meth:`release` undoes it."""
        with self._open:
            if per_client and self._per_client[client_id] >= per_client:
                return "client"
            if per_user and self._per_user[user] >= per_user:
                return "user"
            self._per_user[user] += 1
            self._per_client[client_id] += 1
        return None

    def release(self, user: str, client_id: str) -> None:
        with self._open:
            for counts, name in ((self._per_user, user), (self._per_client, client_id)):
                counts[name] -= 1
                if counts[name] <= 0:
                    del counts[name]

    def wake(self, streams: Iterable[str], counter: int) -> None:
        """Wake the connections of ``streams`` (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        names = list(streams)

        def wake() -> None:
            if self._seen == str(counter - 1).encode():
                self._seen = str(counter).encode()  # nobody else wrote: no need to wake all
            self._generation += 1
            for name in names:
                for waiter in self._waiters.get(name, ()):
                    waiter.set()

        loop.call_soon_threadsafe(wake)

    async def stream(self, session: Session, last_event_id: str | None) -> AsyncIterator[str]:
        """The server-sent events of one connection, from after ``last_event_id``, for
        as long as ``session`` is its user's."""
        self._loop = asyncio.get_running_loop()
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        names = (user_stream(session.login), APP_STREAM)
        # the user's events and record are read together, the app stream's apart (shared)
        mine, shared = (keys.events(names[0]), keys.user(session.login)), (keys.events(APP_STREAM),)
        waiter = asyncio.Event()
        for name in names:
            self._waiters.setdefault(name, set()).add(waiter)
        try:
            records = await run_in_threadpool(self._records, names)
            positions = _parse_id(last_event_id)
            current = [int(r["n"]) for r in records]
            yield "retry: 1000\n\n"
            if positions is None:
                positions = current
            elif any(_missed(r, p) for r, p in zip(records, positions, strict=True)):
                positions = current  # away too long: the client syncs everything
                yield _event(_id(positions), "changed", {"type": "changed", "sources": None})
            else:
                for text in _new_events(records, positions):
                    yield text
                positions = current
            yield _event(_id(positions), "hello", {"type": "hello"})
            while not self._closing:
                try:
                    await asyncio.wait_for(waiter.wait(), KEEPALIVE)
                except asyncio.TimeoutError:  # a quiet stream checks its session too
                    (user,) = await self._shared_read(mine[1:])
                    if not is_current(loads(user), session):
                        return
                    yield ": keepalive\n\n"
                    continue
                waiter.clear()
                if self._closing:
                    return  # the server stops: the client reconnects to the next one
                events, user = await self._shared_read(mine)
                if not is_current(loads(user), session):
                    return  # deleted or signed out: not one more event for this session
                (app,) = await self._shared_read(shared)
                records = [loads(events, _NO_EVENTS), loads(app, _NO_EVENTS)]
                for text in _new_events(records, positions):
                    yield text
                positions = [max(p, int(r["n"])) for r, p in zip(records, positions, strict=True)]
        finally:
            for name in names:
                waiters = self._waiters.get(name)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[name]

    async def _shared_read(self, keys: tuple[str, ...]) -> list[bytes | None]:
        """The values of ``keys``, read once for all the connections woken together."""
        generation = self._generation
        started, pending = self._reads.get(keys, (-1, None))
        if pending is None or started < generation:
            pending = asyncio.ensure_future(run_in_threadpool(self.state.store.get_many, keys))
            self._reads[keys] = (generation, pending)
            pending.add_done_callback(lambda done: self._forget_read(keys, done))
        return await asyncio.shield(pending)

    def _forget_read(self, keys: tuple[str, ...], done: asyncio.Future[list[bytes | None]]) -> None:
        if self._reads.get(keys, (0, None))[1] is done:
            del self._reads[keys]

    def _records(self, names: Sequence[str]) -> list[dict[str, Any]]:
        raws = self.state.store.get_many(keys.events(n) for n in names)
        return [loads(raw, _NO_EVENTS) for raw in raws]

    async def _watch(self) -> None:
        """Wake every connection when another process wrote events."""
        self._seen = await run_in_threadpool(self._counter)
        while self._waiters:
            await asyncio.sleep(WATCH_INTERVAL)
            seen = await run_in_threadpool(self._counter)
            if seen != self._seen:
                self._seen = seen
                self._generation += 1
                for waiters in list(self._waiters.values()):
                    for waiter in waiters:
                        waiter.set()

    def _counter(self) -> bytes:
        return self.state.store.get(_COUNTER) or b"0"


class LiveResponse(StreamingResponse):
    """A live stream that gives its :meth:`Hub.reserve` place back when it ends, however
    it ends (the client left, the server stops, the stream never started)."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **options: Any) -> None:
        super().__init__(content, **options)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _parse_id(text: str | None) -> list[int] | None:
    """``"12.5"``: the user stream's event 12 and the app stream's event 5."""
    if not text:
        return None
    parts = text.strip().split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def _id(positions: Sequence[int]) -> str:
    return ".".join(str(p) for p in positions)


def _missed(record: Mapping[str, Any], position: int) -> bool:
    """Whether events after ``position`` were dropped (or the stream was reset)."""
    if position > int(record["n"]):
        return True
    events = record["e"]
    return bool(events) and int(events[0][0]) > position + 1


def _new_events(records: Sequence[Mapping[str, Any]], positions: Sequence[int]) -> Iterable[str]:
    """The events after ``positions``, each with the id to resume after it."""
    moved = list(positions)
    for index, record in enumerate(records):
        for number, event in record["e"]:
            if int(number) > moved[index]:
                moved[index] = int(number)
                yield _event(_id(moved), str(event.get("type", "message")), event)


def _event(event_id: str, name: str, data: Mapping[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
