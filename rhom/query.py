"""find() conditions: Rhom's condition language, checked and normalised.

The forms of rhom-api §2.2 are accepted and turned into a small plan that the two storage
layouts compile to SQL (:mod:`rhom.model` for fixed schema through peewee,
:mod:`rhom._bag` for property bags over ``object_values``):

* ``{"name": "x", "industry": None}`` -- equality; ``None`` matches an absent attribute;
* ``{C("name", op="LIKE", func="UPPER"): "%X%"}`` -- advanced conditions;
* ``[Group({...}, op="OR"), Group({...})]`` with a top-level ``op`` -- groups;
* ``"name LIKE 'x%'"`` or ``("name = ? AND price > ?", "x", 3)`` -- SQL with bound parameters.

Names, operators, functions and casts are checked against fixed lists, so no text from a
condition reaches SQL except through bound parameters (or an explicit SQL condition string,
which is the caller's own SQL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union

from . import _sql
from .exceptions import ValidationError

__all__ = ["ALL", "COUNT", "FIRST", "C", "Group"]

ALL: Literal["all"] = "all"
FIRST: Literal["first"] = "first"
COUNT: Literal["count"] = "count"

OPERATORS = frozenset({"=", "<", ">", "<=", ">=", "<>", "!=", "LIKE", "NOT LIKE", "IN", "NOT IN"})
FUNCTIONS = frozenset(
    {"UPPER", "LOWER", "LENGTH", "TRIM", "LTRIM", "RTRIM", "ABS", "ROUND", "TYPEOF", "HEX",
     "UNICODE", "DATE", "TIME", "DATETIME", "JULIANDAY", "UNIXEPOCH"}
)  # fmt: skip
CASTS = {"INTEGER": "INTEGER", "INT": "INTEGER", "REAL": "REAL", "FLOAT": "REAL",
         "NUMERIC": "NUMERIC", "TEXT": "TEXT"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class C:
    """An advanced condition key: ``{C("name", op="LIKE", func="UPPER"): "%IND%"}``.

    :param name: the attribute (``"object"`` filters on the object id).
    :param op: ``=``, ``<``, ``>``, ``<=``, ``>=``, ``<>``, ``!=``, ``LIKE``, ``NOT LIKE``,
        ``IN`` or ``NOT IN`` (case-insensitive).
    :param func: a SQL function applied to the stored value (``UPPER``, ``LOWER``,
        ``LENGTH``, ...).
    :param cast: compare as ``INTEGER``, ``REAL``, ``NUMERIC`` or ``TEXT`` (property-bag
        values are text, so ``"11" < "3"`` without it). The Rhodes form
        ``C("rating as INTEGER", func="CAST")`` is accepted too.
    """

    name: str
    op: str = "="
    func: str | None = None
    cast: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.func, str) and self.func.upper() == "CAST":
            parts = self.name.split() if isinstance(self.name, str) else []
            if len(parts) != 3 or parts[1].lower() != "as":
                raise ValidationError(f"CAST condition: expected 'attribute as TYPE', got {self.name!r}")
            object.__setattr__(self, "name", parts[0])
            object.__setattr__(self, "cast", parts[2])
            object.__setattr__(self, "func", None)


@dataclasses.dataclass(frozen=True, eq=False)
class Group:
    """A group of conditions joined by its own ``op``; groups are joined by find's ``op``."""

    conditions: Mapping[Any, Any]
    op: str = "AND"


@dataclasses.dataclass(frozen=True)
class Term:
    """One checked comparison."""

    name: str
    op: str
    value: Any
    func: str | None = None
    cast: str | None = None

    @property
    def plain(self) -> bool:
        """A comparison of the stored value as it is (no function, no cast, no pattern)."""
        return self.func is None and self.cast is None and self.op not in ("LIKE", "NOT LIKE")


@dataclasses.dataclass(frozen=True)
class RawSQL:
    """A SQL condition given by the caller, with its bound parameters."""

    sql: str
    params: tuple[Any, ...] = ()


Node = Union[Term, RawSQL, "Junction"]


@dataclasses.dataclass(frozen=True)
class Junction:
    op: str  # "AND" | "OR"
    items: tuple[Node, ...]


@dataclasses.dataclass
class FindPlan:
    """A checked find(): what the storage layouts compile."""

    where: Node | None = None
    select: list[str] | None = None
    order: list[tuple[str, bool]] = dataclasses.field(default_factory=list)  # (name, desc)
    limit: int | None = None
    offset: int | None = None
    compare: Callable[[Any, Any], int] | None = None

    @property
    def raw_sql(self) -> RawSQL | None:
        """The caller's SQL, when the conditions are SQL (rhom wrote the rest)."""
        return self.where if isinstance(self.where, RawSQL) else None


