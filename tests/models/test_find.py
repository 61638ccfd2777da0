"""Reading: find's argument forms, the condition language, select/order/paging
(rhom-api §2.2 and §12 items 4-6), on fixed schema and property bag, synced and local."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import peewee
import pytest

import rhom
from rhom import C, Group

# rhom_object_spec.rb's fixture rows, reduced
ROWS: list[dict[str, Any]] = [
    {"object": "44e804f2", "name": "Mobio India", "industry": "Technology", "brand": "Moto", "quantity": 11},
    {"object": "63cfbea3", "name": "Aeroprise", "industry": "Technology", "quantity": 3},
    {"object": "8ed47b15", "name": "Mirapath", "industry": "Retail", "brand": "Acme", "quantity": 1},
    {"object": "b5fa2a6e", "name": "Rhomobile", "industry": "Software", "brand": "Acme"},
]


@pytest.fixture
def seeded(product: Any) -> Any:
    for row in ROWS:
        product.create(**row)
    return product


def names(objs: list[Any]) -> list[str]:
    return [o.name for o in objs]


# -- item 4: argument forms -----------------------------------------------------------------


@pytest.mark.parametrize("args", [(None,), ()], ids=["none", "no-argument"])
def test_find_without_an_id_raises_record_not_found(seeded: Any, args: tuple[Any, ...]) -> None:
    with pytest.raises(rhom.RecordNotFound):
        seeded.find(*args)


def test_find_by_id_returns_the_object_or_none(seeded: Any) -> None:
    obj = seeded.find("63cfbea3")
    assert (obj.object, obj.name, obj.industry) == ("63cfbea3", "Aeroprise", "Technology")
    assert seeded.find("{63cfbea3}").name == "Aeroprise"  # legacy braces are stripped
    assert seeded.get("63cfbea3").name == "Aeroprise"
    assert seeded.find("missing") is None
    assert seeded.get("missing") is None


def test_find_first_and_all_on_an_empty_model(product: Any) -> None:
    assert product.find("first") is None
    assert product.find_first() is None
    assert product.find("all") == []
    assert product.find("count") == 0


def test_find_all_without_order_follows_rhom(product: Any) -> None:
    """Without ``order``, Rhom reads a fixed-schema table as stored (``SELECT * FROM
    table``: insertion order) and a property bag by object id (``... WHERE source_id=?
    order by object``, rhom_object_factory.rb, find); paging keeps the same order (the
    paginate specs of rhom_object_spec.rb)."""
    for oid in ("b2", "a1", "c3", "a10"):
        product.create(object=oid, name=f"n-{oid}")
    expected = ["b2", "a1", "c3", "a10"] if product._rhom.fixed_schema else ["a1", "a10", "b2", "c3"]
    assert [o.object for o in product.find("all")] == expected
    assert [o.object for o in product.find_all()] == expected
    assert product.find(rhom.FIRST).object == expected[0]
    assert [o.object for o in product.paginate(page=1, per_page=2)] == expected[2:]
    found = product.find("all", conditions={C("name", op="LIKE"): "n-%"}, per_page=3, offset=1)
    assert [o.object for o in found] == expected[1:]
    # ties of an order fall back to the same order
    assert [o.object for o in product.find("all", order="industry")] == expected


def test_count_with_and_without_conditions(seeded: Any) -> None:
    assert seeded.count() == 4
    assert seeded.find("count") == 4
    assert seeded.find("count", conditions={"industry": "Technology"}) == 2
    assert seeded.count(conditions={"industry": "Technology", "name": "Aeroprise"}) == 1
    assert seeded.count(conditions={C("name", op="LIKE", func="UPPER"): "%MO%"}) == 2


def test_a_missing_attribute_reads_as_none(seeded: Any) -> None:
    obj = seeded.find("63cfbea3")
    assert obj.brand is None
    assert obj["brand"] is None


def test_an_undeclared_attribute_of_an_open_bag_reads_as_none(bag_product: Any) -> None:
    obj = bag_product.create(name="x")
    assert obj.never_set is None
    assert bag_product.find(obj.object).never_set is None


def test_bag_values_are_strings_unless_a_field_is_declared(bag_product: Any) -> None:
    obj = bag_product.create(name="x", rating=5, ok=True, quantity="7", price="2.5")
    stored = bag_product.find(obj.object)
    assert (stored.rating, stored.ok) == ("5", "true")  # undeclared: text
    assert (stored.quantity, stored.price) == (7, 2.5)  # declared fields convert on read


def test_fixed_schema_values_come_back_typed(product: Any) -> None:
    when = dt.datetime(2024, 5, 17, 10, 30, tzinfo=dt.timezone.utc)
    obj = product.create(name="x", price="9.25", quantity="12", available_on=dt.date(2024, 5, 17), updated_at=when)
    stored = product.find(obj.object)
    assert stored.price == 9.25 and isinstance(stored.price, float)
    assert stored.quantity == 12 and isinstance(stored.quantity, int)
    assert stored.available_on == dt.date(2024, 5, 17)
    assert stored.updated_at == when


# -- item 5: the condition language -----------------------------------------------------------


def test_simple_conditions_are_joined_with_and(seeded: Any) -> None:
    assert names(seeded.find("all", conditions={"industry": "Technology", "brand": "Moto"})) == ["Mobio India"]


def test_none_condition_matches_absent_attributes(seeded: Any) -> None:
    assert names(seeded.find("all", conditions={"brand": None})) == ["Aeroprise"]


def test_empty_string_condition_matches_an_empty_value(product: Any) -> None:
    product.create(name="blank", brand="")
    product.create(name="set", brand="X")
    assert names(product.find("all", conditions={"brand": ""})) == ["blank"]


def test_op_or_joins_the_conditions(seeded: Any) -> None:
    found = seeded.find("all", conditions={"name": "Aeroprise", "brand": "Acme"}, op="or")
    assert names(found) == ["Aeroprise", "Mirapath", "Rhomobile"]


def test_like_is_case_insensitive(seeded: Any) -> None:
    assert names(seeded.find("all", conditions={C("name", op="LIKE"): "mo%"})) == ["Mobio India"]
    assert names(seeded.find("all", conditions={C("name", op="like", func="UPPER"): "%MO%"})) == [
        "Mobio India",
        "Rhomobile",
    ]


def test_advanced_and_or_conditions(seeded: Any) -> None:
    both = {C("name", op="LIKE", func="UPPER"): "%MO%", C("industry", op="LIKE", func="UPPER"): "%SOFT%"}
    assert names(seeded.find("all", conditions=both)) == ["Rhomobile"]
    assert names(seeded.find("all", conditions=both, op="OR")) == ["Mobio India", "Rhomobile"]


def test_plain_and_advanced_keys_mix(seeded: Any) -> None:
    found = seeded.find("all", conditions={"industry": "Technology", C("name", op="<>"): "Aeroprise"})
    assert names(found) == ["Mobio India"]


def test_advanced_condition_that_matches_nothing(seeded: Any) -> None:
    assert seeded.find("all", conditions={C("name", op="LIKE"): "%nothing%"}) == []
    assert seeded.find("first", conditions={C("name", op=">"): "zzz"}) is None


@pytest.mark.parametrize(
    "value",
    [["Aeroprise", "Mirapath"], ("Aeroprise", "Mirapath"), "'Aeroprise', \"Mirapath\"", "Aeroprise,Mirapath"],
    ids=["list", "tuple", "quoted-string", "string"],
)
def test_in_and_not_in(seeded: Any, value: Any) -> None:
    assert names(seeded.find("all", conditions={C("name", op="IN"): value})) == ["Aeroprise", "Mirapath"]
    assert names(seeded.find("all", conditions={C("name", op="NOT IN"): value})) == [
        "Mobio India",
        "Rhomobile",
    ]


def test_in_rejects_a_value_that_is_not_a_list_or_string(seeded: Any) -> None:
    with pytest.raises(rhom.ValidationError, match="IN"):
        seeded.find("all", conditions={C("name", op="IN"): 3})


def test_find_by_object_id(seeded: Any) -> None:
    assert names(seeded.find("all", conditions={C("object", op="IN"): ["63cfbea3", "b5fa2a6e"]})) == [
        "Aeroprise",
        "Rhomobile",
    ]
    assert names(seeded.find("all", conditions={"object": "8ed47b15"})) == ["Mirapath"]


@pytest.mark.parametrize(
    "key",
    [C("quantity", op="<", cast="INTEGER"), C("quantity as INTEGER", op="<", func="CAST")],
    ids=["cast-keyword", "rhodes-cast-form"],
)
def test_cast_compares_numbers_as_numbers(seeded: Any, key: C) -> None:
    assert names(seeded.find("all", conditions={key: 4})) == ["Aeroprise", "Mirapath"]


def test_bag_text_compares_as_text_without_cast(bag_product: Any) -> None:
    for rating in ("1", "3", "11"):
        bag_product.create(name=rating, rating=rating)
    assert names(bag_product.find("all", conditions={C("rating", op="<"): "3"})) == ["1", "11"]
    assert names(bag_product.find("all", conditions={C("rating", op="<", cast="INTEGER"): 3})) == ["1"]


def test_groups_of_conditions(seeded: Any) -> None:
    groups = [
        Group({C("name", op="LIKE"): "%mo%", C("industry", op="LIKE"): "%mo%"}, op="OR"),
        Group({C("brand", op="="): "Acme"}),
    ]
    assert names(seeded.find("all", conditions=groups, op="AND")) == ["Rhomobile"]
    assert names(seeded.find("all", conditions=groups, op="OR")) == ["Mobio India", "Mirapath", "Rhomobile"]
    assert seeded.count(conditions=groups, op="AND") == 1
    rhodes_form = [{"conditions": {"brand": "Acme"}, "op": "AND"}, {"conditions": {"industry": "Retail"}}]
    assert names(seeded.find("all", conditions=rhodes_form)) == ["Mirapath"]


def test_sql_conditions_bind_their_parameters(seeded: Any) -> None:
    assert names(seeded.find("all", conditions="name LIKE 'Mi%'")) == ["Mirapath"]
    found = seeded.find("all", conditions=("name LIKE ? AND industry = ?", "%o%", "Technology"))
    assert names(found) == ["Mobio India", "Aeroprise"]
    # a value that looks like SQL is only ever a value
    assert seeded.find("all", conditions=("name = ?", "x' OR '1'='1")) == []


REFUSED_SQL: dict[str, tuple[Any, str]] = {
    "syntax": ("name = = 'x'", 'near "=": syntax error'),
    "unknown-column": ("colour = 'red'", "no such column: colour"),
    "unknown-function": ("nosuchfunc(name) = 1", "no such function: nosuchfunc"),
    "too-many-params": (("name = ?", "a", "b"), "its ? marks do not match the 2 parameter(s) given"),
    "too-few-params": (("name = ? AND brand = ?", "a"), "its ? marks do not match the 1 parameter(s) given"),
}


@pytest.mark.parametrize(("conditions", "reason"), REFUSED_SQL.values(), ids=REFUSED_SQL.keys())
def test_a_sql_condition_sqlite_refuses_raises_sql_error(seeded: Any, conditions: Any, reason: str) -> None:
    """Translated where the SQL runs, naming the model and quoting the condition; also a
    ValidationError (a bad condition) and a peewee.OperationalError (what it stands in for)."""
    sql = conditions if isinstance(conditions, str) else conditions[0]
    runs: list[tuple[str, Callable[[], Any]]] = [
        ("find", lambda: seeded.find("all", conditions=conditions)),
        ("find", lambda: seeded.find("first", conditions=conditions, order="name")),
        ("find", lambda: seeded.count(conditions=conditions)),
        ("delete_all", lambda: seeded.delete_all(conditions=conditions)),
    ]
    for call, run in runs:
        with pytest.raises(rhom.SQLError) as info:
            run()
        assert str(info.value) == f"{seeded.__name__}.{call}: SQLite refused the condition {sql!r}: {reason}"
        assert isinstance(info.value, rhom.ValidationError)
        assert isinstance(info.value, peewee.OperationalError)
        assert info.value.sql == sql
        assert isinstance(info.value.orig, sqlite3.Error)
    assert seeded.count() == len(ROWS)


def test_a_sql_condition_parameter_sqlite_cannot_bind_is_refused_before_any_sql(seeded: Any) -> None:
    with pytest.raises(rhom.ValidationError, match=r"SQL condition: parameter 2 must be a number, text, .*\{'a': 1\}"):
        seeded.find("all", conditions=("name = ? AND brand = ?", "x", {"a": 1}))


def test_a_database_failure_under_a_sql_condition_is_not_an_sql_error(seeded: Any) -> None:
    """Only SQLite refusing the caller's SQL is translated; a locked database is not the
    condition's fault and keeps peewee's (or sqlite3's) error."""
    db = seeded._rhom.database
    db.connection().execute("PRAGMA busy_timeout = 0")  # fail at once instead of waiting 10 s
    other = sqlite3.connect(db.path, timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises((peewee.OperationalError, sqlite3.OperationalError), match="locked") as info:
            seeded.delete_all(conditions="name LIKE 'M%'")
        assert not isinstance(info.value, rhom.SQLError)
    finally:
        other.rollback()
        other.close()
    assert seeded.count() == len(ROWS)


def test_find_by_a_time_field(product: Any) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    obj = product.create(name="timed", updated_at=when)
    product.create(name="other", updated_at=when + dt.timedelta(days=1))
    assert names(product.find("all", conditions={"updated_at": when})) == ["timed"]
    obj.update_attributes(updated_at=when + dt.timedelta(hours=1))
    assert product.find(obj.object).updated_at == when + dt.timedelta(hours=1)
    assert product.find("all", conditions={"updated_at": when}) == []


# -- item 6: select, order, paging ------------------------------------------------------------


def test_select_limits_the_attributes_to_select_plus_two(seeded: Any) -> None:
    [obj] = seeded.find("all", conditions={"name": "Mobio India"}, select=["name", "industry"])
    assert set(obj.vars) == {"object", "source_id", "name", "industry"}
    assert obj.vars["name"] == "Mobio India"
    assert obj.vars["source_id"] == seeded.get_source_id()
    first = seeded.find("first", select=["brand"], order="name", orderdir="DESC")
    assert set(first.vars) == {"object", "source_id", "brand"}


def test_select_takes_a_comma_separated_string_of_names(seeded: Any) -> None:
    """``select="name, quantity"`` means the list ``["name", "quantity"]``."""
    as_text = seeded.find("all", order="name", select=" name,quantity ,  brand")
    as_list = seeded.find("all", order="name", select=["name", "quantity", "brand"])
    assert [o.vars for o in as_text] == [o.vars for o in as_list]
    assert set(as_text[0].vars) == {"object", "source_id", "name", "quantity"}  # Aeroprise: no brand
    assert set(seeded.find("first", select="industry").vars) == {"object", "source_id", "industry"}


BAD_SELECTS = [("name, x; DROP TABLE y", "x; DROP TABLE y"), ("name,,brand", ""), ("name,", ""), ("a b", "a b")]


@pytest.mark.parametrize(("select", "bad"), BAD_SELECTS, ids=[s for s, _ in BAD_SELECTS])
def test_select_as_text_checks_each_name_as_the_list_form_does(seeded: Any, select: str, bad: str) -> None:
    """Each name is checked; the message quotes the bad one and the text it came from."""
    message = f"{seeded.__name__}.find select {select!r}: invalid attribute name {bad!r}"
    with pytest.raises(rhom.ValidationError, match=re.escape(message)):
        seeded.find("all", select=select)


def test_order_ascending_and_descending(seeded: Any) -> None:
    assert names(seeded.find("all", order="name")) == ["Aeroprise", "Mirapath", "Mobio India", "Rhomobile"]
    assert names(seeded.find("all", order="name", orderdir="desc")) == [
        "Rhomobile",
        "Mobio India",
        "Mirapath",
        "Aeroprise",
    ]


def test_order_keeps_objects_lacking_the_attribute(seeded: Any) -> None:
    """rhom-api §11.3: objects without the order attribute are kept, last for ASC."""
    assert names(seeded.find("all", order="brand"))[-1] == "Aeroprise"
    assert names(seeded.find("all", order="brand", orderdir="DESC"))[0] == "Aeroprise"
    assert len(seeded.find("all", order="brand", dont_ignore_missed_attribs=True)) == 4


def test_order_by_several_attributes(seeded: Any) -> None:
    found = seeded.find("all", order=["industry", "name"], orderdir=["DESC", "ASC"])
    assert names(found) == ["Aeroprise", "Mobio India", "Rhomobile", "Mirapath"]
    found = seeded.find("all", order=["brand", "name"], orderdir=["ASC", "DESC"])
    assert names(found) == ["Rhomobile", "Mirapath", "Mobio India", "Aeroprise"]


def test_order_with_a_comparator(seeded: Any) -> None:
    def by_length(a: Any, b: Any) -> int:
        return (len(a) > len(b)) - (len(a) < len(b))

    assert names(seeded.find("all", order="name", compare=by_length)) == [
        "Mirapath",
        "Aeroprise",
        "Rhomobile",
        "Mobio India",
    ]
    assert names(seeded.find("all", order="name", orderdir="DESC", compare=by_length))[0] == "Mobio India"
    assert names(seeded.find("all", order="name", compare=by_length, per_page=2, offset=1)) == [
        "Aeroprise",
        "Rhomobile",
    ]


def test_comparator_without_order_compares_objects(seeded: Any) -> None:
    def by_name(a: Any, b: Any) -> int:
        return int(a.name > b.name) - int(a.name < b.name)

    assert names(seeded.find("all", compare=by_name)) == sorted(r["name"] for r in ROWS)


def test_per_page_and_offset(seeded: Any) -> None:
    assert names(seeded.find("all", order="name", per_page=2)) == ["Aeroprise", "Mirapath"]
    assert names(seeded.find("all", order="name", per_page=2, offset=2)) == ["Mobio India", "Rhomobile"]
    assert names(seeded.find("all", order="name", offset=2)) == names(seeded.find("all", order="name"))
    assert seeded.find("first", order="name", offset=1, per_page=1).name == "Mirapath"


def test_paginate(product: Any) -> None:
    for i in range(30):
        product.create(name=f"n{i:02}")
    assert names(product.paginate(order="name")) == [f"n{i:02}" for i in range(10)]
    assert names(product.paginate(page=1, order="name")) == [f"n{i:02}" for i in range(10, 20)]
    assert product.paginate(page=3) == []
    assert names(product.paginate(page=1, per_page=20, order="name")) == [f"n{i:02}" for i in range(20, 30)]
    with pytest.raises(rhom.ValidationError):
        product.paginate(page=-1)


# -- find_by_sql ------------------------------------------------------------------------------


def test_find_by_sql_on_fixed_schema_returns_typed_objects(fixed_product: Any) -> None:
    fixed_product.create(object="1", name="x", quantity=3)
    fixed_product.create(object="2", name="y", quantity=4)
    table = fixed_product._meta.table_name
    [obj] = fixed_product.find_by_sql(f'SELECT * FROM "{table}" WHERE name = ?', ["x"])
    assert isinstance(obj, fixed_product)
    assert (obj.object, obj.name, obj.quantity) == ("1", "x", 3)
    assert [o.object for o in fixed_product.find_by_sql(f'SELECT * FROM "{table}" ORDER BY quantity DESC')] == [
        "2",
        "1",
    ]


def test_find_by_sql_into_an_unknown_column_raises(fixed_product: Any) -> None:
    """Rhom raises ArgumentError (Rhodes' spec "should not add property to freezed model");
    rhom's SQLError is a ValidationError and the peewee.OperationalError it replaces."""
    table = fixed_product._meta.table_name
    sql = f'INSERT INTO "{table}" (object, nope) VALUES (?, ?)'
    with pytest.raises(rhom.SQLError) as info:
        fixed_product.find_by_sql(sql, ["9", "v"])
    name = fixed_product.__name__
    reason = f"table {table} has no column named nope"
    assert str(info.value) == f"{name}.find_by_sql: SQLite refused the SQL {sql!r}: {reason}"
    assert isinstance(info.value, rhom.ValidationError)
    assert isinstance(info.value, peewee.OperationalError)
    select = f'SELECT * FROM "{table}" WHERE name = ?'
    with pytest.raises(rhom.SQLError, match="its \\? marks do not match the 2 parameter"):
        fixed_product.find_by_sql(select, ["x", "y"])
    with pytest.raises(rhom.ValidationError, match=rf"{name}.find_by_sql: parameter 1 must be a number"):
        fixed_product.find_by_sql(select, [object()])
    assert fixed_product.count() == 0


def test_find_by_sql_is_refused_by_property_bags(bag_product: Any) -> None:
    bag_product.create(name="x")
    with pytest.raises(TypeError, match="fixed-schema"):
        bag_product.find_by_sql("SELECT * FROM object_values WHERE value = ?", ["x"])


def test_declared_number_fields_compare_and_sort_as_numbers_in_every_layout(product: Any) -> None:
    """A field declared ``IntegerField``/``FloatField`` means the same on a property bag as on
    a fixed schema, although the bag stores text ("11" < "3" as text)."""
    for q, p in ((11, 10.5), (3, 9.25), (1, 100.0)):
        product.create(name=str(q), quantity=q, price=p)
    assert names(product.find("all", conditions={C("quantity", op="<"): 4})) == ["3", "1"]
    assert names(product.find("all", conditions={C("quantity", op=">="): "3"})) == ["11", "3"]
    assert names(product.find("all", conditions={C("price", op=">"): 10})) == ["11", "1"]
    assert names(product.find("all", conditions={C("quantity", op="IN"): [11, 1]})) == ["11", "1"]
    assert names(product.find("all", conditions={"quantity": 3})) == ["3"]
    assert names(product.find("all", order="quantity")) == ["1", "3", "11"]
    assert names(product.find("all", order="price", orderdir="DESC")) == ["1", "11", "3"]


def test_a_bag_object_holds_only_non_none_attributes(bag_product: Any) -> None:
    obj = bag_product.create(name="x", brand="b")
    obj.update_attributes(brand=None)
    stored = bag_product.find(obj.object)
    assert "brand" not in stored.vars
    assert stored.brand is None
    assert names(bag_product.find("all", conditions={"brand": None})) == ["x"]
