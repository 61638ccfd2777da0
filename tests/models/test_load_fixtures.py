"""``rhom.testing.load_fixtures``: Rhodes' ``Rho::RhoUtils.load_offline_data`` for rhom.

The Rhodes specs load their data from pipe-separated files; these tests pin the rules the
ported specs rely on (rhodes ``lib/framework/rho/rhoutils.rb``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rhom
from rhom.testing import load_fixtures

from .helpers import log
from .models import BagSyncProduct, FixedLocalProduct, FixedSyncProduct


def write(folder: Path, table: str, *lines: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{table}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_property_bag_rows_load_as_written_and_trailing_empty_fields_are_null(rhom_setup: Any, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "fx",
        "object_values",
        "source_name|attrib|object|value",
        "BagSyncProduct|name|44e8|Mobio India|",
        "BagSyncProduct|brand|44e8||",
        "BagSyncProduct|name|63cf|Aeroprise",
    )
    load_fixtures(["object_values"], folder)
    rows = rhom.get_database(BagSyncProduct).select_from_table(
        "object_values", ["object", "attrib", "value"], {"source_id": BagSyncProduct.get_source_id()}
    )
    assert sorted((r["object"], r["attrib"], r["value"]) for r in rows) == [
        ("44e8", "brand", None),
        ("44e8", "name", "Mobio India"),
        ("63cf", "name", "Aeroprise"),
    ]
    assert BagSyncProduct.find("44e8").vars == {
        "object": "44e8",
        "source_id": BagSyncProduct.get_source_id(),
        "name": "Mobio India",
    }
    assert log(BagSyncProduct) == []  # fixture data is what the server has: nothing to push


def test_source_map_loads_a_bag_file_into_fixed_schema_rows(rhom_setup: Any, tmp_path: Path) -> None:
    folder = write(
        tmp_path / "fx",
        "object_values",
        "source_name|attrib|object|value",
        "Product|name|1|Phone|",
        "Product|brand|1||",
        "Product|price|1|2.5|",
        "Product|name|2|Pager|",
    )
    load_fixtures(["object_values"], folder, {"Product": "FixedSyncProduct"})
    one, two = FixedSyncProduct.find("1"), FixedSyncProduct.find("2")
    assert (one.name, one.brand, one.price) == ("Phone", None, 2.5)
    assert two.vars == {"object": "2", "source_id": FixedSyncProduct.get_source_id(), "name": "Pager"}
    assert log(FixedSyncProduct) == []


def test_tables_are_emptied_in_the_partitions_the_file_writes_to(rhom_setup: Any, tmp_path: Path) -> None:
    BagSyncProduct.create(object="old", name="gone")
    FixedLocalProduct.create(object="old", name="gone")
    folder = write(
        tmp_path / "fx",
        "object_values",
        "source_name|attrib|object|value",
        "FixedLocalProduct|name|new|here|",
    )
    load_fixtures(["object_values"], folder)
    assert [o.object for o in FixedLocalProduct.find_all()] == ["new"]  # its table was emptied
    assert BagSyncProduct.find("old") is not None  # the user partition was not written to


def test_a_table_without_source_goes_to_the_user_partition(rhom_setup: Any, tmp_path: Path) -> None:
    folder = write(tmp_path / "fx", "client_info", "client_id|session", "c1|s1|")
    load_fixtures(["client_info"], folder)
    assert rhom.client_id() == "c1"


def test_an_unknown_source_or_attribute_is_refused(rhom_setup: Any, tmp_path: Path) -> None:
    folder = write(tmp_path / "a", "object_values", "source_name|attrib|object|value", "Nobody|name|1|x|")
    with pytest.raises(rhom.ConfigurationError, match="object_values.txt line 2: source 'Nobody'"):
        load_fixtures(["object_values"], folder)
    folder = write(
        tmp_path / "b", "object_values", "source_name|attrib|object|value", "FixedLocalProduct|colour|1|red|"
    )
    with pytest.raises(rhom.ValidationError, match="line 2: FixedLocalProduct has no attribute 'colour'"):
        load_fixtures(["object_values"], folder)
    assert FixedLocalProduct.find_all() == []
