"""Which blob file a synced attribute ends up naming (docs/models.md, "Which file a synced
blob names").

This backend pages the name it stored a pushed file under, not a URL: nothing to
download, so the file the app assigned stays, whatever ``overwrite`` says. A file the
server replaces (the backend links a new URL) is downloaded, with or without
``overwrite``. Real server, real blob host, real files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rhom
from rhom.server import MemoryAdapter

from .conftest import BlobHost, World


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep", "overwrite"])
def test_the_apps_file_stays_and_a_server_change_arrives(
    make_world: Callable[..., World], blob_host: BlobHost, overwrite: bool, layout: str
) -> None:
    base: Any = rhom.PropertyBagModel if layout == "bag" else rhom.Model

    class Album(base, sync=True):  # type: ignore[misc,valid-type]
        name = rhom.CharField()
        cover = rhom.BlobField(overwrite=overwrite)

    blob_host.files["c1.jpg"] = b"server cover 1"
    albums = MemoryAdapter("Album", {"a1": {"name": "Trip", "cover": blob_host.link("c1.jpg")}})
    world = make_world(layout, albums, extra_models=[Album])
    client: Any = world.client()
    assert client.do_sync().ok
    album = Album.find("a1")
    assert album.blob_path("cover").read_bytes() == b"server cover 1"

    album.update_attributes(cover=b"taken by the app")
    assigned = Album.find("a1").cover
    downloads = len(blob_host.requests)
    assert client.do_sync().ok and client.do_sync().ok
    assert Album.find("a1").cover == assigned, "the app's file stays after its upload"
    assert Album.find("a1").blob_path("cover").read_bytes() == b"taken by the app"
    stored = albums.data["a1"]["cover"]
    assert stored != assigned, "the server keeps its own copy under its own name"

    blob_host.files["c2.jpg"] = b"server cover 2"
    albums.data["a1"]["cover"] = blob_host.link("c2.jpg")  # the backend replaces the file
    assert client.do_sync().ok
    assert Album.find("a1").blob_path("cover").read_bytes() == b"server cover 2"
    assert len(blob_host.requests) == downloads + 1
