"""The Rhom API shared by fixed-schema and property-bag models.

Each layout supplies a few storage hooks (``_rhom_get``, ``_rhom_select``, ``_rhom_count``,
``_rhom_delete_where``); everything a user calls is defined once here.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from . import _sql, blobs, query
from ._options import RESERVED, SYNC_TYPES, RhomOptions
from .exceptions import ConfigurationError, RecordNotFound, UnknownAttributeError, ValidationError

if TYPE_CHECKING:
    from .database import Database

_MISSING: Any = object()


class hybridmethod:
    """A method that works on the class and on an instance (Rhom's ``Model.changed?`` and
    ``r.changed?`` share a name)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, obj: Any, cls: type) -> Callable[..., Any]:
        return functools.partial(self.func, cls if obj is None else obj)


def clean_attrs(
    model: type, attrs: Mapping[str, Any] | None, kwargs: Mapping[str, Any], *, target: Any = None
) -> dict[str, Any]:
    """Merge attribute arguments: strip a stray ``@``, check reserved names and freezing.

    Reserved names are left out of the result (see :func:`check_reserved`): ``object`` and
    ``source_id`` only when they change nothing, the others as Rhom skips them.

    :param target: the object being changed (``update_attributes``); None while an object
        is built, where ``object`` is the new object's id (the constructor reads it).
    """
    opts: RhomOptions = model._rhom  # type: ignore[attr-defined]
    out = {}
    for source in (attrs or {}, kwargs):
        for key, value in source.items():
            if not isinstance(key, str):
                raise ValidationError(f"{model.__name__}: attribute names must be strings, got {key!r}")
            key = key.lstrip("@")
            if not key:
                continue
            if key in RESERVED:
                if key != "object" or target is not None:
                    check_reserved(model, key, value, target)
                continue
            if opts.freezed and key not in opts.fields:
                raise UnknownAttributeError(f"{model.__name__}: unknown attribute {key!r} (the model is frozen)")
            out[key] = value
    return out


def check_reserved(model: type, name: str, value: Any, target: Any, *, assigned: bool = False) -> None:
    """Refuse a value for reserved *name* that a write would otherwise drop unseen.

    Rhom skips reserved names when it writes (rhom_object_factory.rb, ``save`` and
    ``update_attributes``: ``next if RhomObject.method_name_reserved?``), so
    ``update_attributes(object: other_id)`` returned true and changed nothing. rhom
    raises for the names that say which object it is, ``object`` and ``source_id``,
    unless the value agrees with what they stand for (so that an object's own ``vars``
    can be given back): *target*'s id, the model's source id. The other reserved names
    (``update_type``, ``attrib_type``, ...) are not the object's: a write skips them as
    Rhom does (Rhodes' spec "should _NOT_ set 'attrib_type' field for a record" expects
    ``update_attributes`` to take one without error), but assigning one (*assigned*)
    can only be a mistake and raises.

    :raises ValidationError: naming the model, the name and the value.
    """
    where = f"{model.__name__}.{name}"
    if name == "object":
        if target is not None and str(value) != str(target.object):
            raise ValidationError(
                f"{where}: an object's id cannot be changed ({target.object!r} to {value!r}); "
                "create an object with that id instead"
            )
    elif name == "source_id":
        own = model._rhom.source_id  # type: ignore[attr-defined]
        if str(value) != str(own):
            raise ValidationError(f"{where}: the source id is the model's ({own}) and cannot be set to {value!r}")
    elif assigned:
        raise ValidationError(f"{where}: {name!r} is a reserved name, not an attribute (got {value!r})")


