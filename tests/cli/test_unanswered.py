"""Server errors the folder keeps until answered: ``rhom sync``, ``status``, ``outbox``,
``rhom errors`` and ``rhom errors answer``, against ``rhom serve examples.store.server:app``.

The shop's adapter refuses a negative price (a ``create-error``, or an ``update-error``
with the server's values in ``update-rollback``). The server reports such an error once;
the folder keeps it until the app, or a person with ``rhom errors answer``, answers it.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

from .conftest import MODELS, assert_user_error, python, rhom, write
from .test_sync import status_rows, sync


def table(output: str) -> list[list[str]]:
    """The rows of a rich table, as lists of cells (wrapped cells joined)."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def refused_create(data: Path, url: str) -> str:
    """Create a product the shop refuses and sync it; return its temporary id."""
    write(data, 'print(Product.create(name="Broken", brand="Acme", price=-1.0).object)')
    (oid,) = [r[1] for r in table(rhom("outbox", "--data", str(data)).stdout) if r[2] == "create"][:1]
    first = sync(url, data)
    assert first.returncode == 1, first.stderr
    return oid


def answer(data: Path, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    return rhom("errors", "answer", action, "--data", str(data), "--models", MODELS, *args)


def test_a_refused_create_stays_reported_until_answered(fresh: Path, server_url: str) -> None:
    oid = refused_create(fresh, server_url)
    for _ in range(2):  # the server reported it once; every later run still says so
        again = sync(server_url, fresh)
        assert again.returncode == 1, again.stdout
        assert "Traceback" not in again.stderr
        assert re.search(r"│ Product +│ .*create-error \(unanswered\)", again.stdout)
        line = again.stderr.strip().splitlines()[-1]
        assert line.startswith("error: 1 server error left unanswered (Product: create-error)")
        assert f"rhom errors --data {fresh}" in line
    rows = status_rows(fresh)
    assert rows["Product"][8] == "create-error (1)"
    assert "(failed)" not in rows["Product"][3]
    outbox = table(rhom("outbox", "--data", str(fresh)).stdout)
    assert {tuple(r[1:3] + r[5:]) for r in outbox} == {(oid, "create", "create-error")}

    listed = rhom("errors", "--data", str(fresh))
    assert listed.returncode == 0, listed.stderr
    ((source, obj, kind, message, since),) = table(listed.stdout)
    assert (source, obj, kind, message) == ("Product", oid, "create-error", "price must not be negative, got -1.0")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", since)
    assert "create-error: answer with delete" in listed.stdout

    done = answer(fresh, "delete")
    assert (done.returncode, done.stdout.strip()) == (0, f"Product {oid}: create-error answered with delete")
    assert rhom("errors", "--data", str(fresh)).stdout.strip() == "no unanswered server errors"
    assert status_rows(fresh)["Product"][7:] == ["-", "-"]
    assert rhom("outbox", "--data", str(fresh)).stdout.strip() == "outbox is empty"
    assert sync(server_url, fresh).returncode == 0


def test_recreate_sends_the_object_again_and_its_success_settles_the_error(fresh: Path, server_url: str) -> None:
    oid = refused_create(fresh, server_url)
    write(fresh, f'Product.find("{oid}").update_attributes(price=5.0)')  # held back: the create waits
    done = answer(fresh, "recreate", "--source", "Product", "--object", oid)
    assert done.returncode == 0, done.stderr
    assert f"Product {oid}: create-error answered with recreate" in done.stdout
    assert status_rows(fresh)["Product"][6:] == ["1 create", "-", "-"]
    result = sync(server_url, fresh)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rhom("errors", "--data", str(fresh)).stdout.strip() == "no unanswered server errors"
    names = python(
        "import sys, rhom\nfrom rhom.demo.models import Product, Customer, Note\n"
        "rhom.setup(sys.argv[1], models=[Product, Customer, Note])\n"
        "print(sorted((p.name, p.price) for p in Product.find_all() if p.name == 'Broken'))",
        str(fresh),
    )
    assert names.stdout.strip() == "[('Broken', 5.0)]"


def test_rollback_and_retry_answer_update_errors(fresh: Path, server_url: str) -> None:
    write(fresh, 'Product.find_first(conditions={"name": "iPhone"}).update_attributes(price=-5.0)')
    assert sync(server_url, fresh).returncode == 1
    ((_, obj, kind, message, _),) = table(rhom("errors", "--data", str(fresh)).stdout)
    assert (kind, message) == ("update-error", "price must not be negative, got -5.0")

    wrong = answer(fresh, "delete")  # delete answers create-errors only
    assert_user_error(wrong, 2, "no unanswered create-error to answer with 'delete'")
    retried = answer(fresh, "retry")
    assert retried.returncode == 0, retried.stderr
    assert status_rows(fresh)["Product"][6] == "1 update"  # the refused value is queued again
    assert sync(server_url, fresh).returncode == 1  # and refused again
    done = answer(fresh, "rollback", "--object", obj)
    assert (done.returncode, done.stdout.strip()) == (0, f"Product {obj}: update-error answered with rollback")
    with sqlite3.connect(fresh / "user.sqlite") as conn:
        (price,) = conn.execute('SELECT price FROM "Product" WHERE object = ?', (obj,)).fetchone()
    conn.close()
    assert price == 799.0  # the server's value
    assert sync(server_url, fresh).returncode == 0


def test_answer_refuses_an_unknown_source_or_object(fresh: Path, server_url: str) -> None:
    refused_create(fresh, server_url)
    assert_user_error(answer(fresh, "delete", "--source", "Nope"), 2, "unknown source 'Nope'")
    assert_user_error(answer(fresh, "delete", "--object", "42"), 2, "create-error of object 42")
    bare = rhom("errors")  # click's own usage error, as for any missing option
    assert bare.returncode == 2 and "Missing option '--data'" in bare.stderr and "Traceback" not in bare.stderr
    assert len(table(rhom("errors", "--data", str(fresh)).stdout)) == 1  # nothing answered


def test_the_python_api_reads_what_the_folder_keeps(fresh: Path, server_url: str) -> None:
    oid = refused_create(fresh, server_url)
    result = python(
        "import sys, rhom\nfrom rhom.demo.models import Product, Customer, Note\n"
        "rhom.setup(sys.argv[1], models=[Product, Customer, Note])\n"
        "client = rhom.SyncClient(sys.argv[2], threaded_mode=False, poll_interval=0)\n"
        "kept = client.unanswered_errors()\n"
        "print(sorted(kept), sorted(kept['Product']['create-error']))\n"
        "client.on_sync_create_error('Product', kept['Product']['create-error'], 'delete')\n"
        "print(client.unanswered_errors())\n"
        "client.close()",
        str(fresh),
        server_url,
    )
    assert result.stdout.splitlines() == [f"['Product'] ['{oid}']", "{}"]
