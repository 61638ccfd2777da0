"""Fixed-schema tables across app versions: new fields, ``schema_version`` and the migration
hook (rhom-api §1.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rhom


def declare(version: str | None, *, migrate: Any = None, extra_field: bool = False) -> Any:
    """The app's ``Gadget`` model as one version of the app declares it."""
    attrs: dict[str, Any] = {"__module__": __name__, "name": rhom.CharField()}
    if extra_field:
        attrs["colour"] = rhom.CharField()
    meta: dict[str, Any] = {"sync": True, "source_name": "Gadget"}
    if version is not None:
        meta["schema_version"] = version
    if migrate is not None:
        meta["migrate"] = migrate
    attrs["Meta"] = type("Meta", (), meta)
    metaclass: Any = type(rhom.Model)
    return metaclass("Gadget", (rhom.Model,), attrs)


@pytest.fixture
def first_run(data_dir: Path) -> Any:
    v1 = declare("1.0")
    rhom.setup(data_dir, models=[v1])
    v1.create(object="g1", name="kept?")
    rhom.shutdown()
    yield data_dir
    rhom.shutdown()


def stored_version() -> str:
    rows = rhom.get_database("user").execute_sql("SELECT schema_version FROM sources WHERE name = 'Gadget'")
    return str(rows[0]["schema_version"])


def test_same_version_keeps_the_table(first_run: Path) -> None:
    v1 = declare("1.0")
    rhom.setup(first_run, models=[v1])
    assert v1.find("g1").name == "kept?"


def test_a_new_field_adds_its_column_and_keeps_the_data(first_run: Path) -> None:
    v1b = declare("1.0", extra_field=True)
    rhom.setup(first_run, models=[v1b])
    assert v1b.find("g1").name == "kept?"
    v1b.find("g1").update_attributes(colour="red")
    assert v1b.find("g1").colour == "red"


def test_a_new_version_calls_the_migrate_hook_and_keeps_the_table_when_it_returns_true(first_run: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def migrate(old_version: str, new_source: dict[str, Any]) -> bool:
        calls.append((old_version, new_source))
        return True

    v2 = declare("2.0", migrate=migrate)
    rhom.setup(first_run, models=[v2])
    assert [(old, new["name"], new["schema_version"]) for old, new in calls] == [("1.0", "Gadget", "2.0")]
    assert v2.find("g1").name == "kept?"
    assert stored_version() == "2.0"


def test_a_new_version_without_a_handler_recreates_the_table(first_run: Path) -> None:
    v2 = declare("2.0")
    rhom.setup(first_run, models=[v2])
    assert v2.find("g1") is None
    assert stored_version() == "2.0"
    v2.create(object="g2", name="fresh")
    assert v2.find("g2").name == "fresh"


def test_a_migrate_source_receiver_can_handle_the_migration(first_run: Path) -> None:
    seen: list[str] = []

    def receiver(sender: Any, *, old_version: str, new_source: dict[str, Any]) -> bool:
        seen.append(f"{sender.__name__} {old_version}->{new_source['schema_version']}")
        return True

    v3 = declare("3.0")
    with rhom.signals.migrate_source.connected_to(receiver):
        rhom.setup(first_run, models=[v3])
    assert seen == ["Gadget 1.0->3.0"]
    assert v3.find("g1").name == "kept?"


def test_indexes_are_created_and_unique_ones_enforced(data_dir: Path) -> None:
    class Indexed(rhom.Model):
        sku = rhom.CharField()
        name = rhom.CharField()

        class Meta:
            sync = True
            indexes = {"indexed_by_name": ["name"]}
            unique_indexes = {"indexed_by_sku": "sku"}

    rhom.setup(data_dir, models=[Indexed])
    try:
        db = rhom.get_database("user")
        found = {
            r["name"]: r["sql"] for r in db.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        }
        assert "UNIQUE" in found["indexed_by_sku"] and "UNIQUE" not in found["indexed_by_name"]
        first = Indexed.create(sku="1", name="a")
        with pytest.raises(rhom.IntegrityError):
            Indexed.create(sku="1", name="b")
        assert [o.object for o in Indexed.find_all()] == [first.object]
        assert [e.object for e in rhom.changelog.entries(db)] == [first.object]
    finally:
        rhom.shutdown()
