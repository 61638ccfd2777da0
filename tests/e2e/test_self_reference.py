"""A source that belongs to itself (a folder tree): server ids all the way down.

A child is held back until its parent's create is linked, so the server never stores a
temporary id; each level of new folders therefore takes one more run.
"""

from __future__ import annotations

from pathlib import Path

import rhom
from rhom.server import MemoryAdapter

from .conftest import Server, wait


def test_a_new_tree_reaches_the_server_with_server_ids(tmp_path: Path, threaded: bool) -> None:
    class Folder(rhom.Model, sync=True):
        name = rhom.CharField()
        parent = rhom.BelongsTo("Folder")

    folders = MemoryAdapter("Folder")
    rhom.setup(tmp_path / "device", models=[Folder])
    server = Server([folders], store=f"sqlite:///{tmp_path}/server.db")
    server.start()
    client = rhom.SyncClient(server.url, threaded_mode=threaded, poll_interval=0)
    try:
        assert wait(client.login("alice", "secret")).error_code == 0
        root = Folder.create(name="root")
        sub = Folder.create(name="sub", parent=root.object)
        Folder.create(name="leaf", parent=sub.object)
        for _ in range(3):  # one level per run
            assert wait(client.do_sync()).status == "complete"
            for remote in folders.data.values():
                assert remote.get("parent") in (None, *folders.data), f"a temporary id reached the server: {remote}"
        by_name = {o["name"]: (oid, o.get("parent")) for oid, o in folders.data.items()}
        assert by_name["root"][1] is None
        assert by_name["sub"][1] == by_name["root"][0]
        assert by_name["leaf"][1] == by_name["sub"][0]
        local = {f.name: (f.object, f.parent) for f in Folder.find("all")}
        assert local == by_name
        assert not rhom.have_local_changes()
    finally:
        client.close()
        rhom.shutdown()
        server.stop()
