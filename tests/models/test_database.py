"""rhom.Database: Rhodes' table helpers, with checked names and bound values (rhom-api §4)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import rhom

from .helpers import kinds
from .models import BagSyncProduct, FixedSyncProduct


@pytest.fixture
def db(rhom_setup: Path) -> rhom.Database:
    return rhom.get_database("user")


def test_table_helpers_round_trip(db: rhom.Database) -> None:
    db.execute_sql("CREATE TABLE notes (id INTEGER, body TEXT)")
    db.insert_into_table("notes", {"id": 1, "body": "a"})
    db.insert_into_table("notes", {"id": 2, "body": None})
    assert db.select_from_table("notes", "body", {"body": None}) == [{"body": None}]
    db.update_into_table("notes", {"body": "b"}, {"id": 2})
    assert db.select_from_table("notes", ["id", "body"], order_by="id") == [
        {"id": 1, "body": "a"},
        {"id": 2, "body": "b"},
    ]
    assert db.select_from_table("notes", "body", distinct=True, order_by="body") == [{"body": "a"}, {"body": "b"}]
    db.delete_from_table("notes", {"id": 1})
    assert db.select_from_table("notes") == [{"id": 2, "body": "b"}]
    db.delete_all_from_table("notes")
    assert db.select_from_table("notes") == []
    assert db.table_exist("notes")
    db.delete_table("notes")
    assert not db.table_exist("notes")


def test_values_are_bound_never_pasted(db: rhom.Database) -> None:
    db.execute_sql("CREATE TABLE notes (body TEXT)")
    evil = "x'); DROP TABLE notes; --"
    db.insert_into_table("notes", {"body": evil})
    assert db.select_from_table("notes", "body", {"body": evil}) == [{"body": evil}]


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.select_from_table("sources; DROP TABLE sources"),
        lambda db: db.select_from_table("sources", ["name, token"]),
        lambda db: db.select_from_table("sources", "name", {"name = name OR 1": 1}),
        lambda db: db.insert_into_table("sources", {'name") VALUES (1); --': 1}),
        lambda db: db.update_into_table("sources", {"token": 0}, {"1=1 OR name": "x"}),
        lambda db: db.delete_from_table("sources", {"name OR 1=1 --": "x"}),
        lambda db: db.delete_table("sources; --"),
        lambda db: db.select_from_table("sources", "name", order_by="name; DROP TABLE sources"),
    ],
    ids=["table", "column", "condition", "insert-column", "update-condition", "delete", "drop", "order"],
)
def test_names_that_look_like_sql_are_refused(db: rhom.Database, call: Any) -> None:
    before = db.select_from_table("sources", order_by="source_id")
    with pytest.raises(rhom.ValidationError):
        call(db)
    assert db.select_from_table("sources", order_by="source_id") == before


def test_destroy_tables_empties_included_tables_except_excluded(db: rhom.Database) -> None:
    FixedSyncProduct.create(name="x")
    BagSyncProduct.create(name="y")
    db.destroy_tables(include=["FixedSyncProduct", "object_values"], exclude=["FixedSyncProduct"])
    assert (FixedSyncProduct.count(), BagSyncProduct.count()) == (1, 0)
    assert db.table_exist("object_values")


def test_begin_and_rollback_span_rhom_and_peewee_writes(db: rhom.Database) -> None:
    db.begin()
    FixedSyncProduct.create(object="1", name="x")
    FixedSyncProduct.insert(object="2", name="y").execute()
    BagSyncProduct.create(object="3", name="z")
    assert db.in_transaction()
    db.rollback()
    assert not db.in_transaction()
    assert FixedSyncProduct.count() == BagSyncProduct.count() == 0
    assert rhom.any_model_changed() is False


def test_begin_and_commit_keep_every_write_and_sweep_blobs_after_commit(db: rhom.Database) -> None:
    obj = BagSyncProduct.create(object="1", name="x", photo=b"old")
    old = obj.blob_path("photo")
    db.begin()
    BagSyncProduct.create(object="2", name="y")
    obj.update_attributes(photo=b"new")
    with db.atomic():  # an inner block is a savepoint
        FixedSyncProduct.create(object="3", name="z")
    assert old.exists()
    db.commit()
    assert not db.in_transaction()
    assert not old.exists()
    assert BagSyncProduct.count() == 2 and FixedSyncProduct.count() == 1
    assert [k for k, _ in kinds(FixedSyncProduct)] == ["create"]


def test_lock_is_reentrant_and_excludes_other_threads(db: rhom.Database) -> None:
    acquired: list[bool] = []

    def other() -> None:
        acquired.append(db._lock.acquire(timeout=0.05))

    with db.lock(), db.lock():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert acquired == [False]


def test_another_thread_writes_through_its_own_connection(db: rhom.Database) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            FixedSyncProduct.create(object="t", name="from a thread")
            BagSyncProduct.create(object="t", name="from a thread")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert errors == []
    assert FixedSyncProduct.find("t").name == BagSyncProduct.find("t").name == "from a thread"
    assert kinds(FixedSyncProduct) == kinds(BagSyncProduct) == [("create", "object")]
