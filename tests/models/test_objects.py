"""Object helpers and persistence details shared by every layout (rhom-api §2.1, §2.3, §4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import rhom

from .helpers import kinds, log, mark_sent


def test_create_accepts_a_dict_and_keywords(product: Any) -> None:
    obj = product.create({"name": "from dict"}, industry="from kwargs")
    stored = product.find(obj.object)
    assert (stored.name, stored.industry) == ("from dict", "from kwargs")


def test_a_given_object_id_is_kept(product: Any) -> None:
    obj = product.create(object="my-id", name="x")
    assert obj.object == "my-id"
    assert product.find("my-id").name == "x"


def test_object_none_means_a_generated_id(product: Any) -> None:
    obj = product.create(object=None, name="x")
    assert obj.object.isdigit()
    assert product.find(obj.object).name == "x"


def test_new_objects_get_distinct_generated_ids(product: Any) -> None:
    ids = {product.create(name=str(i)).object for i in range(20)}
    assert len(ids) == 20
    assert all(i.isdigit() for i in ids)


def test_write_methods_return_true(product: Any) -> None:
    obj = product(name="x")
    assert obj.save() is True
    assert obj.update_attributes(name="y") is True
    assert obj.destroy() is True


def test_vars_holds_object_source_id_and_attributes_and_is_a_copy(product: Any) -> None:
    obj = product.find(product.create(name="x", price=2.5).object)
    values = obj.vars
    assert values["object"] == obj.object
    assert values["source_id"] == product.get_source_id() == obj.source_id
    assert (values["name"], values["price"]) == ("x", 2.5)
    values["name"] = "changed"
    assert obj.name == "x"
    assert obj.to_dict() == obj.vars
    assert json.loads(obj.to_json())["name"] == "x"


def test_vars_leave_out_absent_attributes(product: Any) -> None:
    """Rhom's find sets only the non-NULL columns of a fixed-schema row (``vars.merge!(...)
    if attrVal``), so a found object's vars equal the created object's in both layouts."""
    created = product.create(name="x", industry="")
    found = product.find(created.object)
    assert (
        found.vars
        == created.vars
        == {
            "object": created.object,
            "source_id": product.get_source_id(),
            "name": "x",
            "industry": "",  # an empty string is a value
        }
    )
    assert product.find_first(conditions={"name": "x"}).vars == created.vars


def test_item_access_reads_attributes(product: Any) -> None:
    obj = product.create(name="x")
    assert obj["name"] == "x"
    assert obj["object"] == obj.object


def test_saving_a_new_object_with_an_existing_id_updates_it(product: Any) -> None:
    product.create(object="1", name="old", industry="Retail")
    mark_sent(product)
    product(object="1", name="new").save()
    stored = product.find("1")
    assert (stored.name, stored.industry) == ("new", "Retail")
    assert product.count() == 1
    if product._rhom.is_sync:
        assert kinds(product) == [("update", "name")]
    else:
        assert log(product) == []


def test_edits_to_a_found_object_are_saved(product: Any) -> None:
    product.create(object="1", name="old")
    obj = product.find("1")
    obj.name = "new"
    obj.save()
    assert product.find("1").name == "new"


def test_update_attributes_writes_only_the_given_attributes(product: Any) -> None:
    stale = product.create(object="1", name="a", industry="Retail")
    product.find("1").update_attributes(industry="Technology")  # another screen's edit
    stale.update_attributes(name="b")
    stored = product.find("1")
    assert (stored.name, stored.industry) == ("b", "Technology")


def test_many_writes_in_one_transaction_commit_together(product: Any) -> None:
    db = product._rhom.database
    with db.atomic():
        for i in range(50):
            product.create(name=f"n{i}")
        product.find_first().update_attributes(name="edited")
    assert product.count() == 50
    if product._rhom.is_sync:
        assert len(log(product)) == 50
        assert {e.update_type for e in log(product)} == {"create"}


def test_a_failing_write_inside_a_transaction_rolls_back_everything(product: Any) -> None:
    kept = product.create(object="kept", name="kept")
    mark_sent(product)
    db = product._rhom.database
    with pytest.raises(rhom.ValidationError), db.atomic():
        product.create(name="new")
        kept.update_attributes(name="edited")
        product.create(name="bad", price="not a number")
    assert [o.object for o in product.find_all()] == ["kept"]
    assert product.find("kept").name == "kept"
    assert log(product) == []


def test_source_helpers(product: Any) -> None:
    assert product.get_source_name() == product.__name__
    assert isinstance(product.get_source_id(), int)
    assert product._rhom.is_sync == (product._rhom.partition == "user")


def test_attribute_names_are_case_sensitive(bag_product: Any) -> None:
    obj = bag_product.create(propOne="1", TwoProps="2")
    stored = bag_product.find(obj.object)
    assert (stored.propOne, stored.TwoProps) == ("1", "2")
    assert stored.propone is None
    assert [o.object for o in bag_product.find_all(conditions={"propOne": "1"})] == [obj.object]
    assert bag_product.find_all(conditions={"propone": "1"}) == []


class _SyncedBase(rhom.PropertyBagModel):
    photo = rhom.BlobField()

    class Meta:
        abstract = True
        sync = True
        sync_priority = 5
        freezed = True


class InheritedBag(_SyncedBase):
    name = rhom.CharField()


class _FixedBase(rhom.Model):
    name = rhom.CharField()

    class Meta:
        abstract = True
        sync = True
        sync_priority = 7


class InheritedFixed(_FixedBase):
    extra = rhom.IntegerField()


@pytest.mark.parametrize(
    ("model", "priority", "fields"),
    [(InheritedBag, 5, {"photo", "name"}), (InheritedFixed, 7, {"name", "extra"})],
    ids=["bag", "fixed"],
)
def test_options_and_fields_are_inherited_from_an_abstract_base(
    data_dir: Any, model: Any, priority: int, fields: set[str]
) -> None:
    assert (model._rhom.is_sync, model._rhom.sync_priority, model._rhom.abstract) == (True, priority, False)
    assert set(model._rhom.fields) == fields
    assert model.get_source_name() == model.__name__
    rhom.setup(data_dir, models=[model])
    try:
        obj = model.create(name="x")
        assert model.find(obj.object).name == "x"
        assert [e.update_type for e in log(model)] == ["create"]
        with pytest.raises(rhom.UnknownAttributeError):
            model.create(colour="red")
    finally:
        rhom.shutdown()


def test_fixed_schema_meta_options_read_through_peewee_meta() -> None:
    from .models import FixedLocalProduct, FixedSyncProduct

    synced: Any = FixedSyncProduct._meta  # rhom's options on peewee's Metadata
    local: Any = FixedLocalProduct._meta
    assert (synced.sync, synced.sync_priority) == (True, 1000)
    assert (local.sync, local.partition) == (False, "local")
    assert synced.table_name == "FixedSyncProduct"
