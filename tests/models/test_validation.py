"""Bad input is refused before anything is written (rhom-api §12 item 7, §1.3, STYLE "Errors").

Frozen and fixed-schema models refuse undeclared attributes; fields refuse values they cannot
store, naming ``Model.attr`` and the value; condition names, operators, functions and casts
are checked so no text reaches SQL; Meta options are checked when the class is declared.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import rhom
from rhom import C

from .helpers import log, mark_sent
from .models import FixedLocalProduct, FixedSyncProduct, FrozenBagProduct


@pytest.fixture(
    params=[FixedSyncProduct, FixedLocalProduct, FrozenBagProduct],
    ids=["fixed-sync", "fixed-local", "frozen-bag"],
)
def frozen(request: pytest.FixtureRequest) -> Any:
    request.getfixturevalue("rhom_setup")
    return request.param


def assert_untouched(model: Any, expected: dict[str, dict[str, Any]]) -> None:
    """The stored objects are exactly *expected* (id -> some attributes) and no row was logged."""
    stored = {o.object: o for o in model.find_all()}
    assert sorted(stored) == sorted(expected)
    for oid, attrs in expected.items():
        for key, value in attrs.items():
            assert getattr(stored[oid], key) == value
    assert log(model) == []


# -- frozen models --------------------------------------------------------------------------


def test_new_with_an_unknown_attribute_raises(frozen: Any) -> None:
    with pytest.raises(rhom.UnknownAttributeError, match="colour"):
        frozen(name="x", colour="red")


def test_create_with_an_unknown_attribute_writes_nothing(frozen: Any) -> None:
    with pytest.raises(rhom.UnknownAttributeError, match=f"{frozen.__name__}.*colour"):
        frozen.create(name="x", colour="red")
    assert_untouched(frozen, {})


def test_setting_an_unknown_attribute_raises(frozen: Any) -> None:
    obj = frozen.create(object="1", name="x")
    mark_sent(frozen)
    with pytest.raises(rhom.UnknownAttributeError):
        obj.colour = "red"
    obj.save()
    assert_untouched(frozen, {"1": {"name": "x"}})


def test_update_attributes_with_an_unknown_attribute_writes_nothing(frozen: Any) -> None:
    obj = frozen.create(object="1", name="x")
    mark_sent(frozen)
    with pytest.raises(rhom.UnknownAttributeError):
        obj.update_attributes(name="changed", colour="red")
    assert_untouched(frozen, {"1": {"name": "x"}})


def test_unknown_attribute_error_is_an_attribute_error(frozen: Any) -> None:
    obj = frozen(name="x")
    with pytest.raises(AttributeError):
        obj.colour = "red"


def test_reading_an_unknown_attribute_gives_none(frozen: Any) -> None:
    """Rhom reads without a freezing check (rhom_object_factory.rb, method_missing): only
    setting an undeclared attribute raises; reading one gives None, as on any bag."""
    obj = frozen.create(name="x")
    assert obj.colour is None
    assert frozen.find(obj.object).colour is None
    with pytest.raises(AttributeError):  # names of Python's protocols still raise
        obj._colour  # noqa: B018


def test_declared_attributes_of_a_frozen_model_work(frozen: Any) -> None:
    obj = frozen.create(name="x", price=2.5)
    obj.update_attributes(name="y")
    stored = frozen.find(obj.object)
    assert (stored.name, stored.price) == ("y", 2.5)


# -- reserved names: refused where Rhom skipped them silently ---------------------------------


def test_update_attributes_cannot_change_the_object_id(product: Any) -> None:
    """Rhom's update_attributes skips ``object`` (``method_name_reserved?``): it returned true
    and changed nothing. rhom refuses, naming the attribute, and writes nothing."""
    first = product.create(object="1", name="a")
    product.create(object="2", name="b")
    mark_sent(product)
    message = rf"{product.__name__}\.object: an object's id cannot be changed \('1' to '2'\)"
    with pytest.raises(rhom.ValidationError, match=message):
        first.update_attributes(object="2", name="x")
    with pytest.raises(rhom.ValidationError, match=message):
        first.update_attributes({"@object": "2"})  # a stray @ is stripped first
    assert (first.object, first.name) == ("1", "a")
    assert_untouched(product, {"1": {"name": "a"}, "2": {"name": "b"}})


def test_a_stored_object_keeps_its_id_when_assigned_another(product: Any) -> None:
    created = product.create(object="1", name="a")
    product.create(object="2", name="b")
    mark_sent(product)
    for obj in (created, product.find("1")):
        with pytest.raises(rhom.ValidationError, match=rf"{product.__name__}\.object: .*'1' to '2'"):
            obj.object = "2"
        obj.save()  # saves nothing over object 2
        assert obj.object == "1"
    assert_untouched(product, {"1": {"name": "a"}, "2": {"name": "b"}})


def test_a_new_object_takes_its_id_by_assignment(product: Any) -> None:
    obj = product(name="n")
    obj.object = "7"  # not stored yet: this is the id it will be stored under
    obj.save()
    assert product.find("7").name == "n"


def test_a_source_id_other_than_the_models_is_refused_in_every_write(product: Any) -> None:
    obj = product.create(object="1", name="a")
    mark_sent(product)
    message = rf"{product.__name__}\.source_id: the source id is the model's \({product.get_source_id()}\) .* 999"
    with pytest.raises(rhom.ValidationError, match=message):
        product(name="b", source_id=999)
    with pytest.raises(rhom.ValidationError, match=message):
        product.create({"name": "b", "source_id": 999})
    with pytest.raises(rhom.ValidationError, match=message):
        obj.update_attributes(name="b", source_id=999)
    with pytest.raises(rhom.ValidationError, match=message):
        obj.source_id = 999
    obj.save()
    assert_untouched(product, {"1": {"name": "a", "source_id": product.get_source_id()}})


NOT_ATTRIBUTES = [("update_type", "create"), ("attrib_type", "blob.file"), ("set_notification", "x")]


@pytest.mark.parametrize(("name", "value"), NOT_ATTRIBUTES, ids=[n for n, _ in NOT_ATTRIBUTES])
def test_other_reserved_names_are_skipped_by_writes_and_refused_by_assignment(
    product: Any, name: str, value: Any
) -> None:
    """A write skips them as Rhom does (Rhodes' spec "should _NOT_ set 'attrib_type' field
    for a record" updates one and expects no error); assigning one can only be a mistake."""
    obj = product.create(object="1", name="a", **{name: value})
    assert obj.update_attributes({"name": "b", name: value}) is True
    with pytest.raises(rhom.ValidationError, match=rf"{product.__name__}\.{name}: '{name}' is a reserved name"):
        setattr(obj, name, value)
    stored = product.find("1")
    assert stored.name == "b"
    assert set(stored.vars) == {"object", "source_id", "name"}
    assert callable(product.set_notification) and callable(obj.set_notification)


def test_reserved_names_that_change_nothing_are_accepted(product: Any) -> None:
    """An object's own ``vars`` given back (its id, its model's source id) change nothing."""
    obj = product.create(object="1", name="a")
    assert obj.update_attributes({**obj.vars, "name": "b"}) is True
    obj.object = "1"
    obj.source_id = product.get_source_id()
    obj.save()
    copy = product.create({**obj.vars, "object": "2"})
    assert (product.find("1").name, product.find("2").name, copy.source_id) == ("b", "b", product.get_source_id())


def test_names_that_only_contain_reserved_words_are_ordinary(bag_product: Any) -> None:
    obj = bag_product.create(account_type="gold", object_acct="7")
    stored = bag_product.find(obj.object)
    assert (stored.account_type, stored.object_acct) == ("gold", "7")


def test_a_stray_at_sign_is_stripped_from_attribute_names(product: Any) -> None:
    obj = product.create(name="x")
    obj.update_attributes({"@name": "y"})
    assert product.find(obj.object).name == "y"


# -- values a field cannot store ------------------------------------------------------------

BAD_VALUES = [
    ("price", "abc"),
    ("price", True),
    ("quantity", "many"),
    ("quantity", 2.5),
    ("available_on", "yesterday"),
    ("updated_at", object()),
    ("price", float("nan")),  # SQLite would store NULL: the value lost
    ("price", float("inf")),
    ("price", "-inf"),
    ("quantity", 2**63),  # past SQLite's 64-bit integers
    ("quantity", str(-(2**70))),
]


@pytest.mark.parametrize(("attr", "value"), BAD_VALUES, ids=[f"{a}={v!r}"[:30] for a, v in BAD_VALUES])
def test_create_with_a_wrong_type_names_model_attr_and_value_and_writes_nothing(
    product: Any, attr: str, value: Any
) -> None:
    with pytest.raises(rhom.ValidationError) as info:
        product.create(name="ok", **{attr: value})
    assert f"{product.__name__}.{attr}" in str(info.value)
    assert repr(value) in str(info.value)
    assert_untouched(product, {})


def test_a_fixed_schema_text_column_refuses_a_list(fixed_product: Any) -> None:
    with pytest.raises(rhom.ValidationError, match=rf"{fixed_product.__name__}.brand: .*\['a', 'list'\]"):
        fixed_product.create(name="ok", brand=["a", "list"])
    assert_untouched(fixed_product, {})


def test_a_text_attribute_stores_a_datetime_as_its_text(product: Any) -> None:
    """Rhom writes ``value.to_s`` of every value (rhom_object_factory.rb, update_attributes),
    a ``Time`` too: rhom stores a date or time's ``str()`` in a text attribute, in both
    layouts, and compares conditions on it as text."""
    when = datetime.datetime(2024, 5, 1, 12, 30, 5)
    obj = product.create(name="x", industry=datetime.date(2024, 5, 1))
    obj.update_attributes(brand=when)
    stored = product.find(obj.object)
    assert (stored.industry, stored.brand) == ("2024-05-01", "2024-05-01 12:30:05")
    assert product.find("count", conditions={C("brand", op=">"): "2024-05-01"}) == 1


@pytest.mark.parametrize(("attr", "value"), BAD_VALUES[:5], ids=[f"{a}={v!r}" for a, v in BAD_VALUES[:5]])
def test_update_with_a_wrong_type_keeps_the_stored_value(product: Any, attr: str, value: Any) -> None:
    obj = product.create(object="1", name="ok", price=1.5, quantity=2)
    mark_sent(product)
    with pytest.raises(rhom.ValidationError, match=f"{product.__name__}.{attr}"):
        obj.update_attributes(name="changed", **{attr: value})
    assert_untouched(product, {"1": {"name": "ok", "price": 1.5, "quantity": 2}})


def test_peewee_insert_with_a_wrong_type_is_refused(rhom_setup: Any) -> None:
    with pytest.raises(rhom.ValidationError, match=r"FixedSyncProduct.price: .*'abc'"):
        FixedSyncProduct.insert(object="1", price="abc").execute()
    assert_untouched(FixedSyncProduct, {})


NUMBER_BOOLS = [("quantity", True), ("quantity", False), ("price", True), ("available_on", True), ("updated_at", False)]


@pytest.mark.parametrize(("attr", "value"), NUMBER_BOOLS, ids=[f"{a}={v!r}" for a, v in NUMBER_BOOLS])
def test_number_fields_refuse_a_bool_in_writes_and_conditions(product: Any, attr: str, value: bool) -> None:
    """A bool is an ``int`` to Python, not a number a user means (``quantity=True``). Rhom
    would store its text, ``"true"`` (``val.to_s``), which no number field accepts: every
    number field refuses it, in every layout, as it refuses ``"true"``."""
    obj = product.create(object="1", name="ok", quantity=2, price=1.5)
    mark_sent(product)
    message = rf"{product.__name__}\.{attr}: expected .*, got {value!r}"
    with pytest.raises(rhom.ValidationError, match=message):
        product.create(name="x", **{attr: value})
    with pytest.raises(rhom.ValidationError, match=message):
        obj.update_attributes(**{attr: value})
    with pytest.raises(rhom.ValidationError, match=message):
        product.find("all", conditions={attr: value})
    assert_untouched(product, {"1": {"name": "ok", "quantity": 2, "price": 1.5}})


def test_numbers_in_text_are_accepted_and_typed(product: Any) -> None:
    obj = product.create(price=" 3.5 ", quantity="4")
    stored = product.find(obj.object)
    assert (stored.price, stored.quantity) == (3.5, 4)


# -- conditions and names that could reach SQL -----------------------------------------------

BAD_FINDS: dict[str, dict[str, Any]] = {
    "sql-in-name": {"conditions": {C("name; DROP TABLE x"): "a"}},
    "sql-in-plain-key": {"conditions": {"name = 1; DROP TABLE object_values; --": "a"}},
    "unknown-op": {"conditions": {C("name", op="DROP"): "a"}},
    "sql-in-op": {"conditions": {C("name", op="= 1; DROP TABLE x; --"): "a"}},
    "unknown-func": {"conditions": {C("name", func="load_extension"): "a"}},
    "unknown-cast": {"conditions": {C("name", cast="BLOB); DROP TABLE x"): "a"}},
    "bad-group-op": {"conditions": [rhom.Group({"name": "a"}, op="XOR")]},
    "bad-top-op": {"conditions": {"name": "a"}, "op": "AND 1=1"},
    "group-not-a-group": {"conditions": [{"name": "a"}]},
    "bad-key-type": {"conditions": {3: "a"}},
    "bad-conditions": {"conditions": 42},
    "sql-in-select": {"select": ["name", "x; DROP TABLE y"]},
    "sql-in-order": {"order": "name; DROP TABLE y"},
    "bad-orderdir": {"order": "name", "orderdir": "SIDEWAYS"},
    "negative-per-page": {"per_page": -1},
    "bad-offset": {"per_page": 2, "offset": "1; DROP"},
}


@pytest.mark.parametrize("options", BAD_FINDS.values(), ids=BAD_FINDS.keys())
def test_bad_find_options_raise_validation_error(product: Any, options: dict[str, Any]) -> None:
    product.create(object="1", name="a")
    with pytest.raises(rhom.ValidationError):
        product.find("all", **options)
    assert [o.object for o in product.find_all()] == ["1"]


@pytest.mark.parametrize(
    "conditions",
    [v["conditions"] for v in BAD_FINDS.values() if "conditions" in v and "op" not in v],
    ids=[k for k, v in BAD_FINDS.items() if "conditions" in v and "op" not in v],
)
def test_bad_conditions_in_count_and_delete_all_touch_nothing(product: Any, conditions: Any) -> None:
    product.create(object="1", name="a")
    mark_sent(product)
    with pytest.raises(rhom.ValidationError):
        product.count(conditions=conditions)
    with pytest.raises(rhom.ValidationError):
        product.delete_all(conditions=conditions)
    assert_untouched(product, {"1": {"name": "a"}})


@pytest.mark.parametrize("name", ["name; DROP TABLE x", "a b", "x'y", "(name)", ""])
def test_attribute_names_that_look_like_sql_are_refused(product: Any, name: str) -> None:
    if name == "":
        product.create(**{"brand": "b", name: "skipped"})  # Rhom ignores keys of empty length
        [obj] = product.find_all()
        assert "" not in obj.vars
        assert obj.brand == "b"
        return
    with pytest.raises(rhom.ValidationError):
        product.create(**{name: "v"})
    assert product.count() == 0
    assert log(product) == []


def test_a_malformed_rhodes_cast_is_refused_when_built() -> None:
    with pytest.raises(rhom.ValidationError, match="attribute as TYPE"):
        C("name as", func="CAST")


def test_find_with_an_unsupported_argument_raises(product: Any) -> None:
    with pytest.raises(rhom.ValidationError):
        product.find(3.5)
    with pytest.raises(rhom.ValidationError):
        product.find("1", conditions={"name": "a"})


# -- Meta options ---------------------------------------------------------------------------

BASES = [rhom.Model, rhom.PropertyBagModel]


def declare(base: type, name: str, **meta: Any) -> type:
    """Declare a model class *name* with a ``class Meta`` holding *meta*."""
    return type(base)(name, (base,), {"__module__": __name__, "Meta": type("Meta", (), meta)})


@pytest.mark.parametrize("base", BASES, ids=["fixed", "bag"])
@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"sync": True, "sync_prioroty": 1}, "did you mean 'sync_priority'"),
        ({"sync": True, "partiton": "user"}, "did you mean 'partition'"),
        ({"sync": True, "sync_tipe": "incremental"}, "did you mean 'sync_type'"),
        ({"partition": "cloud"}, "partition"),
        ({"partition": 5}, "partition"),
        ({"sync": True, "partition": "local"}, "local"),
        ({"sync": True, "sync_type": "sometimes"}, "sync_type"),
        ({"sync": "yes"}, "sync"),
        ({"sync_priority": "high"}, "sync_priority"),
        ({"freezed": "yes"}, "freezed"),
        ({"full_update": 1}, "full_update"),
        ({"belongs_to": ["owner"]}, "belongs_to"),
        ({"migrate": "not callable"}, "migrate"),
        ({"source_name": "Bad Name; DROP"}, "source name"),
    ],
)
def test_bad_meta_options_raise_configuration_error(base: type, meta: dict[str, Any], message: str) -> None:
    with pytest.raises((rhom.ConfigurationError, rhom.ValidationError), match=message):
        declare(base, "Misconfigured", **meta)


