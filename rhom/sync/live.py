"""The live channel: the server tells a connected client when to sync.

``rhom.SyncClient(..., live=True)`` keeps one server-sent-events stream open to
rhom.server (``GET /rc/v1/app/live``) on a daemon thread. A ping (the server's
``POST /rc/v1/users/ping`` or ``rhom.server.live.ping``) fires the :data:`~rhom.signals.ping`
signal and syncs the sources it names (all when it names none); a backend-driven change
syncs the changed source. The stream reconnects with exponential backoff and resumes
after the last event it saw, so a ping sent while the connection was down still arrives.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rhom.exceptions import SyncError
from rhom.sync import _state, engine, protocol
from rhom.sync.notify import ping as ping_signal
from rhom.sync.transport import LineStream, Transport

if TYPE_CHECKING:
    from rhom.sync.client import SyncClient

__all__ = ["Event", "LiveChannel", "parse_events"]

log = logging.getLogger("rhom.sync")

#: Seconds of silence after which the stream counts as dead (the server sends a
#: keep-alive every 15 s).
IDLE = 45.0


@dataclass
class Event:
    """One server-sent event."""

    name: str = "message"
    id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """Server-sent events from the stream's lines (comments and ``retry`` skipped)."""
    event, data = Event(), list[str]()
    for line in lines:
        if not line:
            if data or event.id is not None:
                try:
                    parsed = json.loads("\n".join(data)) if data else {}
                except ValueError:
                    parsed = {}
                event.data = parsed if isinstance(parsed, dict) else {}
                yield event
            event, data = Event(), list[str]()
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event.name = value
        elif name == "id":
            event.id = value
        elif name == "data":
            data.append(value)


class LiveChannel:
    """Keeps a client's live channel open and syncs when the server says so.

    :param client: the sync client to sync with.
    :param min_backoff: seconds before the first reconnection attempt.
    :param max_backoff: the longest wait between attempts.
    """

    def __init__(self, client: SyncClient, *, min_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.client = client
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.last_event_id: str | None = None
        self.connected = threading.Event()
        self._closed = threading.Event()
        self._stream: LineStream | None = None
        self._thread = threading.Thread(target=self._run, name="rhom-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop: close the stream and wait for the thread."""
        self._closed.set()
        stream = self._stream
        if stream is not None:
            stream.abort()  # unblocks the read
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = self.min_backoff
        while not self._closed.is_set():
            info = self.client._client_info()
            if not info.get("session") or not info.get("client_id"):
                self._closed.wait(1.0)  # not logged in, or no client id yet
                continue
            try:
                self._listen(str(info["session"]), str(info["client_id"]))
                backoff = self.min_backoff  # the server ended a stream that worked
            except SyncError as exc:
                if self.connected.is_set():
                    backoff = self.min_backoff
                log.info("rhom.sync: live channel: %s; reconnecting in %.1f s", exc, backoff)
            except Exception:  # a bug here must not end the channel for good
                log.exception("rhom.sync: live channel failed; reconnecting")
            finally:
                self.connected.clear()
            if self._closed.wait(backoff * random.uniform(0.75, 1.25)):
                break
            backoff = min(backoff * 2, self.max_backoff)

    def _listen(self, session: str, client_id: str) -> None:
        client = self.client
        transport = Transport(client.sync_server, session=session, timeout=client._timeout,
                              transport=client._httpx_transport, ssl_verify_peer=client.ssl_verify_peer)  # fmt: skip
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else None
        try:
            with transport.lines(protocol.live_events(client_id), idle=IDLE, headers=headers) as stream:
                self._stream = stream
                if self._closed.is_set():
                    return  # closed while it connected
                for event in parse_events(stream):
                    if self._closed.is_set():
                        return
                    if event.id is not None:
                        self.last_event_id = event.id
                        # connected from the first event on: the server has fixed the
                        # point after which it sends every event (headers come earlier)
                        self.connected.set()
                    self._handle(event)
        finally:
            self._stream = None
            transport.close()

    def _handle(self, event: Event) -> None:
        if event.name not in ("ping", "changed"):
            return
        sources = event.data.get("sources")
        names = [str(s) for s in sources] if isinstance(sources, list) and sources else None
        if event.name == "ping":
            fields = ("message", "badge", "sound", "vibrate")
            ping_signal.send(self.client, sources=names, **{f: event.data.get(f) for f in fields})
        self._sync(names)

    def _sync(self, names: list[str] | None) -> None:
        client = self.client
        if names is not None:
            known = {s.name for s in engine.sync_sources()}
            names = [n for n in names if n in known]
            if not names:
                return  # none of this app's sources
        if not _state.client_info().get("session"):
            return
        try:
            outcome = client._sync_names(names)
            if client.threaded_mode:
                outcome.result()
        except RuntimeError:  # the client closed meanwhile
            self._closed.set()
        except Exception:  # the sync reports its own errors; the channel goes on
            log.exception("rhom.sync: sync after a live event failed")
