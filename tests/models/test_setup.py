"""rhom.setup: partition files, source registration and id ranges, restarts, object ids
(rhom-api §1.4, §1.5, §1.8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import rhom

from .helpers import kinds
from .models import (
    ALL_MODELS,
    AppCatalog,
    AppFixedCatalog,
    BagLocalProduct,
    BagSyncProduct,
    FixedLocalProduct,
    FixedSyncProduct,
    FrozenBagProduct,
)

REPO = Path(__file__).resolve().parents[2]


def sources(partition: str) -> dict[str, dict[str, Any]]:
    rows = rhom.get_database(partition).execute_sql("SELECT * FROM sources")
    return {r["name"]: r for r in rows}


def test_setup_creates_one_file_per_partition_and_the_blob_folder(rhom_setup: Path) -> None:
    assert sorted(p.name for p in rhom_setup.glob("*.sqlite")) == ["app.sqlite", "local.sqlite", "user.sqlite"]
    assert (rhom_setup / "blobs").is_dir()


def test_models_live_in_their_partition_database(rhom_setup: Path) -> None:
    assert FixedSyncProduct._rhom.database is rhom.get_database("user")
    assert BagSyncProduct._rhom.database is rhom.get_database("user")
    assert AppCatalog._rhom.database is rhom.get_database("app")
    assert FixedLocalProduct._rhom.database is rhom.get_database("local")
    assert rhom.get_database(BagLocalProduct) is rhom.get_database("local")
    assert rhom.get_database("local").path == rhom_setup / "local.sqlite"
    FixedLocalProduct.create(name="here")
    assert rhom.get_database("local").table_exist("FixedLocalProduct")
    assert not rhom.get_database("user").table_exist("FixedLocalProduct")


def test_source_ids_come_from_the_partition_ranges(rhom_setup: Path) -> None:
    """user from 3, app from 20003, local from 40003 (rhom-api §1.5)."""
    user = sorted(m.get_source_id() for m in (BagSyncProduct, FixedSyncProduct, FrozenBagProduct))
    app = sorted(m.get_source_id() for m in (AppCatalog, AppFixedCatalog))
    local = sorted(m.get_source_id() for m in (BagLocalProduct, FixedLocalProduct))
    assert user == [3, 4, 5]
    assert app == [20003, 20004]
    assert local == [40003, 40004]
    assert {r["source_id"] for r in sources("user").values()} == set(user)


def test_sources_rows_describe_each_model(rhom_setup: Path) -> None:
    user, local = sources("user"), sources("local")
    fixed = user["FixedSyncProduct"]
    assert (fixed["partition"], fixed["sync_type"], fixed["sync_priority"]) == ("user", "incremental", 1000)
    assert fixed["blob_attribs"] == "photo,0"
    assert fixed["schema_version"] == "1.0"
    assert json.loads(fixed["schema"])["property"]["price"] == "float"
    assert local["BagLocalProduct"]["sync_type"] == "none"
    assert local["BagLocalProduct"]["partition"] == "local"
    assert sources("app")["AppCatalog"]["partition"] == "app"


def test_rhom_source_reads_the_registration(rhom_setup: Path) -> None:
    FixedSyncProduct.create(name="a")
    FixedSyncProduct.create(name="b")
    source = rhom.RhomSource.get("FixedSyncProduct")
    assert source is not None
    assert (source.source_id, source.name, source.partition) == (
        FixedSyncProduct.get_source_id(),
        "FixedSyncProduct",
        "user",
    )
    assert source.schema and source.schema_version
    assert source.distinct_objects == 2
    by_id = rhom.RhomSource.get(40003)
    assert by_id is not None and by_id.name == "BagLocalProduct"
    assert rhom.RhomSource.get("Nope") is None


def test_metadata_round_trips(rhom_setup: Path) -> None:
    assert FixedSyncProduct.metadata() is None
    FixedSyncProduct.set_metadata({"foo": "bar"})
    assert FixedSyncProduct.metadata() == {"foo": "bar"}
    FixedSyncProduct.set_metadata('{"a": [1, 2]}')
    assert FixedSyncProduct.metadata() == {"a": [1, 2]}


def test_client_id_is_none_before_the_first_sync(rhom_setup: Path) -> None:
    assert rhom.client_id() is None


def test_restart_keeps_data_changelog_and_source_ids(product: Any, data_dir: Path) -> None:
    obj = product.create(name="kept", price=2.5)
    ids = {m.__name__: m.get_source_id() for m in ALL_MODELS}
    before = kinds(product)
    rhom.shutdown()
    rhom.setup(data_dir, models=list(reversed(ALL_MODELS)))  # a different order changes nothing
    assert {m.__name__: m.get_source_id() for m in ALL_MODELS} == ids
    stored = product.find(obj.object)
    assert (stored.name, stored.price) == ("kept", 2.5)
    assert kinds(product) == before
    stored.update_attributes(name="edited after restart")  # triggers still work
    assert product.find(obj.object).name == "edited after restart"


def test_a_model_added_later_gets_a_new_id_and_old_ids_stay(data_dir: Path) -> None:
    rhom.setup(data_dir, models=[FixedSyncProduct, FixedLocalProduct])
    first = FixedSyncProduct.get_source_id(), FixedLocalProduct.get_source_id()
    assert first == (3, 40003)
    rhom.setup(data_dir, models=[BagSyncProduct, FixedSyncProduct, FixedLocalProduct, BagLocalProduct])
    try:
        assert (FixedSyncProduct.get_source_id(), FixedLocalProduct.get_source_id()) == first
        assert BagSyncProduct.get_source_id() == 4
        assert BagLocalProduct.get_source_id() == 40004
    finally:
        rhom.shutdown()


@pytest.mark.parametrize("explicit", [77, 3], ids=["above-the-base", "the-first-free-id"])
def test_an_explicit_source_id_is_kept_and_new_ids_go_above_it(data_dir: Path, explicit: int) -> None:
    class Explicit(rhom.PropertyBagModel):
        class Meta:
            sync = True
            source_id = explicit

    rhom.setup(data_dir, models=[Explicit, BagSyncProduct, FixedSyncProduct])
    try:
        assert Explicit.get_source_id() == explicit
        assert sorted([BagSyncProduct.get_source_id(), FixedSyncProduct.get_source_id()]) == [
            explicit + 1,
            explicit + 2,
        ]
    finally:
        rhom.shutdown()


def test_generated_ids_increase_and_never_repeat(rhom_setup: Path) -> None:
    ids = [rhom.generate_id() for _ in range(5000)]
    assert all(i.isdigit() for i in ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert len(set(ids)) == len(ids)
    objs = [BagLocalProduct.create(n=str(i)) for i in range(3)]
    assert len({o.object for o in objs}) == 3
    assert min(int(o.object) for o in objs) > int(ids[-1])


def test_generated_ids_never_repeat_across_a_restart(rhom_setup: Path) -> None:
    before = [rhom.generate_id() for _ in range(1000)]
    rhom.shutdown()
    rhom.setup(rhom_setup, models=ALL_MODELS)
    after = [rhom.generate_id() for _ in range(1000)]
    assert min(int(i) for i in after) > max(int(i) for i in before)


def _ids_in_a_new_process(data_dir: Path, count: int) -> list[int]:
    code = (
        "import sys, rhom\n"
        "rhom.setup(sys.argv[1], models=[])\n"
        f"print(' '.join(rhom.generate_id() for _ in range({count})))\n"
        "rhom.shutdown()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)], env=env, capture_output=True, text=True, check=True
    )
    return [int(i) for i in out.stdout.split()]


def test_ids_of_a_new_process_start_above_every_earlier_id(data_dir: Path) -> None:
    """A restart that finds the clock behind the ids handed out before (a burst that ran
    ahead of the clock, or the clock stepped back) still never repeats an id."""
    first = _ids_in_a_new_process(data_dir, 20_000)
    ahead = int(time.time_ns() // 1000 - 1230768000 * 1_000_000) + 3_600 * 1_000_000  # an hour ahead
    # a run that handed out ids an hour ahead of the clock left its reservation behind
    (data_dir / ".rhom-ids").write_text(str(ahead))
    second = _ids_in_a_new_process(data_dir, 10)
    assert min(second) >= ahead > max(first)
    third = _ids_in_a_new_process(data_dir, 10)
    assert min(third) > max(second)


@pytest.mark.parametrize("partition", ["user", "app", "local"])
def test_system_tables_exist_in_every_partition(rhom_setup: Path, partition: str) -> None:
    db = rhom.get_database(partition)
    for table in ("sources", "object_values", "changed_values", "client_info"):
        assert db.table_exist(table), table


def test_belongs_to_is_registered_on_the_owner(data_dir: Path) -> None:
    class BtCustomer(rhom.PropertyBagModel):
        class Meta:
            sync = True

    class BtOrder(rhom.Model):
        customer_id = rhom.BelongsTo("BtCustomer")

        class Meta:
            sync = True

    class BtNote(rhom.PropertyBagModel):
        class Meta:
            sync = True
            belongs_to = {"about": ["BtCustomer", "BtOrder"]}

    rhom.setup(data_dir, models=[BtCustomer, BtOrder, BtNote])
    try:
        rows = sources("user")
        assert sorted(rows["BtCustomer"]["associations"].split(",")) == sorted(
            "BtOrder,customer_id,BtNote,about".split(",")
        )
        assert rows["BtOrder"]["associations"] == "BtNote,about"
        assert rows["BtNote"]["associations"] is None
        assert BtOrder._rhom.belongs_to == {"customer_id": ("BtCustomer",)}
    finally:
        rhom.shutdown()


def test_a_restart_updates_the_source_row_in_place(data_dir: Path) -> None:
    def declare(priority: int) -> Any:
        meta = type("Meta", (), {"sync": True, "sync_priority": priority})
        metaclass: Any = type(rhom.PropertyBagModel)
        return metaclass("Reprioritised", (rhom.PropertyBagModel,), {"Meta": meta})

    first = declare(5)
    rhom.setup(data_dir, models=[first])
    source_id = first.get_source_id()
    rhom.setup(data_dir, models=[declare(9)])
    try:
        row = sources("user")["Reprioritised"]
        assert (row["source_id"], row["sync_priority"]) == (source_id, 9)
    finally:
        rhom.shutdown()


def test_a_model_left_out_of_a_later_setup_refuses_writes(data_dir: Path) -> None:
    """Its source id and triggers belong to the earlier setup: a write would bypass the
    changelog (no triggers) or land in another source."""
    rhom.setup(data_dir, models=[BagSyncProduct, FixedSyncProduct])
    rhom.setup(data_dir, models=[FixedSyncProduct])
    try:
        with pytest.raises(rhom.ConfigurationError, match="BagSyncProduct"):
            BagSyncProduct.create(name="orphan")
        assert rhom.get_database("user").execute_sql("SELECT COUNT(*) AS n FROM object_values") == [{"n": 0}]
    finally:
        rhom.shutdown()
