"""rhom's demo: an offline-first app's data layer, step by step, on the embedded defaults.

Run it with ``bash scripts/demo.sh`` (or ``python -m examples.demo [--data DIR]``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import rhom
from rhom import C, changelog


class Product(rhom.Model, sync=True, sync_priority=1):
    name = rhom.CharField()
    brand = rhom.CharField()
    price = rhom.FloatField()
    photo = rhom.BlobField()


class Note(rhom.PropertyBagModel, sync=True, sync_priority=2):
    product_id = rhom.BelongsTo("Product")


class Draft(rhom.Model):  # a local model: never synced, nothing logged
    text = rhom.TextField()


def step(title: str) -> None:
    print(f"\n== {title}")


def show_changelog() -> None:
    for entry in changelog.entries(rhom.get_database("user")):
        source = "Product" if entry.source_id == Product.get_source_id() else "Note"
        print(
            f"   {source:<8} {entry.update_type:<7} {entry.attrib!s:<10} {entry.value!s:<12} sent={entry.sent}"
        )


def run(data_dir: Path) -> None:
    step(f"setup: databases and blobs under {data_dir}")
    rhom.setup(data_dir, models=[Product, Note, Draft])
    for source in rhom.RhomSource.all():
        print(
            f"   source {source.source_id:>5} {source.name:<8} partition={source.partition} sync={source.sync_type}"
        )

    step("offline writes: each create is one changelog placeholder")
    phone = Product.create(name="Phone", brand="Acme", price=199.0, photo=b"\x89PNG fake image")
    Product.create(name="Tablet", brand="Acme", price=329.0)
    Product.create(name="Watch", brand="Initech", price=149.0)
    Note.create(product_id=phone.object, text="ask about colours", mood="curious")
    Draft.create(text="local only")
    show_changelog()

    step("edits before the first sync fold into the create")
    phone.update_attributes(price=189.0)
    show_changelog()

    step("querying")
    cheap = Product.find("all", conditions={C("price", op="<"): 200}, order="price")
    print("   under 200:", [(p.name, p.price) for p in cheap])
    print("   Acme count:", Product.count(conditions={"brand": "Acme"}))
    print(
        "   LIKE, upper:",
        [p.name for p in Product.find("all", conditions={C("name", op="LIKE", func="UPPER"): "%A%"})],
    )
    print("   page 0 of 2:", [p.name for p in Product.paginate(page=0, per_page=2, order="name")])
    print("   peewee too: ", [p.name for p in Product.select().where(Product.brand == "Initech")])
    print("   phone photo:", phone.blob_path("photo"))

    step("bad input is refused and nothing is written")
    for attempt in (lambda: Product.create(price="cheap"), lambda: Product.create(colour="red"),
                    lambda: Product.find("all", conditions={C("name", op="DROP"): "x"})):  # fmt: skip
        try:
            attempt()
        except rhom.RhomError as exc:
            print(f"   {type(exc).__name__}: {exc}")
    print("   products:", Product.count())

    step("after a sync the server has these; a later edit queues one update row")
    with rhom.no_changelog(rhom.get_database("user")):
        rhom.get_database("user").execute_sql("DELETE FROM changed_values")
    phone.update_attributes(price=179.0)
    phone.update_attributes(price=175.0)  # only the latest value is queued
    Product.find_first(conditions={"name": "Watch"}).destroy()
    show_changelog()
    print("   have_local_changes:", rhom.have_local_changes())

    step("export and import")
    archive = rhom.database_export("user")
    print("   exported", archive.name, archive.stat().st_size, "bytes")
    rhom.database_full_reset()
    print("   after full reset:", Product.count(), "products")
    rhom.database_import("user", archive)
    print("   after import:", Product.count(), "products;",
          "photo restored:", Product.find(phone.object).blob_path("photo").read_bytes()[:4])  # fmt: skip
    rhom.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="data folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.data:
        run(args.data)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp) / "data")
    print("\ndone.")


if __name__ == "__main__":
    main()
