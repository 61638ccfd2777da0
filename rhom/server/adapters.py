"""Source adapters: the seam between rhom.server and an application's backend.

An application writes one :class:`SourceAdapter` subclass per source, with the methods a
RhoConnect source adapter has (protocol.md §13)::

    class Product(SourceAdapter):
        poll_interval = 60

        def query(self, params):
            return {str(row.id): {"name": row.name, "price": str(row.price)} for row in ...}

        def create(self, attrs):
            return str(backend.insert(attrs))

The server calls the hooks from worker threads, one request at a time per client, and
sets :attr:`SourceAdapter.current_user` for the duration of each call. Whatever a hook
raises is reported to the client as the protocol's ``login-error``, ``query-error``,
``create-error`` ... entries, never as a crash; raise :class:`LoginError` from
``authenticate`` to refuse a login with your own message.
"""

from __future__ import annotations

import contextvars
import dataclasses
import secrets
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rhom.server import _keys as keys
from rhom.server._slots import waiting

if TYPE_CHECKING:
    from rhom.server.store import Store

__all__ = ["LoginError", "MemoryAdapter", "SourceAdapter", "Upload"]

Objects = Mapping[str, Mapping[str, Any]]


class LoginError(Exception):
    """Raised by an ``authenticate`` callable (or ``login``) to refuse with a message."""


@dataclass(frozen=True)
class Upload:
    """One uploaded blob file of a push (protocol.md §5.3).

    :param filename: the file name the client sent.
    :param content_type: the part's content type.
    :param data: the file content.
    """

    filename: str
    content_type: str
    data: bytes


class BlobQuotaError(Exception):
    """A saved blob would take its partition over the ``blob_quota`` setting."""


@dataclass(frozen=True)
class _CallContext:
    user: str
    base_url: str
    store: Store | None
    create_key: str | None = None
    partition: str = ""  # "u/<user>" or "app": whose blobs save_blob writes
    blob_quota: int = 0  # bytes of saved blobs the partition may hold (0: no limit)
    saved: list[tuple[str, int]] | None = None  # blobs saved by the entry being pushed


_context: contextvars.ContextVar[_CallContext] = contextvars.ContextVar("rhom_server_adapter")


@contextmanager
def calling_as(
    user: str, base_url: str, store: Store | None, partition: str = "", *, blob_quota: int = 0
) -> Iterator[None]:
    """Run adapter hooks on behalf of ``user`` (used by the server, not by adapters).

    :param partition: the partition key of the source (``u/<user>`` or ``app``).
    :param blob_quota: bytes of blobs :meth:`SourceAdapter.save_blob` may keep for the
        partition (``0``: no limit).
    """
    token = _context.set(_CallContext(user, base_url, store, partition=partition, blob_quota=blob_quota))
    try:
        with waiting():  # adapter hooks may wait on a backend: other requests go on
            yield
    finally:
        _context.reset(token)


@contextmanager
def creating(temporary_id: str) -> Iterator[None]:
    """Run one ``create`` with its idempotency key (used by the server, not by adapters)."""
    outer = _context.get()
    key = f"{urllib.parse.quote(outer.user, safe='')}/{temporary_id}"
    token = _context.set(dataclasses.replace(outer, create_key=key))
    try:
        yield
    finally:
        _context.reset(token)


@contextmanager
def keeping_blobs() -> Iterator[None]:
    """Run one pushed create or update (used by the server): the blobs ``save_blob``
    stores meanwhile are deleted again, and given back to the quota, when it raises, so
    that a failed push leaves no file that nothing names."""
    outer = _context.get()
    saved: list[tuple[str, int]] = []
    token = _context.set(dataclasses.replace(outer, saved=saved))
    try:
        yield
    except BaseException:
        if outer.store is not None and saved:
            outer.store.set_many({key: None for key, _ in saved})
            outer.store.incr(quota_key(outer.partition), -sum(size for _, size in saved))
        raise
    finally:
        _context.reset(token)


def quota_key(partition: str) -> str:
    """Store key of the counter of bytes saved by :meth:`SourceAdapter.save_blob` for
    ``partition`` (what ``blob_quota`` limits)."""
    return keys.blob_quota(partition)