@pytest.mark.parametrize("base", BASES, ids=["fixed", "bag"])
def test_a_typo_in_class_keywords_raises_configuration_error(base: type) -> None:
    with pytest.raises(rhom.ConfigurationError, match="sync_priority"):
        type(base)("Misconfigured", (base,), {"__module__": __name__}, sync=True, sync_prioroty=3)


def test_indexes_on_a_property_bag_raise() -> None:
    with pytest.raises(rhom.ConfigurationError, match="fixed-schema"):
        declare(rhom.PropertyBagModel, "IndexedBag", indexes={"by_name": ["name"]})


@pytest.mark.parametrize("base", BASES, ids=["fixed", "bag"])
def test_a_reserved_field_name_raises(base: type) -> None:
    with pytest.raises(rhom.ConfigurationError, match="reserved"):
        type(base)("Reserved", (base,), {"__module__": __name__, "source_id": rhom.CharField()})


@pytest.mark.parametrize("base", BASES, ids=["fixed", "bag"])
def test_custom_meta_options_are_kept(base: type) -> None:
    model: Any = declare(base, f"Custom{base.__name__}", sync=True, my_setting=42, sync_priority=5)
    assert model._rhom.options == {"my_setting": 42}
    assert model._rhom.sync_priority == 5
    assert model._rhom.partition == "user"


