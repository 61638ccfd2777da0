"""Bulk data: wait/url/nop, the SQLite file, its downloads (protocol.md §7)."""

from __future__ import annotations

import contextlib
import gzip
import io
import sqlite3
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from rhom.server import MemoryAdapter, Store

from .conftest import PRODUCTS, RhoClient, Serve


def _bulk(client: RhoClient, body: dict[str, Any]) -> dict[str, Any]:
    for _ in range(500):
        reply = client.http.post("/rc/v1/app/bulk_data", json=body, headers=client.headers)
        assert reply.status_code == 200, f"protocol.md §7.3: {reply.status_code} {reply.text}"
        assert reply.headers["content-type"] == "application/json", "protocol.md §7.3"
        result: dict[str, Any] = reply.json()
        if result != {"result": "wait"}:
            return result
        time.sleep(0.02)
    raise AssertionError("protocol.md §7.3: the bulk file never became ready")


def test_first_request_waits_then_url(logged_in: RhoClient) -> None:
    body = {"partition": "user", "sources": ["Product", "Customer"]}
    first = logged_in.http.post("/rc/v1/app/bulk_data", json=body, headers=logged_in.headers)
    assert first.json() == {"result": "wait"}, "protocol.md §7.3 (captures A.50)"
    result = _bulk(logged_in, body)
    assert result["result"] == "url", "protocol.md §7.3 (captures A.51)"
    assert result["url"].startswith("/data/application/alice/alice_"), "protocol.md §7.3"
    assert result["url"].endswith(".data"), "protocol.md §7.3"
    page = logged_in.page("Product")
    assert page["commands"] == {} and page["total_count"] == 5, "protocol.md §7.5 (A.54)"


def test_bulk_file_has_client_schema(logged_in: RhoClient, tmp_path: Path) -> None:
    url = _bulk(logged_in, {"partition": "user", "sources": ["Product"]})["url"]
    raw = logged_in.http.get(url)
    assert raw.status_code == 200 and raw.content.startswith(b"SQLite format 3\0"), "§7.4"
    assert raw.headers["content-type"] == "application/octet-stream", "protocol.md §7.4 (A.52)"
    assert "cache-control" not in raw.headers and "set-cookie" not in raw.headers, "§1.4"
    assert "last-modified" in raw.headers, "protocol.md §7.4"
    rzip = logged_in.http.get(url + ".rzip")
    assert rzip.content.startswith(b"PK\x03\x04"), "protocol.md §7.4 (A.53)"
    with zipfile.ZipFile(io.BytesIO(rzip.content)) as archive:
        assert archive.namelist() == [url.rsplit("/", 1)[1]], "protocol.md §7.4 (L.13)"
        assert archive.read(archive.namelist()[0]) == raw.content
    gz = logged_in.http.get(url + ".gzip")
    assert gzip.decompress(gz.content) == raw.content, "protocol.md §7.4 (L.13)"
    path = tmp_path / "bulk.data"
    path.write_bytes(raw.content)
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"client_info", "object_values", "changed_values", "sources"} <= tables, "§7.6"
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"by_src_id", "by_src_object", "by_src_value"} <= indexes, "protocol.md §10.1"
        rows = db.execute("SELECT object, attrib, value FROM object_values").fetchall()
        objects: dict[str, dict[str, str]] = {}
        for obj, attrib, value in rows:
            objects.setdefault(obj, {})[attrib] = value
        assert objects == PRODUCTS, "protocol.md §7.6: object_values holds the MD"
        source = db.execute(
            "SELECT source_id, name, sync_priority, partition, sync_type, source_attribs,"
            " last_inserted_size FROM sources"
        ).fetchall()
        attribs = "brand,5,name,5,price,5,quantity,5,sku,5"
        assert source == [(1, "Product", 3, "user", "incremental", attribs, 5)], "§7.6"


def test_bulk_file_needs_owner_session(serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]) -> None:
    with serve([products]) as url:
        alice = rho(url)
        alice.login("alice")
        alice.create_client()
        path = _bulk(alice, {"partition": "user", "sources": ["Product"]})["url"]
        anonymous = httpx.get(url + path)
        assert anonymous.status_code == 401, "protocol.md §14 #16: rhom.server needs a session"
        bob = rho(url)
        bob.login("bob")
        assert bob.http.get(path).status_code == 404, "protocol.md §14 #16: owner only"


def test_nop_when_no_requested_source_is_in_partition(logged_in: RhoClient) -> None:
    result = _bulk(logged_in, {"partition": "app", "sources": ["Product"]})
    assert result == {"result": "nop"}, "protocol.md §7.3 step 2: rhom.server answers nop"


