"""examples/sql_inventory, run as its docstring says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_inventory_walkthrough_syncs_both_ways(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.sql_inventory", "--data", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("sync: complete") == 3
    first, changed, table = result.stdout.split("sync: complete")[1:]
    assert "Bolts    120  2024-05-01" in first and "Nuts" in first and "Gears" not in first  # alice's rows only
    assert "Bolts    100  2024-06-02" in changed and "Nuts" not in changed  # the program's plain SQL
    assert "alice  Washers  500" in table and "alice  Bolts     90" in table  # the device's create and edit
    assert "bob    Gears      7" in table


def test_the_orders_walkthrough_pushes_orm_commits_to_a_live_device(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.sql_orders", "--data", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "queued 2 orders written before; left: 0" in result.stdout
    out = result.stdout
    before = out.split("alice's device:")[1].split("after the shop's commit")[0]
    after = out.split("after the shop's commit")[1].split("the shop's table:")[0]
    table = out.split("the shop's table:")[1]
    assert "Bolts     100" in before and "Gears" not in before  # alice's orders only
    assert "Bolts      80" in after and "Nuts      500" in after  # the ORM commit, without a sync by hand
    assert "alice  Washers    50" in table  # the device's create, in the shop's table


def test_the_web_app_walkthrough_brings_its_writes_to_a_live_device(tmp_path: Path) -> None:
    """examples/sql_webapp: a FastAPI app and rhom.server as one app on 127.0.0.1."""
    result = subprocess.run(
        [sys.executable, "-m", "examples.sql_webapp", "--data", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    first = out.split("alice's device holds her tasks:")[1].split("after the web app wrote")[0]
    live = out.split("after the web app wrote")[1].split("the web app lists")[0]
    listed = out.split("the web app lists alice's tasks:")[1]
    assert "Buy bolts      open" in first and "Oil gears" not in first  # alice's rows only
    assert "Buy bolts      done" in live and "Count nuts     open" in live  # the web app's writes, live
    assert "Sort washers   open" in listed  # the device's create, in the web app's table
