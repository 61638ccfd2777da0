"""rhom.Model: a fixed-schema Rhom model, which is a peewee model too.

One table per model, named like the source, with ``object`` (the id) as primary key and a
nullable column per field. Model options come from ``class Meta`` or class keywords::

    class Product(rhom.Model, sync=True, sync_priority=1):
        name = rhom.CharField()
        price = rhom.FloatField()

peewee's own API keeps working (``Product.select().where(Product.price > 3)``,
``Product.insert_many(rows).execute()``), and for synced models its writes are logged in the
changelog like the Rhom methods' (see :mod:`rhom.changelog`).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, ClassVar

import peewee

from . import _ids, _registry, _sql, blobs, query
from ._base import RhomAPI, check_reserved, clean_attrs
from ._options import PEEWEE_KEYS, RESERVED, RhomOptions
from .database import partition_proxy
from .exceptions import ConfigurationError, UnknownAttributeError, ValidationError
from .fields import CharField, Field

__all__ = ["Model"]

_PEEWEE_OWN = ("sync", "sync_priority", "sync_type", "partition", "schema_version",
               "full_update", "pass_through", "freezed")  # fmt: skip


def collect_raw(bases: tuple[type, ...], meta: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Meta options: inherited from rhom bases, then ``class Meta``, then class keywords."""
    raw: dict[str, Any] = {}
    for base in reversed(bases):
        inherited = getattr(base, "_rhom_raw", None)
        if inherited:
            raw.update({k: v for k, v in inherited.items() if k not in ("source_name", "source_id", "abstract")})
    if meta is not None:
        raw.update({k: v for k, v in vars(meta).items() if not k.startswith("_")})
    raw.update(kwargs)
    return raw


class _FixedSchemaMeta(peewee.ModelBase):
    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any], **kwargs: Any) -> Any:
        if attrs.pop("_rhom_root", False):
            attrs["Meta"] = type("Meta", (), {"primary_key": False})
            return super().__new__(mcs, name, bases, attrs)  # type: ignore[no-untyped-call]
        raw = collect_raw(bases, attrs.pop("Meta", None), kwargs)
        for key in attrs:
            if key in RESERVED - {"object"} and isinstance(attrs[key], peewee.Field):
                raise ConfigurationError(f"{name}.{key}: {key!r} is a reserved name")
        pk = attrs.get("object")
        if pk is None:
            attrs["object"] = CharField(primary_key=True, default=_ids.generate_id, null=False)
        elif not (isinstance(pk, peewee.Field) and pk.primary_key):
            raise ConfigurationError(f"{name}.object must be the primary key field")
        opts_partition = raw.get("partition", "user" if raw.get("sync") else "local")
        peewee_meta: dict[str, Any] = {k: raw[k] for k in PEEWEE_KEYS if k in raw}
        peewee_meta.setdefault("table_name", raw.get("source_name", name))
        if not isinstance(opts_partition, str):
            raise ConfigurationError(f"{name}.Meta.partition: expected a string, got {opts_partition!r}")
        try:
            peewee_meta.setdefault("database", partition_proxy(opts_partition))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{name}.Meta.partition: {exc}") from None
        peewee_meta.setdefault("only_save_dirty", True)
        attrs["Meta"] = type("Meta", (), peewee_meta)
        cls: Any = super().__new__(mcs, name, bases, attrs)  # type: ignore[no-untyped-call]
        cls._rhom_raw = raw
        opts = RhomOptions(cls, raw, fixed_schema=True)
        for field in cls._meta.sorted_fields:
            if field is not cls._meta.primary_key:
                opts.add_field(field.name, field)
        cls._rhom = opts
        for key in _PEEWEE_OWN:  # readable as Product._meta.sync_priority, as in peewee
            setattr(cls._meta, key, getattr(opts, key) if key != "sync" else opts.is_sync)
        cls._rhom_columns = None
        _registry.register(cls)
        return cls


class _SweepsBlobs:
    """A peewee write query that deletes replaced blob files once its transaction commits, as
    the Rhom write methods do (the trash triggers fire for every writer; this runs the sweep)."""

    model: Any

    def _execute(self, database: Any) -> Any:
        result = super()._execute(database)  # type: ignore[misc]
        self.model._rhom_after_write(self.model._rhom.database)
        return result