@pytest.mark.parametrize("base", BASES, ids=["fixed", "bag"])
@pytest.mark.parametrize(("given", "stored"), [("bulk_only", "bulk_sync_only"), ("bulk_sync_only", "bulk_sync_only")])
def test_bulk_only_sync_type_is_stored_as_bulk_sync_only(base: type, given: str, stored: str, data_dir: Any) -> None:
    model: Any = declare(base, f"Bulk{base.__name__}", sync=True, sync_type=given)
    rhom.setup(data_dir, models=[model])
    try:
        rows = rhom.get_database("user").execute_sql("SELECT sync_type FROM sources WHERE name = ?", (model.__name__,))
        assert rows == [{"sync_type": stored}]
        assert model._rhom.is_sync
    finally:
        rhom.shutdown()


def test_a_model_used_before_setup_raises_configuration_error() -> None:
    unregistered: Any = declare(rhom.PropertyBagModel, "NeverSetUp", sync=True)
    with pytest.raises(rhom.ConfigurationError):
        unregistered.create(name="x")


def test_two_models_with_one_source_name_are_refused(data_dir: Any) -> None:
    a = declare(rhom.PropertyBagModel, "TwinA", source_name="Twin")
    b = declare(rhom.PropertyBagModel, "TwinB", source_name="Twin")
    with pytest.raises(rhom.ConfigurationError, match="Twin"):
        rhom.setup(data_dir, models=[a, b])
    rhom.shutdown()


