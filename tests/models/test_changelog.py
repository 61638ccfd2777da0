"""The changelog a sync pushes from (rhom-api §12 items 1-3, §5.1-5.3, protocol §10.3).

Every test runs on fixed schema and property bag; synced models must log exactly the
Rhodes rows, local models must log nothing at all.
"""

from __future__ import annotations

from typing import Any

import pytest

import rhom

from .helpers import kinds, log, mark_sent

# -- item 1: a create is one placeholder, edits fold into it ----------------------------------


def test_create_logs_one_placeholder_row(product: Any) -> None:
    obj = product.create(name="Aeroprise", industry="Technology", price=9.5)
    if not product._rhom.is_sync:
        assert log(product) == []
        return
    [entry] = log(product)
    assert (entry.update_type, entry.attrib, entry.object, entry.sent) == ("create", "object", obj.object, 0)
    assert entry.source_id == product.get_source_id()


def test_new_then_save_logs_one_placeholder_row(product: Any) -> None:
    obj = product(name="Mobio", industry="Retail")
    assert product.find(obj.object) is None  # new() writes nothing
    assert log(product) == []
    obj.save()
    assert kinds(product) == ([("create", "object")] if product._rhom.is_sync else [])


def test_edits_of_an_unsynced_object_fold_into_its_create(product: Any) -> None:
    obj = product.create(name="Mobio", industry="Retail")
    obj.update_attributes(name="Mobio India", brand="M")
    obj.industry = "Technology"
    obj.save()
    assert kinds(product) == ([("create", "object")] if product._rhom.is_sync else [])
    stored = product.find(obj.object)
    assert (stored.name, stored.industry, stored.brand) == ("Mobio India", "Technology", "M")


# -- item 2: the latest value per attribute; unchanged values are not logged ------------------


def test_saving_a_bag_object_keeps_stored_values_nobody_changed(bag_product: Any) -> None:
    """A declared field can read a stored text back as a different text (a DateField
    drops the time of day, a FloatField reads "2.50" as 2.5): save writes, and queues,
    only what changed since the object was read, as Rhom compares the text it read."""
    db = bag_product._rhom.database
    sid = bag_product.get_source_id()
    with rhom.no_changelog(db):  # values as a server or another client stored them
        for attrib, value in (("name", "x"), ("available_on", "1700000123"), ("price", "2.50")):
            db.insert_into_table("object_values", {"source_id": sid, "object": "1", "attrib": attrib, "value": value})
    obj = bag_product.find("1")
    obj.name = "y"
    obj.save()
    stored = {r["attrib"]: r["value"] for r in db.select_from_table("object_values", "*", {"object": "1"})}
    assert stored == {"name": "y", "available_on": "1700000123", "price": "2.50"}
    if bag_product._rhom.is_sync:
        assert kinds(bag_product) == [("update", "name")]
    obj.update_attributes(price=2.5, available_on=obj.available_on)  # the values it holds
    assert bag_product.find("1").vars == obj.vars
    assert kinds(bag_product) == ([("update", "name")] if bag_product._rhom.is_sync else [])


def test_update_attributes_twice_queues_only_the_latest_value(product: Any) -> None:
    obj = product.create(name="Mobio", industry="Retail")
    mark_sent(product)
    obj.update_attributes(name="first")
    obj.update_attributes(name="second")
    if not product._rhom.is_sync:
        assert log(product) == []
        return
    [entry] = log(product, obj)
    assert (entry.update_type, entry.attrib, entry.value) == ("update", "name", "second")


def test_partial_and_full_update_log_one_row_per_changed_attribute(product: Any) -> None:
    a = product.create(name="A", industry="Retail")
    b = product.create(name="B", industry="Retail")
    mark_sent(product)
    a.update_attributes(name="A2")
    b.update_attributes(name="B2", industry="Technology")
    if not product._rhom.is_sync:
        assert log(product) == []
        return
    assert [(e.attrib, e.value) for e in log(product, a)] == [("name", "A2")]
    assert sorted((e.attrib, e.value) for e in log(product, b)) == [
        ("industry", "Technology"),
        ("name", "B2"),
    ]
    assert {e.update_type for e in log(product)} == {"update"}


def test_saving_an_unchanged_value_logs_nothing(product: Any) -> None:
    obj = product.create(name="Mobio", price=2.5)
    mark_sent(product)
    obj.update_attributes(name="Mobio", price=2.5)
    obj.save()
    product.find(obj.object).save()
    assert log(product) == []


def test_none_to_empty_string_is_not_a_change(product: Any) -> None:
    obj = product.create(name="Mobio")
    mark_sent(product)
    obj.update_attributes(industry="")
    obj.update_attributes(brand=None)
    assert log(product) == []