class _ModelInsert(_SweepsBlobs, peewee.ModelInsert):
    pass


class _ModelUpdate(_SweepsBlobs, peewee.ModelUpdate):
    pass


class _ModelDelete(_SweepsBlobs, peewee.ModelDelete):
    pass


class Model(peewee.Model, RhomAPI, metaclass=_FixedSchemaMeta):
    """A fixed-schema Rhom model (one table, typed columns, always frozen)."""

    _rhom_root = True
    _rhom: ClassVar[RhomOptions]
    _rhom_persisted = False
    # peewee's per-instance state and rhom's per-class caches, declared for type checkers
    __data__: dict[str, Any]
    _dirty: set[str]
    _rhom_insert_sql: ClassVar[tuple[str, list[Any]] | None] = None
    _rhom_columns: ClassVar[tuple[str, list[tuple[str, Any]]] | None] = None

    def __init__(self, attrs: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        if kwargs.pop("__no_default__", None):  # a row peewee read from the table
            super().__init__(__no_default__=True, **kwargs)
            object.__setattr__(self, "_rhom_persisted", True)
            return
        values = clean_attrs(type(self), attrs, kwargs)
        given = kwargs.get("object", (attrs or {}).get("object"))
        if given is not None:  # None: a generated id, as on a property bag
            values["object"] = str(given)
        super().__init__(**values)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RESERVED and (name != "object" or self._rhom_persisted):
            # a stored object keeps its id, every object its model's source id; the other
            # reserved names are no attributes
            check_reserved(type(self), name, value, self, assigned=True)
            return  # the value changes nothing
        # Rhom's check_freezing_model (rhom_object_factory.rb, method_missing "name="): a
        # fixed-schema object refuses an attribute its model does not declare
        if name[0] != "_" and name not in self._meta.fields and not hasattr(type(self), name):
            raise UnknownAttributeError(f"{type(self).__name__}: unknown attribute {name!r}")
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        # Reading is not checked (rhom_object_factory.rb, method_missing: @vars[name]): an
        # attribute the model does not declare reads as None, as on a property bag
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __str__(self) -> str:
        return str(self.__data__.get("object"))

    @property
    def id(self) -> str:
        """Alias of ``object``."""
        return self.object  # type: ignore[no-any-return]

    def _rhom_values(self) -> dict[str, Any]:
        # NULL columns are absent attributes, left out as Rhom's find leaves them out
        # (rhom_object_factory.rb, find: ``vars.merge!(...) if attrVal``)
        return {k: v for k, v in self.__data__.items() if k != "object" and v is not None}

    # -- writes ------------------------------------------------------------------------

    @classmethod
    def create(cls, attrs: dict[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """Build and insert an object; returns it. Takes a dict and/or keywords, like
        :class:`rhom.PropertyBagModel` (peewee's ``create`` takes keywords only)."""
        obj = cls(attrs, **kwargs)
        obj.save(force_insert=True)
        return obj

    def save(self, force_insert: bool = False, only: Any = None) -> bool:
        """Insert (a new object) or update the changed fields; returns True."""
        names = None if only is None else [f if isinstance(f, str) else f.name for f in only]
        return self._rhom_save(names, force_insert=force_insert)

    def _rhom_save(self, only: list[str] | None, force_insert: bool = False) -> bool:
        cls = type(self)
        self._rhom_import_blobs()
        fields = None if only is None else [cls._meta.fields[n] for n in only]
        if force_insert or not self._rhom_persisted:
            try:
                self._rhom_insert()
            except peewee.IntegrityError:
                if not cls.select().where(cls._meta.primary_key == self.object).exists():
                    raise
                if force_insert:  # create(): never overwrite another object
                    raise ValidationError(
                        f"{cls.__name__}.create: object {self.object!r} already exists; "
                        "change it with find(...).update_attributes(...)"
                    ) from None
                self._dirty.update(k for k, v in self.__data__.items() if v is not None)
                super().save(only=fields)
            object.__setattr__(self, "_rhom_persisted", True)
        elif fields is None or fields:
            super().save(only=fields)
        self._rhom_after_write(cls._rhom.database)
        return True

    def _rhom_insert(self) -> None:
        # One cached INSERT statement instead of peewee's per-call query building: the
        # hottest write path (create) then costs little more than the row and its log.
        cls = type(self)
        cached = cls.__dict__.get("_rhom_insert_sql")
        if cached is None:
            fields = list(cls._meta.sorted_fields)
            cols = ", ".join(f'"{f.column_name}"' for f in fields)
            marks = ", ".join("?" for _ in fields)
            cached = (f'INSERT INTO "{cls._meta.table_name}" ({cols}) VALUES ({marks})', fields)
            cls._rhom_insert_sql = cached
        sql, fields = cached
        data = self.__data__
        params = [None if (v := data.get(f.name)) is None else f.db_value(v) for f in fields]
        cls._meta.database.execute_sql(sql, params)
        self._dirty.clear()

    def _rhom_import_blobs(self) -> None:
        blob_names = self._rhom.blob_attribs
        for name in blob_names:
            if name in self._dirty:
                value = self.__data__.get(name)
                field = type(self)._meta.fields[name]
                where = f"{type(self).__name__}.{name}"
                stored = blobs.import_value(value, where=where, max_size=field.size_limit())
                if stored is not value:
                    self.__data__[name] = stored

    # peewee's write queries, so that blob files replaced through them are swept too
    @classmethod
    def insert(cls, __data: Any = None, **insert: Any) -> Any:
        return _ModelInsert(cls, cls._normalize_data(__data, insert))  # type: ignore[attr-defined]

    @classmethod
    def insert_many(cls, rows: Any, fields: Any = None) -> Any:
        return _ModelInsert(cls, insert=rows, columns=fields)

    @classmethod
    def update(cls, __data: Any = None, **update: Any) -> Any:
        return _ModelUpdate(cls, cls._normalize_data(__data, update))  # type: ignore[attr-defined]

    @classmethod
    def delete(cls) -> Any:
        return _ModelDelete(cls)

    def delete_instance(self, recursive: bool = False, delete_nullable: bool = False) -> int:
        rows: int = super().delete_instance(recursive, delete_nullable)
        self._rhom_after_write(self._rhom.database)
        return rows

    def destroy(self) -> bool:
        """Delete this object; for synced models, queue its delete (rhom-api §2.1)."""
        self.delete_instance()
        return True

    # -- storage hooks -------------------------------------------------------------------

    @classmethod
    def get(cls, *query_args: Any, **filters: Any) -> Any:
        """``get(object_id)``: the object or None (Rhom). Other arguments: peewee's ``get``."""
        if len(query_args) == 1 and not filters and isinstance(query_args[0], str):
            return cls._rhom_get(query_args[0])
        return super().get(*query_args, **filters)

    @classmethod
    def _rhom_row_reader(cls) -> tuple[str, list[tuple[str, Any]]]:
        cached = cls.__dict__.get("_rhom_columns")
        if cached is None:
            fields = cls._meta.sorted_fields
            cols = ", ".join(f'"{f.column_name}"' for f in fields)
            sql = f'SELECT {cols} FROM "{cls._meta.table_name}" WHERE "object" = ?'
            cached = cls._rhom_columns = (sql, [(f.name, _reader(f)) for f in fields])
        return cached  # type: ignore[no-any-return,unused-ignore]

    @classmethod
    def _rhom_get(cls, object_id: str) -> Any:
        sql, readers = cls._rhom_row_reader()
        row = cls._meta.database.connection().execute(sql, (object_id,)).fetchone()
        return None if row is None else _build(cls, readers, row)

    @classmethod
    def _rhom_query(cls, plan: query.FindPlan, *fields: Any) -> Any:
        q = cls.select(*fields)
        if plan.where is not None:
            q = q.where(_compile(cls, plan.where))
        if plan.order:
            q = q.order_by(
                *[
                    (_field(cls, n).desc(nulls="FIRST") if desc else _field(cls, n).asc(nulls="LAST"))
                    for n, desc in plan.order
                ]
            )
        if plan.limit is not None:
            q = q.limit(plan.limit).offset(plan.offset)
        return q

    @classmethod
    def _rhom_select(cls, plan: query.FindPlan) -> list[Any]:
        if plan.select is not None:
            names = ["object", *[n for n in plan.select if n != "object"]]
            fields = [_field(cls, n) for n in names]
        else:
            fields = list(cls._meta.sorted_fields)
        sql, params = cls._rhom_query(plan, *fields).sql()
        readers = [(f.name, _reader(f)) for f in fields]
        cursor = cls._meta.database.execute_sql(sql, params)
        return [_build(cls, readers, row) for row in cursor]

    @classmethod
    def find_by_sql(cls, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run *sql* with bound *params* and wrap each row as an object (rhom-api §2.2).

        Columns that are fields of the model are read with their types; other columns are
        ignored. A statement that returns no rows (not a ``SELECT``) gives an empty list.

        :raises SQLError: SQLite refused the statement or its parameters, as Rhom raises
            ``ArgumentError`` (a ``ValidationError``, and a ``peewee.OperationalError`` too).
        """
        if not isinstance(sql, str):
            raise ValidationError(f"{cls.__name__}.find_by_sql: expected SQL text, got {sql!r}")
        values = _sql.check_params(params, where=f"{cls.__name__}.find_by_sql")
        with _sql.caller_sql(f"{cls.__name__}.find_by_sql", sql, values):
            cursor = cls._meta.database.execute_sql(sql, values)
            if cursor.description is None:
                return []
            rows = cursor.fetchall()
        by_column = {f.column_name: f for f in cls._meta.sorted_fields}
        picked = [(i, by_column[d[0]]) for i, d in enumerate(cursor.description) if d[0] in by_column]
        readers = [(f.name, _reader(f)) for _, f in picked]
        return [_build(cls, readers, [row[i] for i, _ in picked]) for row in rows]

    @classmethod
    def _rhom_count(cls, plan: query.FindPlan) -> int:
        return int(cls._rhom_query(plan, cls._meta.primary_key).count())

    @classmethod
    def _rhom_delete_where(cls, plan: query.FindPlan) -> int:
        q = cls.delete()
        if plan.where is not None:
            q = q.where(_compile(cls, plan.where))
        return int(q.execute())


def _reader(field: Any) -> Any:
    conv = field.python_value
    # CharField's converter is the identity for text: skip the call on the hot path.
    return None if isinstance(field, CharField) else conv


def _build(cls: Any, readers: list[tuple[str, Any]], row: Any) -> Any:
    obj = cls.__new__(cls)
    data = {}
    for (name, conv), value in zip(readers, row, strict=True):
        data[name] = value if conv is None or value is None else conv(value)
    object.__setattr__(obj, "__data__", data)
    object.__setattr__(obj, "_dirty", set())
    object.__setattr__(obj, "__rel__", {})
    object.__setattr__(obj, "_rhom_persisted", True)
    return obj


def _field(cls: Any, name: str) -> Any:
    field = cls._meta.fields.get(name)
    if field is None:
        raise ValidationError(f"{cls.__name__}: unknown attribute {name!r}")
    return field


def _compile(cls: Any, node: Any) -> Any:
    if isinstance(node, query.RawSQL):
        return peewee.SQL(node.sql, list(node.params))
    if isinstance(node, query.Junction):
        parts = [_compile(cls, item) for item in node.items]
        return functools.reduce(operator.and_ if node.op == "AND" else operator.or_, parts)
    return _compile_term(cls, node)


def _compile_term(cls: Any, term: query.Term) -> Any:
    field = _field(cls, term.name)
    lhs: Any = field
    if term.cast:
        lhs = peewee.Cast(lhs, term.cast)
    if term.func:
        lhs = peewee.Function(term.func, [lhs])
    value = term.value
    if term.plain:
        convert = functools.partial(_to_db, field)
        value = [convert(v) for v in value] if isinstance(value, list) else convert(value)
    if value is None and term.op in ("=", "<>", "!="):
        return lhs.is_null(term.op == "=")
    rhs = peewee.Value(value, converter=False)
    op = {"=": "=", "<>": "!=", "!=": "!=", "LIKE": peewee.OP.ILIKE, "NOT LIKE": "NOT LIKE",
          "IN": peewee.OP.IN, "NOT IN": peewee.OP.NOT_IN}.get(term.op, term.op)  # fmt: skip
    return peewee.Expression(lhs, op, rhs)


def _to_db(field: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, Field):
        return field.db_value(value)
    return field.db_value(value)
