"""Blob files a server pages, as ``rhom sync`` sees them (``rhom serve tests.cli._photo_app:app``).

The adapter's ``photo-rhoblob`` values are download URLs for the client model's ``photo``
BlobField (docs/models.md, "Which file a synced blob names").
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import REPO, rhom, serving
from .test_serve import PHOTO_APP, photo_sync
from .test_sync import status_rows
from .test_unanswered import table


def photo_of(data: Path, oid: str) -> bytes | None:
    """The bytes of the object's photo on the device, or None."""
    code = (
        "import sys, rhom\nfrom tests.cli._photo_models import Product\nrhom.setup(sys.argv[1], models=[Product])\n"
        "p = Product.find(sys.argv[2])\nprint(p.blob_path('photo').read_bytes().hex() if p.photo else None)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(data), oid], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    value = out.stdout.strip()
    return None if value == "None" else bytes.fromhex(value)


def serve_photos(folder: Path, objects: dict[str, dict[str, str]]) -> None:
    """What the adapter's query returns from now on (``blob:NAME``: the blob's URL)."""
    (folder / "backend.sqlite").write_text(json.dumps(objects))


def test_a_plain_name_is_not_a_file_and_the_url_that_follows_is_downloaded(tmp_path: Path) -> None:
    server, data = tmp_path / "server", tmp_path / "data"
    with serving(PHOTO_APP, server) as url:
        serve_photos(server, {"1": {"name": "Phone", "photo": "0123-phone.png"}})  # a stored name, not a URL
        assert photo_sync(url, data, "--login", "alice", "--password", "x").returncode == 0
        assert photo_of(data, "1") is None  # nothing to download: no value, no file missing
        httpx.put(f"{url}/test/blobs/alice/0123-phone.png", content=b"PNG bytes")
        serve_photos(server, {"1": {"name": "Phone", "photo-rhoblob": "blob:0123-phone.png"}})  # the adapter fixed
        assert photo_sync(url, data).returncode == 0
        assert photo_of(data, "1") == b"PNG bytes"


def test_a_blob_refused_to_this_user_is_named_kept_and_fetched_once_served(tmp_path: Path) -> None:
    server, data = tmp_path / "server", tmp_path / "data"
    with serving(PHOTO_APP, server) as url:
        httpx.put(f"{url}/test/blobs/bob/0456-kite.png", content=b"kite")  # bob's: alice gets 404
        serve_photos(server, {"7": {"name": "Kite", "photo-rhoblob": "blob:0456-kite.png"}})
        blob_url = f"{url}/rc/v1/blobs/0456-kite.png"
        first = photo_sync(url, data, "--login", "alice", "--password", "x")
        assert first.returncode == 1
        assert "Traceback" not in first.stderr
        (summary,) = [r for r in table(first.stdout) if r[0] == "Product"]
        said = summary[4].replace(" ", "")  # the cell wraps the URL over lines
        assert f"Product7:photonotdownloaded:{blob_url}answeredHTTP404(NotFound)" in said
        assert first.stderr.startswith("error: 1 server error left unanswered (Product: blob-error)")
        rows = status_rows(data)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows["Product"][3])  # synced: the rest arrived
        assert (rows["Product"][5], rows["Product"][8]) == ("1", "blob-error (1)")
        ((source, obj, kind, message, _),) = table(rhom("errors", "--data", str(data)).stdout)
        assert (source, obj, kind) == ("Product", "7", "blob-error")
        assert blob_url in message
        assert "blob-error: downloaded again at every sync" in rhom("errors", "--data", str(data)).stdout

        again = photo_sync(url, data)  # the page is not sent again: the kept error says it all
        assert again.returncode == 1 and "blob-error (unanswered)" in again.stdout
        assert photo_of(data, "7") is None

        httpx.put(f"{url}/test/blobs/alice/0456-kite.png", content=b"kite")  # the server is fixed
        fixed = photo_sync(url, data)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert photo_of(data, "7") == b"kite"
    assert rhom("errors", "--data", str(data)).stdout.strip() == "no unanswered server errors"