def test_a_value_emptied_to_empty_string_is_a_change(product: Any) -> None:
    obj = product.create(name="Mobio", industry="Retail")
    mark_sent(product)
    obj.update_attributes(industry="")
    if not product._rhom.is_sync:
        assert log(product) == []
        return
    [entry] = log(product, obj)
    assert (entry.update_type, entry.attrib, entry.value or "") == ("update", "industry", "")
    assert product.find(obj.object).industry in ("", None)


def test_save_logs_a_new_attribute_of_a_synced_object(sync_product: Any) -> None:
    obj = sync_product.create(name="Mobio")
    mark_sent(sync_product)
    obj.brand = "Moto"
    obj.save()
    assert [(e.update_type, e.attrib, e.value) for e in log(sync_product, obj)] == [("update", "brand", "Moto")]


def test_numbers_are_logged_as_their_stored_text(sync_product: Any) -> None:
    obj = sync_product.create(name="Mobio")
    mark_sent(sync_product)
    obj.update_attributes(quantity=7)
    [entry] = log(sync_product, obj)
    assert (entry.attrib, str(entry.value)) == ("quantity", "7")


# -- item 3: destroy and delete_all --------------------------------------------------------


def test_destroying_a_never_synced_object_leaves_no_rows(product: Any) -> None:
    obj = product.create(name="Mobio", industry="Retail")
    obj.update_attributes(name="Mobio 2")
    obj.destroy()
    assert log(product) == []
    assert product.find(obj.object) is None


def test_destroying_a_synced_object_queues_deletes_with_last_values(product: Any) -> None:
    obj = product.create(name="Mobio", industry="Retail")
    mark_sent(product)
    obj.update_attributes(name="Mobio 2")  # a queued update the delete replaces
    obj.destroy()
    assert product.find(obj.object) is None
    if not product._rhom.is_sync:
        assert log(product) == []
        return
    rows = log(product, obj)
    assert {e.update_type for e in rows} == {"delete"}
    assert sorted((e.attrib, e.value) for e in rows if e.value is not None) == [
        ("industry", "Retail"),
        ("name", "Mobio 2"),
    ]
    # a property bag queues the attributes it has; a fixed schema every column, NULL ones
    # too (Rhom's destroy reads the whole row: rhom_object_factory.rb, destroy)
    expected = set(product._rhom.fields) if product._rhom.fixed_schema else {"industry", "name"}
    assert {e.attrib for e in rows} == expected


def test_delete_all_without_conditions_deletes_every_object_and_queues_deletes(product: Any) -> None:
    objs = [product.create(name=f"n{i}", industry="Retail") for i in range(3)]
    mark_sent(product)
    assert product.delete_all() == 3
    assert product.count() == 0
    if product._rhom.is_sync:
        queued = sorted(product._rhom.fields) if product._rhom.fixed_schema else ["industry", "name"]
        for obj in objs:
            assert sorted(kinds(product, obj)) == [("delete", name) for name in queued]
    else:
        assert log(product) == []


@pytest.mark.parametrize(
    ("conditions", "op", "survivors"),
    [
        ({"industry": "Retail"}, "AND", ["c"]),
        ({"industry": "Retail", "name": "a"}, "AND", ["b", "c"]),
        ({"name": "a", "brand": "Z"}, "OR", ["b"]),
        ({rhom.C("name", op="IN"): ["a", "c"]}, "AND", ["b"]),
        ([rhom.Group({"name": "a"}), rhom.Group({rhom.C("industry", op="LIKE"): "tech%"})], "OR", ["b"]),
    ],
    ids=["simple", "multiple", "or", "advanced", "groups"],
)
def test_delete_all_with_conditions_touches_only_matching_objects(
    product: Any, conditions: Any, op: str, survivors: list[str]
) -> None:
    a = product.create(name="a", industry="Retail")
    b = product.create(name="b", industry="Retail")
    c = product.create(name="c", industry="Technology", brand="Z")
    mark_sent(product)
    deleted = product.delete_all(conditions=conditions, op=op)
    assert sorted(o.name for o in product.find_all()) == survivors
    assert deleted == 3 - len(survivors)
    gone = {o.object for o in (a, b, c) if o.name not in survivors}
    if product._rhom.is_sync:
        assert {e.object for e in log(product)} == gone
        assert {e.update_type for e in log(product)} == {"delete"}
    else:
        assert log(product) == []


def test_delete_all_of_never_synced_objects_leaves_no_rows(product: Any) -> None:
    for i in range(3):
        product.create(name=f"n{i}")
    product.delete_all()
    assert log(product) == []


