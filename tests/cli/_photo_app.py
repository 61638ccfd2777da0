"""A source with a photo and an adapter that can crash: ``rhom serve tests.cli._photo_app:app``.

What the adapter's ``query`` returns is read from ``$STORE_BACKEND`` (a JSON file the test
writes) on every request (``poll_interval = 0``): ``{id: {attr: value}}``, where a value
``blob:NAME`` becomes the download URL of the blob ``NAME`` (``photo-rhoblob``, as an
adapter should send it). ``PUT /test/blobs/{user}/{name}`` saves a blob into that user's
partition of the server store, so a test can make a URL answer 404 to one user and 200
to another. A pushed create named ``crash`` makes ``create`` raise ``KeyError``: a bug in
an adapter, as the server's log must show it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rhom.server import SourceAdapter, create_app
from rhom.server._call import server_of
from rhom.server._state import partition_key
from rhom.server.adapters import blob_key

DATA = Path(os.environ["STORE_BACKEND"])


class Product(SourceAdapter):
    poll_interval = 0

    def query(self, params: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
        data = json.loads(DATA.read_text()) if DATA.exists() else {}
        return {oid: {name: self._value(value) for name, value in attrs.items()} for oid, attrs in data.items()}

    def _value(self, value: str) -> str:
        return self.blob_url(value[5:]) if value.startswith("blob:") else value

    def create(self, attrs: Mapping[str, str]) -> str:
        if attrs.get("name") == "crash":
            return {"name": "x"}["no_such_key"]  # the adapter's bug
        data = json.loads(DATA.read_text()) if DATA.exists() else {}
        oid = str(len(data) + 1)
        data[oid] = {k: v for k, v in attrs.items() if k != "photo"}
        DATA.write_text(json.dumps(data))
        return oid


async def save_blob(request: Request) -> Response:
    store = server_of(request).state.store
    key = blob_key(partition_key("user", request.path_params["user"]), request.path_params["name"])
    store.set(key, await request.body())
    return Response(status_code=204)


def make_app() -> Any:
    """The app, from a factory (``rhom serve --factory tests.cli._photo_app:make_app``)."""
    return create_app([Product()], routes=[Route("/test/blobs/{user}/{name}", save_blob, methods=["PUT"])])


app = make_app()


class Wrapped:
    """An ASGI middleware around the app (an error tracker, say): ``rhom serve`` takes it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


wrapped = Wrapped(app)