def blob_key(partition: str, name: str) -> str:
    """Store key of a blob saved by :meth:`SourceAdapter.save_blob` for ``partition``
    (``u/<user>`` or ``app``): only that user (or, for ``app``, any user) downloads it."""
    return keys.blob(partition, name)


class SourceAdapter:
    """Base class of a source: override the hooks your backend supports.

    Class attributes are the per-source settings of RhoConnect:

    * ``name``: the source name on the wire (default: the class name);
    * ``poll_interval``: seconds the source's data stays fresh (``0``: query on every
      sync request; ``-1``: never query, data only through pushes and
      :mod:`rhom.server.backend`);
    * ``partition``: ``"user"`` (one data set per user) or ``"app"`` (shared);
    * ``pass_through``: keep no server copy, page the whole query result every time;
    * ``priority`` and ``sync_type``: written into bulk files (``sources`` table);
    * ``schema``: a fixed schema (``{"version": "1.0", "property": {...}}``) or ``None``.
    """

    name: str = ""
    poll_interval: int = 300
    partition: Literal["user", "app"] = "user"
    pass_through: bool = False
    priority: int = 3
    sync_type: str = "incremental"
    schema: ClassVar[Mapping[str, Any] | None] = None

    def __init__(self) -> None:
        if not self.name:
            self.name = type(self).__name__

    @property
    def current_user(self) -> str:
        """The user the current hook call runs for."""
        return _context.get().user

    @property
    def idempotency_key(self) -> str | None:
        """During :meth:`create`, a key naming this create: the user and the client's
        temporary id. A create whose reply was lost, or that a client sends again after
        losing its client id, comes back with the same key; a backend that stores the key
        with the record (unique) and returns the first record's id for a known key makes
        the create happen once, whatever fails between the backend and the client; a
        repeated create carries the client's current attributes (edits made since the
        first attempt), so apply them to that record. ``None`` outside ``create``."""
        return _context.get().create_key

    def login(self) -> None:
        """Log in to the backend before a batch of calls; raise to report ``login-error``."""

    def query(self, params: Mapping[str, Any] | None) -> Objects:
        """Return the complete data set ``{id: {attr: value}}`` (values become strings)."""
        return {}

    def changes(
        self, cursor: str | None
    ) -> (
        tuple[Mapping[str, Mapping[str, Any] | None], str]
        | tuple[Mapping[str, Mapping[str, Any] | None], str, bool]
        | None
    ):
        """Optional, instead of ``query``: the objects changed since ``cursor``.

        Return ``(changed, new_cursor)``: ``{id: attrs}`` with the full current attributes
        of each object created or changed since ``cursor``, ``{id: None}`` for each one
        deleted, and the cursor to pass next time (any string: a sequence number, a
        timestamp). ``cursor`` is ``None`` the first time (and after the server lost its
        store): return everything then. The server writes just those objects into the
        change log, so a refresh costs what changed, not the whole data set. Return
        ``None`` (the default) to have ``query`` run instead.

        Return ``(objects, new_cursor, True)`` when ``objects`` is the complete data set
        (a first read, or one after the backend lost track of what changed, say): the
        server then replaces what it holds with ``objects``, deleting every object it
        holds that is not among them, as after ``query``, and keeps ``new_cursor`` for
        the next call. The adapter need not know what the server holds.

        .. versionchanged:: 0.2 the third item, ``complete``.
        """
        return None

    def search(self, params: Mapping[str, Any] | None) -> Objects:
        """Return the objects matching ``params`` (the request's ``search[...]`` hash)."""
        return {}

    def create(self, attrs: Mapping[str, str]) -> str | None:
        """Create an object and return its backend id (``None``: the client drops it)."""
        raise NotImplementedError(f"{self.name} does not support create")

    def update(self, attrs: Mapping[str, str]) -> None:
        """Update object ``attrs["id"]`` with the other attributes."""
        raise NotImplementedError(f"{self.name} does not support update")

    def delete(self, attrs: Mapping[str, str]) -> None:
        """Delete object ``attrs["id"]``."""
        raise NotImplementedError(f"{self.name} does not support delete")

    def logoff(self) -> None:
        """Log off after a batch; raise to report ``logoff-error``."""

    def open(self, app: Any) -> None:
        """Called once when ``app`` (the Starlette app :func:`rhom.server.create_app`
        made) starts serving, in each server process, before its first request: start
        what the source needs while it serves (a pool, a watching thread). Raising stops
        the start. The default does nothing."""

    def close(self) -> None:
        """Called once when the app stops serving (after the last request): let go of
        what :meth:`open` or the hooks took. An exception is logged, and the others still
        close. The default does nothing."""

    def metadata(self) -> str | None:
        """Return the source's metadata as a JSON string, or ``None`` (protocol.md §9.1)."""
        return None

    def store_blob(self, obj: dict[str, str], field: str, upload: Upload) -> str:
        """Keep an uploaded file and return the value to store in ``field``.

        ``obj`` is the object being created or updated, itself: attributes set on it
        (``obj["filename"] = upload.filename``, say) go into the record with it, and
        reach the clients like any other attribute. The default saves the file in the
        server store (:meth:`save_blob`), so that it can be downloaded again from
        :meth:`blob_url`.
        """
        return self.save_blob(upload)

    def save_blob(self, upload: Upload) -> str:
        """Save ``upload`` in the server store; return its name ``<32 hex>-<filename>``.

        The file belongs to the source's partition: for a ``"user"`` source only that
        user's sessions can download it; 128 random bits make the name unguessable. The
        partition's files count against the ``blob_quota`` setting; past it this raises,
        and the pushed create or update fails with the message. A file saved for a
        create or update that then fails is deleted again.
        """
        context = _context.get()
        safe = urllib.parse.quote(upload.filename.rsplit("/", 1)[-1], safe="._-") or "blob"
        name = f"{secrets.token_hex(16)}-{safe}"
        store, size = context.store, len(upload.data)
        if store is None:
            return name
        used = store.incr(quota_key(context.partition), size)
        if context.blob_quota and used > context.blob_quota:
            store.incr(quota_key(context.partition), -size)
            raise BlobQuotaError(f"blob quota exceeded: {context.blob_quota} bytes of files per user")
        key = blob_key(context.partition, name)
        store.set(key, upload.data)
        if context.saved is not None:
            context.saved.append((key, size))
        return name

    def blob_url(self, name: str) -> str:
        """The absolute download URL of a blob saved by :meth:`save_blob`."""
        base = _context.get().base_url.rstrip("/")
        return f"{base}/rc/v1/blobs/{urllib.parse.quote(name, safe='')}"