def test_delete_all_does_not_touch_other_sources(product: Any) -> None:
    from .models import PRODUCTS

    others = [m for m in PRODUCTS if m is not product]
    for model in (product, *others):
        model.create(name="same", industry="Retail")
    product.delete_all(conditions={"name": "same"})
    assert product.count() == 0
    for other in others:
        assert other.count() == 1
        assert other.find_first().name == "same"


# -- other changelog readers ------------------------------------------------------------------


def test_changed_and_local_change_flags_follow_the_changelog(product: Any) -> None:
    assert product.changed() is False
    assert rhom.have_local_changes() is False
    assert rhom.any_model_changed() is False
    obj = product.create(name="Mobio")
    other = product.create(name="Other")
    mark_sent(product, other)
    sync = product._rhom.is_sync
    assert product.changed() is sync
    assert obj.changed() is sync
    assert other.changed() is False
    assert rhom.have_local_changes() is sync
    assert rhom.any_model_changed() is sync


def test_have_local_changes_ignores_creates_awaiting_confirmation(sync_product: Any) -> None:
    obj = sync_product.create(name="Mobio")
    db = sync_product._rhom.database
    db.execute_sql("UPDATE changed_values SET sent = 2")  # pushed; the server has not linked it yet
    assert rhom.have_local_changes() is False
    assert rhom.any_model_changed() is True
    assert obj.can_modify() is False


def test_can_modify_is_true_for_queued_and_local_objects(product: Any) -> None:
    obj = product.create(name="Mobio")
    assert obj.can_modify() is True


def test_a_create_awaiting_confirmation_withholds_later_edits(sync_product: Any) -> None:
    obj = sync_product.create(name="Mobio")
    sync_product._rhom.database.execute_sql("UPDATE changed_values SET sent = 2")
    obj.update_attributes(name="Mobio 2")
    # the sent=2 create still exists and the edit is queued after it, never folded into it
    rows = log(sync_product, obj)
    assert ("create", "object", 2) in [(e.update_type, e.attrib, e.sent) for e in rows]
    assert [(e.update_type, e.attrib, e.value, e.sent) for e in rows if e.sent == 0] == [
        ("update", "name", "Mobio 2", 0)
    ]


def test_push_changes_queues_a_marker_for_sync_models_only(product: Any) -> None:
    product.push_changes()
    if product._rhom.is_sync:
        [entry] = log(product)
        assert (entry.update_type, entry.object, entry.attrib) == ("push_changes", None, None)
        assert rhom.have_local_changes() is True
    else:
        assert log(product) == []


def test_a_failed_write_rolls_back_its_changelog_rows(product: Any) -> None:
    db = product._rhom.database
    with pytest.raises(RuntimeError), db.atomic():
        product.create(name="Mobio")
        raise RuntimeError("boom")
    assert product.count() == 0
    assert log(product) == []


# -- rows in flight (sent=1) ------------------------------------------------------------------


def test_an_edit_during_a_push_queues_a_new_row_beside_the_one_in_flight(sync_product: Any) -> None:
    obj = sync_product.create(name="Mobio")
    mark_sent(sync_product)
    obj.update_attributes(name="sent value")
    sync_product._rhom.database.execute_sql("UPDATE changed_values SET sent = 1")  # the push started
    obj.update_attributes(name="typed during the push")
    rows = sorted((e.sent, e.attrib, e.value) for e in log(sync_product, obj))
    assert rows == [(0, "name", "typed during the push"), (1, "name", "sent value")]
    assert rhom.have_local_changes() is True


def test_an_edit_of_an_object_whose_create_is_in_flight_is_queued_as_an_update(sync_product: Any) -> None:
    obj = sync_product.create(name="Mobio")
    sync_product._rhom.database.execute_sql("UPDATE changed_values SET sent = 1")
    obj.update_attributes(name="typed during the push")
    rows = sorted((e.sent, e.update_type, e.attrib) for e in log(sync_product, obj))
    assert rows == [(0, "update", "name"), (1, "create", "object")]


@pytest.mark.parametrize("model_name", ["AppCatalog", "AppFixedCatalog"])
def test_app_partition_models_log_in_the_app_database(rhom_setup: Any, model_name: str) -> None:
    from . import models

    model: Any = getattr(models, model_name)
    obj = model.create(title="shared")
    assert model._rhom.database is rhom.get_database("app")
    assert [(e.update_type, e.object) for e in rhom.changelog.entries(rhom.get_database("app"))] == [
        ("create", obj.object)
    ]
    assert rhom.changelog.entries(rhom.get_database("user")) == []
    assert rhom.have_local_changes() is True
