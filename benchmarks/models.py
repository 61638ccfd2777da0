"""Model-layer benchmarks: rhom against plain peewee and raw sqlite3, measured in one run.

Run: ``bash scripts/bench.sh models`` (or ``python -m benchmarks.models``). Every baseline
uses the same SQLite file settings (WAL, synchronous=NORMAL) as rhom.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
from pathlib import Path

import peewee

import rhom
from rhom.database import PRAGMAS

from ._timing import best_of, report


class BenchProduct(rhom.Model, sync=True):
    name = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    quantity = rhom.IntegerField()


class BenchBag(rhom.PropertyBagModel, sync=True):
    pass


def _plain_peewee(path: Path) -> tuple[peewee.SqliteDatabase, type]:
    db = peewee.SqliteDatabase(str(path), pragmas=PRAGMAS)

    class PlainProduct(peewee.Model):
        object = peewee.CharField(primary_key=True)
        name = peewee.CharField(null=True)
        brand = peewee.CharField(null=True)
        price = peewee.FloatField(null=True)
        quantity = peewee.IntegerField(null=True)

        class Meta:
            database = db
            table_name = "PlainProduct"

    db.create_tables([PlainProduct])
    return db, PlainProduct


def _row(i: int) -> dict[str, object]:
    return {"name": f"product {i}", "brand": f"brand {i % 50}", "price": i * 0.5, "quantity": i % 100}


def bench_create(tmp: Path, n: int) -> None:
    plain_db, Plain = _plain_peewee(tmp / "plain-create.sqlite")
    counter = iter(range(10**9))

    def ours() -> None:
        with rhom.get_database("user").atomic():
            for i in range(n):
                BenchProduct.create(**_row(i))

    def plain() -> None:
        with plain_db.atomic():
            for i in range(n):
                Plain.create(object=str(next(counter)), **_row(i))

    def ours_autocommit() -> None:
        for i in range(n // 10):
            BenchProduct.create(**_row(i))

    def plain_autocommit() -> None:
        for i in range(n // 10):
            Plain.create(object=str(next(counter)), **_row(i))

    report(f"create() x{n} in one transaction, changelog on", best_of(ours), best_of(plain),
           "peewee", per=n, goal=1.5)  # fmt: skip
    report(f"create() x{n // 10}, one transaction each", best_of(ours_autocommit),
           best_of(plain_autocommit), "peewee", per=n // 10, goal=1.5)  # fmt: skip
    plain_db.close()


def _fill(n: int) -> list[str]:
    db = rhom.get_database("user")
    rows = [{"object": str(i), **_row(i)} for i in range(n)]
    with rhom.no_changelog(db):
        for start in range(0, n, 500):
            BenchProduct.insert_many(rows[start : start + 500]).execute()
    return [r["object"] for r in rows]  # type: ignore[misc]


def bench_find_by_id(ids: list[str], n: int) -> None:
    picks = random.Random(1).choices(ids, k=n)
    conn = sqlite3.connect(str(rhom.get_database("user").path))

    def ours() -> None:
        for oid in picks:
            BenchProduct.find(oid)

    def raw() -> None:
        for oid in picks:
            conn.execute(
                'SELECT "object", "name", "brand", "price", "quantity" FROM "BenchProduct" WHERE "object" = ?',
                (oid,),
            ).fetchone()

    report(f"find(object_id) x{n}", best_of(ours), best_of(raw), "sqlite3", per=n, goal=4.0)
    conn.close()


def bench_find_all(n_rows: int) -> None:
    cond = {rhom.C("quantity", op="<"): 50}

    def ours() -> None:
        result = BenchProduct.find("all", conditions=cond)
        assert len(result) == n_rows // 2

    def plain() -> None:
        result = list(BenchProduct.select().where(BenchProduct.quantity < 50))
        assert len(result) == n_rows // 2

    report(f"find('all', conditions) over {n_rows} rows", best_of(ours, repeat=3),
           best_of(plain, repeat=3), "peewee", per=n_rows // 2, goal=1.3)  # fmt: skip


def bench_bag(n_objects: int) -> None:
    db = rhom.get_database("user")
    sid = BenchBag.get_source_id()
    rows = [(sid, f"attr{a}", f"bag{i}", f"value {i} {a}") for i in range(n_objects) for a in range(10)]
    with rhom.no_changelog(db):
        db.connection().executemany(
            "INSERT INTO object_values (source_id, attrib, object, value) VALUES (?, ?, ?, ?)", rows
        )
    conn = sqlite3.connect(str(db.path))

    def ours_all() -> None:
        assert len(BenchBag.find("all")) == n_objects

    def ours_cond() -> None:
        assert len(BenchBag.find("all", conditions={rhom.C("attr3", op="LIKE"): "value 1%"})) > 0

    def raw_all() -> None:
        grouped: dict[str, dict[str, str]] = {}
        for oid, attrib, value in conn.execute(
            "SELECT object, attrib, value FROM object_values WHERE source_id = ?", (sid,)
        ):
            grouped.setdefault(oid, {})[attrib] = value
        assert len(grouped) == n_objects

    base = best_of(raw_all, repeat=3)
    report(f"bag find('all'), {n_objects} objects x 10 attrs", best_of(ours_all, repeat=3), base,
           "sqlite3", per=n_objects, goal=None)  # fmt: skip
    report(f"bag find('all', LIKE condition), {n_objects} obj", best_of(ours_cond, repeat=3), base,
           "sqlite3 all", per=n_objects, goal=None)  # fmt: skip
    conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the find benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    rows = 5_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        rhom.setup(Path(tmp) / "data", models=[BenchProduct, BenchBag])
        try:
            print(f"rhom {rhom.__version__}, SQLite {sqlite3.sqlite_version}, peewee {peewee.__version__}")
            bench_create(Path(tmp), 2_000 if args.quick else 10_000)
            rhom.get_database("user").execute_sql('DELETE FROM "BenchProduct"')
            rhom.get_database("user").execute_sql("DELETE FROM changed_values")
            ids = _fill(rows)
            bench_find_by_id(ids, 20_000)
            bench_find_all(rows)
            bench_bag(1_000 if args.quick else 10_000)
        finally:
            rhom.shutdown()


if __name__ == "__main__":
    main()
