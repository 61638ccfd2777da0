"""rhom.PropertyBagModel: Rhom's property-bag layout over the shared ``object_values`` table.

Every attribute of an object is a row ``(source_id, attrib, object, value)``; values are
stored as text. Declared fields are optional: they convert values on read
(``IntegerField`` gives ints), mark blob attributes and, with ``Meta.freezed = True``, are the
only attributes accepted. Any other attribute reads as ``None`` when absent.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from . import _ids, _registry, _sql, blobs, query
from ._base import RhomAPI, check_reserved, clean_attrs
from ._options import RESERVED, RhomOptions
from .exceptions import ConfigurationError, UnknownAttributeError, ValidationError
from .fields import BlobField, Field, _text
from .model import collect_raw

__all__ = ["PropertyBagModel"]


class _PropertyBagMeta(type):
    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any], **kwargs: Any) -> Any:
        if attrs.pop("_rhom_root", False):
            return super().__new__(mcs, name, bases, attrs)
        raw = collect_raw(bases, attrs.pop("Meta", None), kwargs)
        fields: dict[str, Field] = {}
        for base in reversed(bases):
            base_opts = getattr(base, "_rhom", None)
            if base_opts is not None:
                fields.update(base_opts.fields)
        for key, value in list(attrs.items()):
            if isinstance(value, Field):
                fields[key] = attrs.pop(key)
            elif key in RESERVED:
                raise ConfigurationError(f"{name}.{key}: {key!r} is a reserved name")
        cls: Any = super().__new__(mcs, name, bases, attrs)
        cls._rhom_raw = raw
        opts = RhomOptions(cls, raw, fixed_schema=False)
        for key, field in fields.items():
            field.name, field.model = key, cls
            opts.add_field(key, field)
        cls._rhom = opts
        _registry.register(cls)
        return cls


class PropertyBagModel(RhomAPI, metaclass=_PropertyBagMeta):
    """A property-bag Rhom model: open attributes (unless frozen), text values."""

    _rhom_root = True
    _rhom: ClassVar[RhomOptions]
    __slots__ = ("object", "_values", "_read", "_stored")

    def __init__(self, attrs: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        given = kwargs.get("object", (attrs or {}).get("object"))
        object.__setattr__(self, "object", str(given) if given is not None else _ids.generate_id())
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_read", {})
        object.__setattr__(self, "_stored", False)  # read from, or saved to, the database
        for key, value in clean_attrs(type(self), attrs, kwargs).items():
            self._set(key, value)

    def _set(self, name: str, value: Any) -> None:
        opts = self._rhom
        _sql.check_attribute(name, where=type(self).__name__)
        if name in RESERVED:
            check_reserved(type(self), name, value, self, assigned=True)
            return  # the value changes nothing
        if opts.freezed and name not in opts.fields:
            raise UnknownAttributeError(f"{type(self).__name__}: unknown attribute {name!r} (the model is frozen)")
        self._values[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        # Rhom reads without a freezing check (rhom_object_factory.rb, method_missing:
        # @vars[name]): an absent or undeclared attribute reads as None; setting one that a
        # frozen model does not declare raises (_set)
        return self._values.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "object" and not self._stored:  # the id of a new object; a stored one keeps its id
            object.__setattr__(self, "object", str(value))
        elif name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self._set(name, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.object}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.object == self.object

    def __hash__(self) -> int:
        return hash((type(self), self.object))

    def _rhom_values(self) -> dict[str, Any]:
        return {k: v for k, v in self._values.items() if v is not None}

    @classmethod
    def create(cls, attrs: dict[str, Any] | None = None, /, **kwargs: Any) -> Any:
        """Build and insert an object (one transaction); returns it.

        :raises ValidationError: ``object`` names an object that already exists.
        """
        obj = cls(attrs, **kwargs)
        conn = cls._rhom.database.connection()
        taken = conn.execute(
            "SELECT 1 FROM object_values WHERE source_id = ? AND object = ? LIMIT 1", (cls.get_source_id(), obj.object)
        ).fetchone()
        if taken:
            raise ValidationError(
                f"{cls.__name__}.create: object {obj.object!r} already exists; "
                "change it with find(...).update_attributes(...)"
            )
        obj.save()
        return obj

    def update(self, attrs: dict[str, Any] | None = None, /, **kwargs: Any) -> bool:
        """Alias of :meth:`update_attributes`."""
        return self.update_attributes(attrs, **kwargs)

    # -- writes ------------------------------------------------------------------------

    def save(self) -> bool:
        """Insert or update: only attributes whose value changed are written."""
        return self._rhom_save(None)

    def _texts(self, names: list[str] | None) -> dict[str, str | None]:
        cls, fields, out = type(self), self._rhom.fields, {}
        for name in names if names is not None else list(self._values):
            value = self._values.get(name)
            read = self._read.get(name)
            if read is not None and type(read[0]) is type(value) and read[0] == value:
                # unchanged since it was read: keep the stored text. Rhom compares the
                # text it read with the text it writes (rhom_object_factory.rb, save:
                # ``oldValue != val``); a declared field's value converted back can differ
                # from the stored text (a DateField drops the time of day), and saving it
                # would overwrite, and push, a value nobody changed
                out[name] = read[1]
                continue
            field = fields.get(name)
            if isinstance(field, BlobField):
                value = blobs.import_value(value, where=f"{cls.__name__}.{name}", max_size=field.size_limit())
                self._values[name] = value
            out[name] = field.to_bag(value) if field is not None else (None if value is None else _text(value))
        return out

    def _rhom_save(self, only: list[str] | None) -> bool:
        cls, db = type(self), self._rhom.database
        sid, oid = cls.get_source_id(), self.object
        texts = self._texts(only)
        with db.atomic():
            conn = db.connection()
            stored = dict(
                conn.execute(
                    "SELECT attrib, value FROM object_values WHERE source_id = ? AND object = ?",
                    (sid, oid),
                ).fetchall()
            )
            inserts = [(sid, k, oid, t) for k, t in texts.items() if k not in stored and t is not None]
            updates = [(t, sid, oid, k) for k, t in texts.items() if k in stored and (stored[k] or "") != (t or "")]
            if inserts:
                conn.executemany(
                    "INSERT INTO object_values (source_id, attrib, object, value) VALUES (?, ?, ?, ?)",
                    inserts,
                )
            if updates:
                conn.executemany(
                    "UPDATE object_values SET value = ? WHERE source_id = ? AND object = ? AND attrib = ?",
                    updates,
                )
        self._read.update({k: (self._values.get(k), t) for k, t in texts.items()})
        object.__setattr__(self, "_stored", True)
        cls._rhom_after_write(db)
        return True

    def destroy(self) -> bool:
        """Delete this object; for synced models, queue its delete (rhom-api §2.1)."""
        cls, db = type(self), self._rhom.database
        with db.atomic():
            db.execute_sql(
                "DELETE FROM object_values WHERE source_id = ? AND object = ?",
                (cls.get_source_id(), self.object),
            )
        cls._rhom_after_write(db)
        return True

    delete_instance = destroy

    # -- reads ---------------------------------------------------------------------------

    @classmethod
    def find_by_sql(cls, sql: str, params: Any = ()) -> list[Any]:
        """Not available: ``find_by_sql`` only works with fixed-schema models (rhom-api §2.2)."""
        raise TypeError(f"{cls.__name__}.find_by_sql only works with fixed-schema models (rhom.Model)")

    @classmethod
    def _from_rows(cls, object_id: str, rows: list[tuple[str, str | None]]) -> Any:
        obj = cls.__new__(cls)
        object.__setattr__(obj, "object", object_id)
        fields, values, read = cls._rhom.fields, {}, {}
        for attrib, text in rows:
            field = fields.get(attrib)
            values[attrib] = field.from_bag(text) if field is not None and text is not None else text
            read[attrib] = (values[attrib], text)
        object.__setattr__(obj, "_values", values)
        object.__setattr__(obj, "_read", read)
        object.__setattr__(obj, "_stored", True)
        return obj

    @classmethod
    def get(cls, object_id: str) -> Any:
        """The object with this id, or None."""
        return cls._rhom_get(str(object_id))

    @classmethod
    def _rhom_get(cls, object_id: str) -> Any:
        rows = (
            cls._rhom.database.connection()
            .execute(
                "SELECT attrib, value FROM object_values WHERE source_id = ? AND object = ?",
                (cls.get_source_id(), object_id),
            )
            .fetchall()
        )
        return cls._from_rows(object_id, rows) if rows else None

    @classmethod
    def _rhom_select(cls, plan: query.FindPlan) -> list[Any]:
        # Without an order, objects come by object id: Rhom's find reads ``SELECT object,
        # attrib, value FROM object_values WHERE source_id=? order by object`` (and pages
        # with ``SELECT distinct(object) ... LIMIT``, which SQLite answers in the same order
        # through the (object, attrib, source_id) index), rhom_object_factory.rb, find.
        # Ties of an ``order`` fall back to the same order.
        sid, conn = cls.get_source_id(), cls._rhom.database.connection()
        select = None if plan.select is None else json.dumps(plan.select)
        if plan.where is None and not plan.order and plan.limit is None:
            sql = "SELECT object, attrib, value FROM object_values WHERE source_id = ?"
            params: list[Any] = [sid]
            if select is not None:
                sql += " AND attrib IN (SELECT value FROM json_each(?))"
                params.append(select)
            grouped: dict[str, list[tuple[str, Any]]] = {}
            for oid, attrib, value in conn.execute(sql + " ORDER BY object, rowid", params):
                grouped.setdefault(oid, []).append((attrib, value))
            return [cls._from_rows(oid, rows) for oid, rows in grouped.items()]
        ids_sql, ids_params = _ids_query(cls, plan)
        ids = [r[0] for r in conn.execute(ids_sql, ids_params)]
        if not ids:
            return []
        sql = ("SELECT object, attrib, value FROM object_values WHERE +source_id = ? "
               "AND object IN (SELECT value FROM json_each(?))")  # fmt: skip
        params = [sid, json.dumps(ids)]
        if select is not None:
            sql += " AND attrib IN (SELECT value FROM json_each(?))"
            params.append(select)
        grouped = {oid: [] for oid in ids}
        for oid, attrib, value in conn.execute(sql, params):
            grouped[oid].append((attrib, value))
        return [cls._from_rows(oid, rows) for oid, rows in grouped.items()]

    @classmethod
    def _rhom_count(cls, plan: query.FindPlan) -> int:
        sql, params = _ids_query(cls, plan)
        row = cls._rhom.database.connection().execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()
        return int(row[0])

    @classmethod
    def _rhom_delete_where(cls, plan: query.FindPlan) -> int:
        sql, params = _ids_query(cls, plan)
        conn = cls._rhom.database.connection()
        ids = [r[0] for r in conn.execute(sql, params)]
        conn.execute(
            "DELETE FROM object_values WHERE +source_id = ? AND object IN (SELECT value FROM json_each(?))",
            (cls.get_source_id(), json.dumps(ids)),
        )
        return len(ids)


# -- compiling a plan to SQL over object_values ------------------------------------------


def _attr(name: str, params: list[Any]) -> str:
    if name == "object":
        return "object"
    params.append(name)
    return "MAX(CASE WHEN attrib = ? THEN value END)"


def _ids_query(cls: Any, plan: query.FindPlan) -> tuple[str, list[Any]]:
    """SQL selecting the matching object ids, in order, limited."""
    sid = cls.get_source_id()
    if isinstance(plan.where, query.RawSQL) or _has_raw(plan.where):
        return _pivot_ids_query(cls, plan)
    params: list[Any] = []
    having = ""
    if plan.where is not None:
        having_params: list[Any] = []
        having = " HAVING " + _compile(cls, plan.where, having_params)
        params.extend(having_params)
    order_params: list[Any] = []
    order = _order(cls, plan, order_params)
    sql = f"SELECT object FROM object_values WHERE source_id = ? GROUP BY object{having} ORDER BY {order}"
    params = [sid, *params, *order_params]
    if plan.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [plan.limit, plan.offset or 0]
    return sql, params


def _order(cls: Any, plan: query.FindPlan, params: list[Any]) -> str:
    parts = []
    for name, desc in plan.order:
        expr = _attr(name, params)
        number = _number_cast(cls, name)
        if number:
            expr = f"CAST({expr} AS {number})"
        parts.append(f"{expr} DESC NULLS FIRST" if desc else f"{expr} ASC NULLS LAST")
    parts.append("object")  # then by object id (see _rhom_select)
    return ", ".join(parts)


def _has_raw(node: Any) -> bool:
    if isinstance(node, query.RawSQL):
        return True
    if isinstance(node, query.Junction):
        return any(_has_raw(i) for i in node.items)
    return False


def _compile(cls: Any, node: Any, params: list[Any], column: Any = _attr) -> str:
    """SQL text for a condition plan; *column* renders an attribute reference."""
    if isinstance(node, query.Junction):
        parts = [_compile(cls, item, params, column) for item in node.items]
        return "(" + f" {node.op} ".join(parts) + ")"
    if isinstance(node, query.RawSQL):
        params.extend(node.params)
        return f"({node.sql})"
    term: query.Term = node
    lhs = column(term.name, params)
    number = _number_cast(cls, term.name) if term.plain else None
    if term.cast or number:
        lhs = f"CAST({lhs} AS {term.cast or number})"
    if term.func:
        lhs = f"{term.func}({lhs})"
    value = term.value
    if term.plain:
        convert = _bag_number if number else _bag_text
        value = (
            [convert(cls, term.name, v) for v in value] if isinstance(value, list) else convert(cls, term.name, value)
        )
    if value is None and term.op in ("=", "<>", "!="):
        return f"{lhs} IS {'' if term.op == '=' else 'NOT '}NULL"
    if term.op in ("IN", "NOT IN"):
        params.append(json.dumps(value))
        return f"{lhs} {term.op} (SELECT value FROM json_each(?))"
    params.append(value)
    return f"{lhs} {term.op} ?"


#: Declared number fields compare and sort as numbers, as on a fixed schema (a bag stores
#: text, and "11" < "3" as text).
_NUMBER_CASTS = {"INTEGER": "INTEGER", "FLOAT": "REAL"}


def _number_cast(cls: Any, name: str) -> str | None:
    field = cls._rhom.fields.get(name)
    return None if field is None else _NUMBER_CASTS.get(str(field.field_type))


def _bag_number(cls: Any, name: str, value: Any) -> Any:
    return None if value is None else cls._rhom.fields[name].db_value(value)


def _bag_text(cls: Any, name: str, value: Any) -> Any:
    if value is None or name == "object":
        return value
    field = cls._rhom.fields.get(name)
    return field.to_bag(value) if field is not None else _text(value)


def _pivot_ids_query(cls: Any, plan: query.FindPlan) -> tuple[str, list[Any]]:
    """A SQL condition over a bag model: pivot every known attribute into a column first."""
    sid = cls.get_source_id()
    db = cls._rhom.database
    found = {
        r["attrib"] for r in db.execute_sql("SELECT DISTINCT attrib FROM object_values WHERE source_id = ?", (sid,))
    }
    found |= set(cls._rhom.fields)
    names = sorted(n for n in found if _sql._IDENTIFIER.match(n) and n != "object")
    cols = "".join(f", MAX(CASE WHEN attrib = ? THEN value END) AS {_sql.quote(n)}" for n in names)
    params: list[Any] = [*names, sid]
    where_params: list[Any] = []

    def column(name: str, _params: list[Any]) -> str:
        return "object" if name == "object" else _sql.quote(_pivot_col(cls, name))

    where = _compile(cls, plan.where, where_params, column) if plan.where is not None else "1"
    order = "".join(f"{_pivot_order(cls, n)} {'DESC NULLS FIRST' if d else 'ASC NULLS LAST'}, " for n, d in plan.order)
    order += "object"
    sql = (f"SELECT object FROM (SELECT object{cols} FROM object_values "
           f"WHERE source_id = ? GROUP BY object) WHERE {where} ORDER BY {order}")  # fmt: skip
    params += where_params
    if plan.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [plan.limit, plan.offset or 0]
    return sql, params


def _pivot_order(cls: Any, name: str) -> str:
    col = _sql.quote(_pivot_col(cls, name))
    number = _number_cast(cls, name)
    return f"CAST({col} AS {number})" if number else col


def _pivot_col(cls: Any, name: str) -> str:
    if name != "object" and not _sql._IDENTIFIER.match(name):
        raise ValidationError(f"{cls.__name__}: attribute {name!r} cannot be used with a SQL condition")
    return name