class MemoryAdapter(SourceAdapter):
    """A source over an in-memory dict, for tests, demos and benchmarks.

    :param name: the source name.
    :param data: initial objects ``{id: {attr: value}}`` (copied).
    :param blob_fields: attributes holding saved blob names; pages send them as
        ``<attr>-rhoblob`` download URLs (protocol.md §8.1).

    :param incremental: answer :meth:`changes` from a journal of the changes made through
        :meth:`put`, :meth:`remove`, :meth:`replace` and the pushed creates, updates and
        deletes, so refreshes cost what changed (assignments to :attr:`data` itself are
        then not seen).

    :meth:`fail` makes a hook raise until :meth:`heal`, so tests can produce every
    error page of the protocol with the real server.
    """

    def __init__(
        self,
        name: str,
        data: Objects | None = None,
        *,
        poll_interval: int = 0,
        partition: Literal["user", "app"] = "user",
        pass_through: bool = False,
        blob_fields: tuple[str, ...] = (),
        incremental: bool = False,
    ) -> None:
        super().__init__()
        self.incremental = incremental
        self._journal: dict[str, int] = {}  # id -> number of its latest change
        self._changed = 0
        self.name = name
        self.poll_interval = poll_interval
        self.partition = partition
        self.pass_through = pass_through
        self.blob_fields = blob_fields
        self.data: dict[str, dict[str, str]] = {
            str(k): {a: str(v) for a, v in obj.items()} for k, obj in (data or {}).items()
        }
        self.faults: dict[str, str] = {}
        self.calls: list[str] = []
        self.created_keys: dict[str, str] = {}  # idempotency key -> id of the record made
        self._lock = threading.Lock()
        self._next_id = 1 + max((int(k) for k in self.data if k.isdigit()), default=0)

    def replace(self, data: Objects) -> None:
        """Replace every object; new ids continue after the largest numeric one."""
        with self._lock:
            for oid in set(self.data) | {str(k) for k in data}:
                self._note(oid)
            self.data = {str(k): {a: str(v) for a, v in obj.items()} for k, obj in data.items()}
            self._next_id = 1 + max((int(k) for k in self.data if k.isdigit()), default=0)

    def put(self, oid: str, attrs: Mapping[str, Any]) -> None:
        """Create or replace one object (journaled for :meth:`changes`)."""
        with self._lock:
            self.data[str(oid)] = {a: str(v) for a, v in attrs.items()}
            self._note(str(oid))

    def remove(self, oid: str) -> None:
        """Delete one object if present (journaled for :meth:`changes`)."""
        with self._lock:
            if self.data.pop(str(oid), None) is not None:
                self._note(str(oid))

    def _note(self, oid: str) -> None:
        self._changed += 1
        self._journal[oid] = self._changed

    def changes(self, cursor: str | None) -> tuple[Mapping[str, Mapping[str, Any] | None], str] | None:
        """With ``incremental=True``: the objects changed since ``cursor`` (``None`` for
        deleted ones); every object when ``cursor`` is ``None``."""
        if not self.incremental:
            return None
        self._enter("query")
        with self._lock:
            if cursor is None:
                ids: set[str] = set(self.data)
            else:
                since = int(cursor)
                ids = {oid for oid, n in self._journal.items() if n > since}
            changed = {oid: self._outgoing(self.data[oid]) if oid in self.data else None for oid in ids}
            return changed, str(self._changed)

    def fail(self, hook: str, message: str | None = None) -> None:
        """Make ``hook`` (``"query"``, ``"create"``, ...) raise ``message`` until healed."""
        self.faults[hook] = message or f"{self.name} {hook} failed"

    def heal(self) -> None:
        """Stop every failure switched on by :meth:`fail`."""
        self.faults.clear()

    def _enter(self, hook: str) -> None:
        self.calls.append(hook)
        if hook in self.faults:
            raise RuntimeError(self.faults[hook])

    def login(self) -> None:
        self._enter("login")

    def logoff(self) -> None:
        self._enter("logoff")

    def query(self, params: Mapping[str, Any] | None) -> Objects:
        self._enter("query")
        with self._lock:
            return {k: self._outgoing(obj) for k, obj in self.data.items()}

    def _outgoing(self, obj: dict[str, str]) -> dict[str, str]:
        if not self.blob_fields:
            return dict(obj)
        out: dict[str, str] = {}
        for attr, value in obj.items():
            if attr in self.blob_fields and value:
                out[attr + "-rhoblob"] = self.blob_url(value)
            else:
                out[attr] = value
        return out

    def search(self, params: Mapping[str, Any] | None) -> Objects:
        self._enter("search")
        wanted = {str(k): str(v).lower() for k, v in (params or {}).items()}
        with self._lock:
            return {
                k: dict(obj)
                for k, obj in self.data.items()
                if all(v in obj.get(a, "").lower() for a, v in wanted.items())
            }

    def create(self, attrs: Mapping[str, str]) -> str | None:
        """Create an object; a create whose :attr:`idempotency_key` it has seen updates
        the first record with ``attrs`` (the client's current version) and returns its id
        instead of making a second one."""
        self._enter("create")
        key = self.idempotency_key
        with self._lock:
            known = self.created_keys.get(key) if key is not None else None
            if known is not None and known in self.data:  # made before: it is the client's version now
                self.data[known].update({a: v for a, v in attrs.items() if a != "id"})
                self._note(known)
                return known
            new_id = str(self._next_id)
            self._next_id += 1
            self.data[new_id] = {a: v for a, v in attrs.items() if a != "id"}
            self._note(new_id)
            if key is not None:
                self.created_keys[key] = new_id
        return new_id

    def update(self, attrs: Mapping[str, str]) -> None:
        """Update an existing object; an unknown id raises (the client gets an update-error)."""
        self._enter("update")
        with self._lock:
            obj = self.data.get(attrs["id"])
            if obj is None:
                raise KeyError(f"{self.name} {attrs['id']} does not exist")
            obj.update({a: v for a, v in attrs.items() if a != "id"})
            self._note(attrs["id"])

    def delete(self, attrs: Mapping[str, str]) -> None:
        self._enter("delete")
        with self._lock:
            if self.data.pop(attrs["id"], None) is not None:
                self._note(attrs["id"])