def test_app_partition_and_fixed_schema(serve: Serve, rho: Callable[[str], RhoClient], tmp_path: Path) -> None:
    class Fixed(MemoryAdapter):
        schema = {
            "version": "1.0",
            "property": {"name": "string", "photo": "blob,overwrite"},
            "index": {"by_name": "name"},
        }

    shared = Fixed("Catalog", {"1": {"name": "A", "photo": "x"}}, partition="app")
    with serve([shared]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        result = _bulk(client, {"partition": "app", "sources": "Catalog"})
        assert result["url"].startswith("/data/application/application_"), "protocol.md §7.3"
        path = tmp_path / "app.data"
        path.write_bytes(client.http.get(result["url"]).content)
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute('SELECT object, name, photo FROM "Catalog"').fetchall() == [("1", "A", "x")], (
                "protocol.md §7.6: fixed-schema table"
            )
            blob_attribs = db.execute("SELECT blob_attribs FROM sources").fetchone()[0]
            assert blob_attribs == "photo,1", "protocol.md §7.6: blob_attribs"


def test_adapter_error_gives_empty_url(logged_in: RhoClient, products: MemoryAdapter) -> None:
    products.fail("query")
    result = _bulk(logged_in, {"partition": "user", "sources": ["Product"]})
    assert result == {"result": "url", "url": ""}, "protocol.md §7.3: url '' after an error"


def test_bulk_file_of_a_user_name_that_needs_quoting(
    serve: Serve, products: MemoryAdapter, rho: Callable[[str], RhoClient]
) -> None:
    with serve([products]) as url:
        client = rho(url)
        client.login("Bob Smith/ü")
        client.create_client()
        path = _bulk(client, {"partition": "user", "sources": ["Product"]})["url"]
        assert "Bob%20Smith%2F%C3%BC" in path, "protocol.md §7.3: the user name, URL-quoted"
        reply = client.http.get(path + ".gzip")
        assert reply.status_code == 200, "protocol.md §7.4: served to its user"


def _objects_in(content: bytes, tmp_path: Path) -> dict[str, dict[str, str]]:
    path = tmp_path / f"bulk-{time.monotonic_ns()}.data"
    path.write_bytes(content)
    objects: dict[str, dict[str, str]] = {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        for obj, attrib, value in db.execute("SELECT object, attrib, value FROM object_values"):
            objects.setdefault(obj, {})[attrib] = value
    return objects


def test_a_file_of_many_pieces_holds_the_log_replayed(
    logged_in: RhoClient, products: MemoryAdapter, tmp_path: Path, monkeypatch: Any
) -> None:
    """The file is built from the change log a chunk at a time and stored and sent in
    pieces; whatever the history, it holds the source's live objects."""
    from rhom.server import bulk

    monkeypatch.setattr(bulk, "FILE_PIECE", 1000)  # a file of a few kB: many pieces
    logged_in.page("Product")
    products.data["1"]["price"] = "1.00"  # replaced
    del products.data["2"]  # deleted
    del products.data["3"]
    logged_in.page("Product")
    products.data["3"] = {"name": "Fuze again"}  # created anew after its deletion
    products.data.update({str(n): {"name": f"extra {n}", "sku": str(n)} for n in range(10, 60)})
    logged_in.page("Product")
    url = _bulk(logged_in, {"partition": "user", "sources": ["Product"]})["url"]
    raw = logged_in.http.get(url)
    assert raw.status_code == 200 and int(raw.headers["content-length"]) == len(raw.content) > 3000
    assert _objects_in(raw.content, tmp_path) == products.data, "the log's live objects, nothing else"
    with zipfile.ZipFile(io.BytesIO(logged_in.http.get(url + ".rzip").content)) as archive:
        assert archive.read(archive.namelist()[0]) == raw.content, "the ZIP written on the fly"
    assert gzip.decompress(logged_in.http.get(url + ".gzip").content) == raw.content


def test_a_rebuilt_file_leaves_no_pieces_behind(
    serve: Serve, store: Store, products: MemoryAdapter, rho: Callable[[str], RhoClient], monkeypatch: Any
) -> None:
    from rhom.server import bulk

    monkeypatch.setattr(bulk, "FILE_PIECE", 1000)
    customers = MemoryAdapter("Customer", {"1": {"name": "Ann"}})
    with serve([products, customers]) as url:
        client = rho(url)
        client.login()
        client.create_client()
        first = _bulk(client, {"partition": "user", "sources": ["Product"]})["url"]
        pieces = [k for k in store.keys("bf:") if k.startswith(f"bf:{first}#")]
        assert len(pieces) > 2, "stored in pieces"
        time.sleep(1.05)  # a file's URL names the second it was built in
        second = _bulk(client, {"partition": "user", "sources": ["Product", "Customer"]})["url"]
        assert client.http.get(first).status_code == 404, "the first file was dropped for the second"
        assert client.http.get(second).status_code == 200
        assert all(k == f"bf:{second}" or k.startswith(f"bf:{second}#") for k in store.keys("bf:")), (
            "no piece of the first file is left"
        )