@pytest.mark.parametrize(
    "options",
    [{"conditions": {"colour": "red"}}, {"select": ["colour"]}, {"order": "colour"}],
    ids=["condition", "select", "order"],
)
def test_fixed_schema_find_refuses_unknown_attributes(fixed_product: Any, options: dict[str, Any]) -> None:
    fixed_product.create(name="x")
    with pytest.raises(rhom.ValidationError, match="colour"):
        fixed_product.find("all", **options)


def test_text_longer_than_max_length_is_refused(fixed_product: Any) -> None:
    with pytest.raises(rhom.ValidationError, match=rf"{fixed_product.__name__}.name: expected at most 255 characters"):
        fixed_product.create(name="x" * 10_000)
    assert_untouched(fixed_product, {})


def test_text_with_a_lone_surrogate_is_refused(fixed_product: Any) -> None:
    with pytest.raises(rhom.ValidationError, match=rf"{fixed_product.__name__}.name: expected valid Unicode"):
        fixed_product.create(name="bad \ud800")
    assert_untouched(fixed_product, {})


def test_create_with_the_id_of_another_object_is_refused(product: Any) -> None:
    product.create(object="1", name="first", price=1.5)
    mark_sent(product)
    with pytest.raises(rhom.ValidationError, match=r"create: object '1' already exists"):
        product.create(object="1", name="second", price=9.0)
    assert_untouched(product, {"1": {"name": "first", "price": 1.5}})


@pytest.mark.parametrize("options", [{"per_page": 2**63}, {"per_page": 10, "offset": 2**64}])
def test_huge_page_options_are_a_validation_error(product: Any, options: dict[str, Any]) -> None:
    with pytest.raises(rhom.ValidationError, match="64-bit"):
        product.find("all", **options)