def _join_op(op: Any, *, where: str) -> str:
    text = str(op).strip().upper() if isinstance(op, str) else None
    if text not in ("AND", "OR"):
        raise ValidationError(f"{where}: op must be 'AND' or 'OR', got {op!r}")
    return text


def parse_conditions(model: str, conditions: Any, op: Any = "AND") -> Node | None:
    """Check *conditions* (any form of rhom-api §2.2) and return their plan."""
    where = f"{model}.find"
    top = _join_op(op, where=where)
    if conditions is None or (isinstance(conditions, (Mapping, list)) and not conditions):
        return None
    if isinstance(conditions, str):
        return RawSQL(conditions)
    if isinstance(conditions, (tuple, list)) and conditions and isinstance(conditions[0], str):
        return RawSQL(conditions[0], _sql.check_params(conditions[1:], where=f"{where} SQL condition"))
    if isinstance(conditions, Mapping):
        return Junction(top, tuple(_terms(model, conditions)))
    if isinstance(conditions, (tuple, list)):
        groups = []
        for group in conditions:
            if isinstance(group, Group):
                inner, gop = group.conditions, group.op
            elif isinstance(group, Mapping) and "conditions" in group:
                inner, gop = group["conditions"], group.get("op", "AND")
            else:
                raise ValidationError(f"{where}: expected a Group, got {group!r}")
            if not isinstance(inner, Mapping):
                raise ValidationError(f"{where}: group conditions must be a dict, got {inner!r}")
            groups.append(Junction(_join_op(gop, where=where), tuple(_terms(model, inner))))
        return Junction(top, tuple(groups))
    raise ValidationError(f"{where}: unsupported conditions {conditions!r}")


def _terms(model: str, conditions: Mapping[Any, Any]) -> Iterable[Term]:
    for key, value in conditions.items():
        if isinstance(key, str):
            key = C(key)
        if not isinstance(key, C):
            raise ValidationError(f"{model}.find: condition keys must be names or rhom.C, got {key!r}")
        yield make_term(model, key, value)


def make_term(model: str, key: C, value: Any) -> Term:
    name = _sql.check_attribute(key.name, where=model)
    op = " ".join(str(key.op).upper().split()) if isinstance(key.op, str) else key.op
    if op not in OPERATORS:
        raise ValidationError(f"{model}.{name}: unknown operator {key.op!r} in conditions")
    func = None
    if key.func is not None:
        func = str(key.func).upper()
        if func not in FUNCTIONS:
            raise ValidationError(f"{model}.{name}: unsupported function {key.func!r} in conditions")
    cast = None
    if key.cast is not None:
        cast = CASTS.get(str(key.cast).upper())
        if cast is None:
            raise ValidationError(f"{model}.{name}: unsupported cast {key.cast!r} in conditions")
    if op in ("IN", "NOT IN"):
        value = _in_values(model, name, value)
    return Term(name, op, value, func, cast)


def _in_values(model: str, name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
        return [v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v for v in items]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    raise ValidationError(f"{model}.{name}: IN expects a list or a comma-separated string, got {value!r}")


def _names(value: Any, *, what: str, model: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    return [_sql.check_attribute(n, where=f"{model}.find {what}") for n in names]


def _select_names(model: str, value: Any) -> list[str]:
    """``select`` as a list, or as one string of comma-separated names (``"name, qty"``)."""
    if not isinstance(value, str):
        return _names(value, what="select", model=model)
    return [_sql.check_attribute(n.strip(), where=f"{model}.find select {value!r}") for n in value.split(",")]


def make_plan(
    model: str,
    *,
    conditions: Any = None,
    op: Any = "AND",
    select: Sequence[str] | str | None = None,
    order: Sequence[str] | str | None = None,
    orderdir: Sequence[str] | str | None = None,
    per_page: int | None = None,
    offset: int | None = None,
    compare: Callable[[Any, Any], int] | None = None,
) -> FindPlan:
    """Check every find() option and build the plan."""
    plan = FindPlan(where=parse_conditions(model, conditions, op), compare=compare)
    if select is not None:
        plan.select = _select_names(model, select)
    if order is not None:
        names = _names(order, what="order", model=model)
        dirs = [orderdir] if isinstance(orderdir, str) or orderdir is None else list(orderdir)
        for i, name in enumerate(names):
            d = dirs[i] if i < len(dirs) else (dirs[-1] if isinstance(orderdir, str) else None)
            text = "ASC" if d is None else str(d).strip().upper()
            if text not in ("ASC", "DESC"):
                raise ValidationError(f"{model}.find: orderdir must be 'ASC' or 'DESC', got {d!r}")
            plan.order.append((name, text == "DESC"))
    if per_page is not None:
        plan.limit = _count(model, "per_page", per_page)
        # Rhom honours offset only together with per_page.
        plan.offset = _count(model, "offset", offset) if offset is not None else None
    return plan


def _count(model: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValidationError(f"{model}.find: {key} must be a non-negative 64-bit integer, got {value!r}")
    return value
