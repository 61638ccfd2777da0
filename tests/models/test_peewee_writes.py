"""peewee's own write paths on fixed-schema tables, and ``rhom.no_changelog``.

A fixed-schema model is a peewee model, so apps write with ``insert``, ``insert_many``,
``update().where()``, ``delete().where()`` and upserts too; for a synced model every one
of them must reach the changelog (rhom.changelog: "a changelog no write bypasses"), and
for a local model none of them may.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee
import pytest

import rhom

from .helpers import kinds, log, mark_sent
from .models import FixedLocalProduct, FixedSyncProduct

P: Any = FixedSyncProduct  # peewee's query API is untyped


@pytest.fixture
def synced(rhom_setup: Any) -> tuple[Any, Any]:
    """Two objects the server already knows (their creates were pushed and confirmed)."""
    a = P.create(object="a", name="Alpha", industry="Retail", price=1.0)
    b = P.create(object="b", name="Beta", industry="Retail", price=2.0)
    mark_sent(P)
    return a, b


def test_insert_logs_a_create(rhom_setup: Any) -> None:
    P.insert(object="x", name="Xeno").execute()
    assert kinds(P) == [("create", "object")]
    assert P.find("x").name == "Xeno"


def test_insert_without_object_gets_a_generated_id_and_logs_its_create(rhom_setup: Any) -> None:
    P.insert(name="Xeno").execute()
    [obj] = P.find_all()
    assert obj.object.isdigit()
    assert [e.object for e in log(P)] == [obj.object]


def test_insert_many_logs_one_create_per_row(rhom_setup: Any) -> None:
    P.insert_many([{"object": str(i), "name": f"n{i}"} for i in range(5)]).execute()
    rows = log(P)
    assert sorted(str(e.object) for e in rows) == ["0", "1", "2", "3", "4"]
    assert {(e.update_type, e.attrib) for e in rows} == {("create", "object")}


def test_bulk_create_logs_one_create_per_object(rhom_setup: Any) -> None:
    P.bulk_create([P(object=f"o{i}", name=f"n{i}") for i in range(3)])
    assert sorted(str(e.object) for e in log(P) if e.update_type == "create") == ["o0", "o1", "o2"]


def test_update_where_logs_changed_columns_of_matching_rows(synced: Any) -> None:
    n = P.update(industry="Technology", price=P.price * 10).where(P.name == "Alpha").execute()
    assert n == 1
    assert sorted((e.object, e.attrib, e.value) for e in log(P)) == [
        ("a", "industry", "Technology"),
        ("a", "price", "10.0"),  # changed_values.value is text
    ]
    assert {e.update_type for e in log(P)} == {"update"}


def test_update_without_where_logs_every_row(synced: Any) -> None:
    P.update(brand="Acme").execute()
    assert sorted((e.object, e.attrib) for e in log(P)) == [("a", "brand"), ("b", "brand")]


def test_update_to_the_same_value_logs_nothing(synced: Any) -> None:
    P.update(industry="Retail").execute()
    P.update(brand="").where(P.brand.is_null()).execute()  # NULL -> '' is not a change
    assert log(P) == []


def test_repeated_updates_keep_only_the_latest_value(synced: Any) -> None:
    P.update(name="one").where(P.object == "a").execute()
    P.update(name="two").where(P.object == "a").execute()
    assert [(e.attrib, e.value) for e in log(P)] == [("name", "two")]


def test_update_of_a_queued_create_folds_into_it(rhom_setup: Any) -> None:
    P.insert(object="x", name="Xeno").execute()
    P.update(name="Xeno 2").where(P.object == "x").execute()
    assert kinds(P) == [("create", "object")]


def test_bulk_update_is_logged(synced: Any) -> None:
    a, b = synced
    a.name, b.name = "Alpha 2", "Beta 2"
    P.bulk_update([a, b], fields=[P.name])
    assert sorted((e.object, e.attrib, e.value) for e in log(P)) == [
        ("a", "name", "Alpha 2"),
        ("b", "name", "Beta 2"),
    ]


def test_delete_where_queues_deletes_with_last_values(synced: Any) -> None:
    """One delete row per column, NULL ones included (Rhom's destroy/delete_all)."""
    P.delete().where(P.object == "a").execute()
    rows = log(P)
    assert {e.update_type for e in rows} == {"delete"}
    assert {e.object for e in rows} == {"a"}
    assert sorted(str(e.attrib) for e in rows) == sorted(P._rhom.fields)
    assert sorted((e.attrib, e.value) for e in rows if e.value is not None) == [
        ("industry", "Retail"),
        ("name", "Alpha"),
        ("price", "1.0"),
    ]


def test_delete_of_a_queued_create_leaves_no_rows(rhom_setup: Any) -> None:
    P.insert_many([{"object": "x", "name": "Xeno"}, {"object": "y", "name": "Yak"}]).execute()
    P.delete().where(P.object == "x").execute()
    assert [e.object for e in log(P)] == ["y"]


def test_delete_of_an_object_with_no_values_queues_a_delete_per_column(rhom_setup: Any) -> None:
    """Rhom queues every column of a fixed-schema row, NULL ones too, so the server still
    hears of an object whose values are all NULL."""
    P.insert(object="empty").execute()
    mark_sent(P)
    P.delete().execute()
    assert sorted(kinds(P)) == sorted(("delete", name) for name in P._rhom.fields)
    assert {e.value for e in log(P)} == {None}


def test_upsert_of_an_existing_object_logs_an_update(synced: Any) -> None:
    P.insert(object="a", name="Alpha 2").on_conflict(conflict_target=[P.object], update={P.name: "Alpha 2"}).execute()
    assert [(e.update_type, e.object, e.attrib, e.value) for e in log(P)] == [("update", "a", "name", "Alpha 2")]


def test_upsert_of_a_new_object_logs_a_create(synced: Any) -> None:
    P.insert(object="c", name="Gamma").on_conflict(conflict_target=[P.object], update={P.name: "Gamma"}).execute()
    assert kinds(P) == [("create", "object")]


def test_replace_of_a_synced_object_is_logged(synced: Any) -> None:
    """SQLite's REPLACE deletes the old row and inserts the new one: both are logged, so the
    new values reach the server and the delete carries the old ones."""
    P.replace(object="a", name="Alpha 2").execute()
    assert P.find("a").name == "Alpha 2"
    assert {e.update_type for e in log(P)} == {"delete", "create"}
    assert P.find("a").changed() is True


def test_replace_of_a_queued_create_keeps_one_create(rhom_setup: Any) -> None:
    P.insert(object="x", name="Xeno").execute()
    P.replace(object="x", name="Xeno 2").execute()
    assert kinds(P) == [("create", "object")]


def test_raw_sql_writes_are_logged(synced: Any) -> None:
    db = rhom.get_database("user")
    db.execute_sql('UPDATE "FixedSyncProduct" SET name = ? WHERE object = ?', ("raw", "b"))
    assert [(e.object, e.attrib, e.value) for e in log(P)] == [("b", "name", "raw")]


# -- local models log nothing --------------------------------------------------------------

WRITES: dict[str, Callable[[Any], Any]] = {
    "insert": lambda m: m.insert(object="x", name="n").execute(),
    "insert_many": lambda m: m.insert_many([{"object": "y", "name": "n"}, {"object": "z"}]).execute(),
    "update": lambda m: m.update(name="changed").execute(),
    "delete": lambda m: m.delete().where(m.object == "a").execute(),
    "upsert": lambda m: (
        m.insert(object="a", name="u").on_conflict(conflict_target=[m.object], update={m.name: "u"}).execute()
    ),
    "replace": lambda m: m.replace(object="a", name="r").execute(),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_peewee_writes_to_a_local_model_log_nothing(rhom_setup: Any, write: Callable[[Any], Any]) -> None:
    FixedLocalProduct.create(object="a", name="Alpha")
    before = sorted(str(o.vars) for o in FixedLocalProduct.find_all())
    write(FixedLocalProduct)
    assert sorted(str(o.vars) for o in FixedLocalProduct.find_all()) != before  # the write happened
    assert log(FixedLocalProduct) == []
    assert rhom.any_model_changed() is False


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_peewee_writes_to_a_synced_model_are_all_logged(synced: Any, write: Callable[[Any], Any]) -> None:
    write(P)
    assert log(P) != []
    assert rhom.have_local_changes() is True


# -- no_changelog ---------------------------------------------------------------------------


def test_rhom_writes_inside_no_changelog_are_not_logged(sync_product: Any) -> None:
    db = sync_product._rhom.database
    with rhom.no_changelog(db):
        a = sync_product.create(name="from server")
        b = sync_product.create(name="doomed")
        a.update_attributes(name="server edit", industry="Retail")
        b.destroy()
        sync_product.delete_all(conditions={"name": "nothing"})
    assert log(sync_product) == []
    stored = sync_product.find(a.object)
    assert (stored.name, stored.industry) == ("server edit", "Retail")
    assert sync_product.find(b.object) is None


def test_peewee_writes_inside_no_changelog_are_not_logged(synced: Any) -> None:
    db = rhom.get_database("user")
    with rhom.no_changelog(db):
        P.insert_many([{"object": "c", "name": "Gamma"}, {"object": "d", "name": "Delta"}]).execute()
        P.update(industry="Technology").execute()
        P.delete().where(P.object == "a").execute()
        P.insert(object="b", name="Beta 2").on_conflict(conflict_target=[P.object], update={P.name: "Beta 2"}).execute()
    assert log(P) == []
    assert sorted(o.object for o in P.find_all()) == ["b", "c", "d"]
    assert P.get("b").name == "Beta 2"


def test_logging_resumes_after_no_changelog(sync_product: Any) -> None:
    db = sync_product._rhom.database
    with rhom.no_changelog(db):
        with rhom.no_changelog(db):  # nested: a savepoint; the outer block still does not log
            sync_product.create(name="inner")
        sync_product.create(name="outer")
    assert log(sync_product) == []
    obj = sync_product.create(name="after")
    assert kinds(sync_product) == [("create", "object")]
    assert log(sync_product)[0].object == obj.object


def test_an_error_inside_no_changelog_rolls_back_and_logging_resumes(sync_product: Any) -> None:
    db = sync_product._rhom.database
    with pytest.raises(RuntimeError), rhom.no_changelog(db):
        sync_product.create(name="from server")
        raise RuntimeError("page failed")
    assert sync_product.count() == 0
    sync_product.create(name="local")
    assert kinds(sync_product) == [("create", "object")]


def test_no_changelog_does_not_leak_into_another_connection(synced: Any, data_dir: Any) -> None:
    """The flag lives in the transaction: a writer on another connection keeps logging
    once the no_changelog block has committed, and never sees the flag set."""
    db = rhom.get_database("user")
    with rhom.no_changelog(db):
        P.update(name="server").where(P.object == "a").execute()
    other: Any = peewee.SqliteDatabase(str(db.path))
    other.execute_sql('UPDATE "FixedSyncProduct" SET name = ? WHERE object = ?', ("device", "b"))
    other.close()
    assert [(e.object, e.value) for e in log(P)] == [("b", "device")]