class RhomAPI:
    """Class and instance methods of every rhom model (rhom-api §2)."""

    _rhom: ClassVar[RhomOptions]
    object: Any

    # -- storage hooks, supplied by each layout ------------------------------------------

    @classmethod
    def _rhom_get(cls, object_id: str) -> Any:
        raise NotImplementedError

    @classmethod
    def _rhom_select(cls, plan: query.FindPlan) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def _rhom_count(cls, plan: query.FindPlan) -> int:
        raise NotImplementedError

    @classmethod
    def _rhom_delete_where(cls, plan: query.FindPlan) -> int:
        raise NotImplementedError

    def _rhom_values(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def find(cls, what: Any = _MISSING, /, **options: Any) -> Any:
        """Rhom's find: ``find("all" | "first" | "count" | object_id, conditions=..., ...)``.

        :param what: ``"all"`` (a list), ``"first"`` (an object or None), ``"count"`` (an int)
            or an object id (the object or None; ``{braces}`` are stripped).
        :param conditions: see :mod:`rhom.query`.
        :param op: ``"AND"`` (default) or ``"OR"``, joining conditions or groups.
        :param select: attribute names to load (plus ``object`` and ``source_id``): a list,
            or one comma-separated string (``"name, price"``).
        :param order: attribute name(s) to sort by; objects lacking them sort last (ASC).
        :param orderdir: ``"ASC"``/``"DESC"``, or a list parallel to ``order``.
        :param per_page: a limit; ``offset`` is honoured only with it.
        :param compare: a two-argument comparator (Rhom's block): compares the ``order``
            attribute values, or the objects without ``order``; sorting and paging then run
            in memory.
        :raises RecordNotFound: *what* is missing or None.
        :raises ValidationError: a bad option, name, operator or value.
        :raises SQLError: SQLite refused a SQL condition (a ``ValidationError``, and a
            ``peewee.OperationalError`` too).
        """
        if what is _MISSING or what is None:
            raise RecordNotFound(f"{cls.__name__}.find: expected 'all', 'first', 'count' or an object id")
        options.pop("dont_ignore_missed_attribs", None)  # objects lacking the order attr are kept
        if what in (query.ALL, query.FIRST, query.COUNT):
            if what == query.FIRST and "per_page" not in options:
                options["per_page"] = 1
                options.setdefault("offset", 0)
            plan = query.make_plan(cls.__name__, **options)
            with _caller_sql(f"{cls.__name__}.find", plan):
                if what == query.COUNT:
                    return cls._rhom_count(plan)
                rows = cls._find_rows(plan)
            return rows if what == query.ALL else (rows[0] if rows else None)
        if not isinstance(what, (str, int)) or isinstance(what, bool):
            raise ValidationError(f"{cls.__name__}.find: unsupported argument {what!r}")
        if options:
            raise ValidationError(f"{cls.__name__}.find(object_id) takes no options, got {sorted(options)}")
        return cls._rhom_get(str(what).strip().strip("{}"))

    @classmethod
    def _find_rows(cls, plan: query.FindPlan) -> list[Any]:
        if plan.compare is None:
            return cls._rhom_select(plan)
        limit, offset = plan.limit, plan.offset or 0
        plan.limit = plan.offset = None
        rows = cls._rhom_select(plan)
        key = _comparator_key(plan)
        rows.sort(key=key, reverse=bool(plan.order and plan.order[0][1]))
        return rows[offset : offset + limit] if limit is not None else rows

    @classmethod
    def find_all(cls, **options: Any) -> list[Any]:
        """``find("all", **options)``."""
        return cls.find(query.ALL, **options)  # type: ignore[no-any-return]

    @classmethod
    def find_first(cls, **options: Any) -> Any:
        """``find("first", **options)``: the first match or None."""
        return cls.find(query.FIRST, **options)

    @classmethod
    def count(cls, conditions: Any = None, op: str = "AND") -> int:
        """The number of objects (matching *conditions*)."""
        return cls.find(query.COUNT, conditions=conditions, op=op)  # type: ignore[no-any-return]

    @classmethod
    def paginate(cls, page: int = 0, per_page: int = 10, **options: Any) -> list[Any]:
        """Page *page* (from 0) of *per_page* objects; past the end, an empty list."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise ValidationError(f"{cls.__name__}.paginate: page must be a non-negative integer, got {page!r}")
        return cls.find_all(per_page=per_page, offset=page * per_page, **options)

    # -- writing ---------------------------------------------------------------------------

    @classmethod
    def delete_all(cls, conditions: Any = None, op: str = "AND") -> int:
        """Delete every object (matching *conditions*); return how many went.

        For synced models each deleted object queues its ``delete`` rows (or, if it never
        reached the server, drops its queued create).
        """
        plan = query.make_plan(cls.__name__, conditions=conditions, op=op)
        db = cls._rhom.database
        with _caller_sql(f"{cls.__name__}.delete_all", plan), db.atomic():
            n = cls._rhom_delete_where(plan)
        cls._rhom_after_write(db)
        return n

    @classmethod
    def _rhom_after_write(cls, db: Database) -> None:
        if cls._rhom.blob_attribs:
            db.peewee.after_commit(functools.partial(blobs.sweep, db))

    def update_attributes(self, attrs: Mapping[str, Any] | None = None, /, **kwargs: Any) -> bool:
        """Set and save the given attributes in one transaction; only these are written.

        :raises ValidationError: a value a field cannot store, or a reserved name
            (``object``, ``source_id``, ...) whose value would change the object's id or
            source: nothing is written.
        """
        values = clean_attrs(type(self), attrs, kwargs, target=self)
        before = {key: getattr(self, key) for key in values}
        dirty = set(getattr(self, "_dirty", ()))
        try:
            for key, value in values.items():
                setattr(self, key, value)
            return self._rhom_save(list(values))
        except BaseException:
            # nothing was written: the object in memory must not claim otherwise
            for key, value in before.items():
                try:
                    setattr(self, key, value)
                except Exception:  # a value this object never held cannot be restored
                    pass
            if hasattr(self, "_dirty"):
                self._dirty.clear()
                self._dirty.update(dirty)
            raise

    def _rhom_save(self, only: list[str] | None) -> bool:
        raise NotImplementedError

    def destroy(self) -> bool:
        """Delete this object (and its blob files, once committed)."""
        raise NotImplementedError

    # -- object helpers --------------------------------------------------------------------

    @property
    def source_id(self) -> int:
        return self._rhom.require_source_id()

    @property
    def vars(self) -> dict[str, Any]:
        """All attributes, with ``object`` and ``source_id`` (a copy)."""
        return {"object": self.object, "source_id": self._rhom.source_id, **self._rhom_values()}

    def to_dict(self) -> dict[str, Any]:
        return self.vars

    def to_json(self) -> str:
        return json.dumps(self.vars, default=str)

    def __getitem__(self, name: str) -> Any:
        if name == "object":
            return self.object
        return getattr(self, name)

    def blob_path(self, name: str) -> Path | None:
        """The absolute path of blob attribute *name*'s file, or None when empty."""
        if name not in self._rhom.blob_attribs:
            raise ValidationError(f"{type(self).__name__}.{name} is not a blob attribute")
        value = getattr(self, name)
        return blobs.path(value) if value else None

    @hybridmethod
    def changed(self_or_cls: Any) -> bool:
        """Class: the model has changelog rows. Instance: this object has changelog rows."""
        return _changelog_exists(self_or_cls, "")

    def can_modify(self) -> bool:
        """False while a create of this object awaits the server's confirmation (sent > 1)."""
        return not _changelog_exists(self, " AND sent > 1")

    # -- source helpers --------------------------------------------------------------------

    @classmethod
    def get_source_id(cls) -> int:
        return cls._rhom.require_source_id()

    @classmethod
    def get_source_name(cls) -> str:
        return cls._rhom.source_name

    @classmethod
    def metadata(cls) -> Any:
        """The metadata the server sent for this source (parsed JSON), or None."""
        rows = cls._rhom.database.execute_sql(
            "SELECT metadata FROM sources WHERE source_id = ?", (cls.get_source_id(),)
        )
        text = rows[0]["metadata"] if rows else None
        return json.loads(text) if text else None

    @classmethod
    def backend_refresh_time(cls) -> Any:
        """When the server last refreshed this source's data from its backend, or None."""
        rows = cls._rhom.database.execute_sql(
            "SELECT backend_refresh_time FROM sources WHERE source_id = ?", (cls.get_source_id(),)
        )
        value = rows[0]["backend_refresh_time"] if rows else None
        return datetime.datetime.fromtimestamp(int(value), datetime.timezone.utc) if value else None

    @classmethod
    def set_metadata(cls, value: Any) -> None:
        """Store metadata (a JSON string, or an object that is serialised)."""
        text = value if isinstance(value, str) or value is None else json.dumps(value)
        cls._rhom.database.execute_sql(
            "UPDATE sources SET metadata = ? WHERE source_id = ?", (text, cls.get_source_id())
        )

    # -- sync (rhom-api §2.4); the client is the last rhom.SyncClient created ---------------

    @classmethod
    def _sync_client(cls) -> Any:
        from .sync import client

        if client.default_client is None:
            raise ConfigurationError(f"{cls.__name__}: create a rhom.SyncClient before syncing")
        return client.default_client

    @classmethod
    def sync(
        cls,
        callback: Callable[..., Any] | None = None,
        *,
        callback_data: Any = None,
        show_status_popup: bool | None = None,
        query_params: Any = None,
    ) -> Any:
        """Sync this source only; *callback* gets its notifications (one-shot)."""
        client = cls._sync_client()
        if callback is not None:
            client.set_notification(cls, callback, callback_data)
        return client.do_sync_source(cls, show_status_popup, query_params)

    @classmethod
    def search(cls, search_params: Any = None, **options: Any) -> Any:
        """Search this source's backend (see :meth:`rhom.SyncClient.search`)."""
        return cls._sync_client().search(cls, search_params=search_params, **options)

    @classmethod
    def set_notification(cls, callback: Callable[..., Any], callback_data: Any = None) -> None:
        """Call *callback* with the notifications of this source's next sync."""
        cls._sync_client().set_notification(cls, callback, callback_data)

    @classmethod
    def clear_notification(cls) -> None:
        cls._sync_client().clear_notification(cls)

    @classmethod
    def on_sync_create_error(cls, objects: Any, action: str) -> None:
        """Answer a ``create-error``: ``"delete"`` the objects or ``"recreate"`` them."""
        from .sync import _resolve

        _resolve.on_create_error(cls, objects, action)

    @classmethod
    def on_sync_update_error(cls, objects: Any, action: str, rollback_objects: Any = None) -> None:
        """Answer an ``update-error``: ``"retry"``, or ``"rollback"`` to the server's values."""
        from .sync import _resolve

        _resolve.on_update_error(cls, objects, action, rollback_objects)

    @classmethod
    def on_sync_delete_error(cls, objects: Any, action: str) -> None:
        """Answer a ``delete-error``: ``"retry"``."""
        from .sync import _resolve

        _resolve.on_delete_error(cls, objects, action)

    @classmethod
    def set_sync_type(cls, sync_type: str) -> None:
        """Switch a synced source at run time: ``"none"`` (no sync run pushes or pulls it;
        local changes stay queued), ``"incremental"``, or ``"bulk_only"`` (alias
        ``"bulk_sync_only"``: filled by bulk sync only). It holds until changed again or
        until the next start, which takes the declared ``Meta.sync_type`` again.

        :raises ConfigurationError: a model that is not synced, or an unknown value.
        """
        opts = cls._rhom
        if not opts.is_sync:
            raise ConfigurationError(f"{cls.__name__}.set_sync_type: the model is not synced (Meta.sync = True)")
        value = SYNC_TYPES.get(str(sync_type).lstrip(":"))
        if value is None:
            raise ConfigurationError(
                f"{cls.__name__}.set_sync_type: expected 'none', 'incremental' or 'bulk_only', got {sync_type!r}"
            )
        opts.run_sync_type = value
        opts.database.execute_sql("UPDATE sources SET sync_type = ? WHERE source_id = ?", (value, cls.get_source_id()))

    @classmethod
    def get_sync_type(cls) -> str:
        """The sync type in force: ``incremental``, ``bulk_sync_only`` or ``none``."""
        return cls._rhom.run_sync_type

    @classmethod
    def push_changes(cls) -> None:
        """Make the next sync of this source push even with nothing queued (sync models)."""
        if not cls._rhom.is_sync:
            return
        cls._rhom.database.execute_sql(
            "INSERT INTO changed_values (source_id, update_type, sent) VALUES (?, 'push_changes', 0)",
            (cls.get_source_id(),),
        )


def _caller_sql(where: str, plan: query.FindPlan) -> contextlib.AbstractContextManager[None]:
    """SQLite refusing a SQL condition raises ``SQLError`` naming *where* and quoting it."""
    raw = plan.raw_sql
    return _sql.caller_sql(where, raw.sql if raw else None, raw.params if raw else (), what="condition")


def _comparator_key(plan: query.FindPlan) -> Callable[[Any], Any]:
    compare = plan.compare
    assert compare is not None
    if plan.order:
        name = plan.order[0][0]
        return functools.cmp_to_key(lambda a, b: compare(getattr(a, name), getattr(b, name)))
    return functools.cmp_to_key(compare)


def _changelog_exists(target: Any, extra: str) -> bool:
    cls: Any = target if isinstance(target, type) else type(target)
    sql = "SELECT 1 FROM changed_values WHERE source_id = ?"
    params: list[Any] = [cls.get_source_id()]
    if not isinstance(target, type):
        sql += " AND object = ?"
        params.append(target.object)
    return bool(cls._rhom.database.execute_sql(sql + extra + " LIMIT 1", params))
