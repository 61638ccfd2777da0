"""The bulk file on the client: download variants, unpacking by signature, checks (§7.4, §7.6).

rhom.server always serves all three variants of a sound file, so the odd ones here (a
refused ``.rzip``, a damaged archive, a file without its tables) are made by hand, and
the download goes through a small fake transport instead of HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rhom.exceptions import NetworkError, ProtocolError, ServerError
from rhom.server import MemoryAdapter
from rhom.server._bulk_file import build_bulk_file
from rhom.sync import _bulk, _bulk_file
from rhom.sync.protocol import WireRequest

URL = "/data/application/alice/alice_1735725600.data"


@pytest.fixture
def sqlite_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A bulk file as rhom.server builds it (one property-bag source, one object)."""
    path = tmp_path_factory.mktemp("built") / "built.data"
    build_bulk_file(str(path), [MemoryAdapter("Product")], {"Product": [[("1", '{"name":"iPhone"}')]]}, {})
    return path.read_bytes()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("variant", ["rzip", "gzip", "sqlite"])
def test_payload_is_recognised_by_its_signature(tmp_path: Path, sqlite_bytes: bytes, variant: str) -> None:
    payload = {
        "rzip": _zip({"alice_1735725600.data": sqlite_bytes}),
        "gzip": gzip.compress(sqlite_bytes),
        "sqlite": sqlite_bytes,
    }[variant]
    raw, target = tmp_path / "download", tmp_path / "bulk.sqlite"
    raw.write_bytes(payload)
    _bulk_file._unpack(raw, target, URL)
    assert target.read_bytes() == sqlite_bytes
    _bulk.check_file(target)


def test_zip_with_several_entries_takes_the_one_named_like_the_url(tmp_path: Path, sqlite_bytes: bytes) -> None:
    raw, target = tmp_path / "download", tmp_path / "bulk.sqlite"
    raw.write_bytes(_zip({"readme.txt": b"hello", "alice_1735725600.data": sqlite_bytes}))
    _bulk_file._unpack(raw, target, URL)
    assert target.read_bytes() == sqlite_bytes
    raw.write_bytes(_zip({"a.data": sqlite_bytes, "b.data": sqlite_bytes}))
    with pytest.raises(ProtocolError, match="expected one file"):
        _bulk_file._unpack(raw, target, URL)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"<html>Not Found</html>", "neither ZIP, gzip nor SQLite"),
        (b"PK\x03\x04 but not really a zip", "damaged ZIP"),
        (b"\x1f\x8b\x08 truncated gzip", "damaged gzip"),
    ],
)
def test_unknown_or_damaged_payload_is_a_protocol_error(tmp_path: Path, payload: bytes, message: str) -> None:
    raw = tmp_path / "download"
    raw.write_bytes(payload)
    with pytest.raises(ProtocolError, match=message):
        _bulk_file._unpack(raw, tmp_path / "bulk.sqlite", URL)


def test_a_file_without_the_client_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bulk.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE object_values (source_id, attrib, object, value)")
        conn.commit()
    with pytest.raises(ProtocolError, match="no table 'client_info'"):
        _bulk.check_file(path)


def test_a_truncated_sqlite_file_is_refused(tmp_path: Path, sqlite_bytes: bytes) -> None:
    path = tmp_path / "bulk.sqlite"
    path.write_bytes(sqlite_bytes[: len(sqlite_bytes) // 2])
    with pytest.raises(ProtocolError):
        _bulk.check_file(path)


def test_text_is_not_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "bulk.sqlite"
    path.write_bytes(b"SQLite? no.")
    with pytest.raises(ProtocolError, match="not a SQLite database"):
        _bulk.check_file(path)


# -- download variants (fake transport) ---------------------------------------------------------


@dataclasses.dataclass
class FakeTransport:
    """Serves ``files`` by path; anything else is a 404, as rhom.server answers."""

    files: dict[str, bytes]
    asked: list[str] = dataclasses.field(default_factory=list)

    def download(self, request: WireRequest, dest: Path) -> int:
        self.asked.append(request.path)
        if request.path not in self.files:
            raise ServerError("Not Found", status_code=404, details="<h1>Not Found</h1>")
        return dest.write_bytes(self.files[request.path])


@dataclasses.dataclass
class FakeRun:
    transport: Any


def test_download_prefers_rzip(tmp_path: Path, sqlite_bytes: bytes) -> None:
    transport = FakeTransport({URL + ".rzip": _zip({"alice_1735725600.data": sqlite_bytes}), URL: sqlite_bytes})
    path = _bulk_file._download(FakeRun(transport), URL, tmp_path)  # type: ignore[arg-type]
    assert transport.asked == [URL + ".rzip"], "protocol.md §7.4 step 1"
    assert path.read_bytes() == sqlite_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bulk.sqlite"], "the download is removed"


def test_download_falls_back_to_the_bare_file(tmp_path: Path, sqlite_bytes: bytes) -> None:
    transport = FakeTransport({URL: sqlite_bytes})
    path = _bulk_file._download(FakeRun(transport), URL, tmp_path)  # type: ignore[arg-type]
    assert transport.asked == [URL + ".rzip", URL]
    assert path.read_bytes() == sqlite_bytes


def test_download_does_not_fall_back_on_other_errors(tmp_path: Path) -> None:
    class Down(FakeTransport):
        def download(self, request: WireRequest, dest: Path) -> int:
            self.asked.append(request.path)
            raise NetworkError("connection refused")

    transport = Down({})
    with pytest.raises(NetworkError):
        _bulk_file._download(FakeRun(transport), URL, tmp_path)  # type: ignore[arg-type]
    assert transport.asked == [URL + ".rzip"]
