"""Where the backend plugin's pushes go: a rhom.server app in this process, or one over HTTP.

Both take one :class:`Batch` per source and user and write it as three operations, in
this order: the rows' current attributes merged into the objects (``push_objects``),
the attributes whose column is now NULL removed (``delete_attributes``; over HTTP
RhoConnect's ``fast_delete``), the objects gone deleted (``push_deletes``). Sending a
batch again changes nothing: the server writes only what differs.

This module is the plugin's one import of httpx, and translates its errors, and every
refusal by the server, into :class:`DeliveryError` (the outbox keeps the entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

#: The header RhoConnect's push routes read the API token from.
TOKEN_HEADER = "X-RhoConnect-API-TOKEN"


class DeliveryError(Exception):
    """A batch the server did not take: unreachable, or refused (the message says which;
    ``__cause__`` is the underlying error). The entries stay in the outbox."""


@dataclass
class Batch:
    """What one push writes for one source and user."""

    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    nulls: dict[str, list[str]] = field(default_factory=dict)  # attributes to remove, per object
    deletes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.objects or self.nulls or self.deletes)


class Delivery(Protocol):
    def send(self, source: str, user: str | None, batch: Batch) -> None: ...

    def close(self) -> None: ...


class InProcess:
    """Pushes into a rhom.server app of this process, through :mod:`rhom.server.backend`."""

    def __init__(self, app: Any) -> None:
        from rhom.server._call import server_of

        server_of(app)  # a TypeError now, not at the first commit
        self.app = app

    def send(self, source: str, user: str | None, batch: Batch) -> None:
        from rhom.server import backend

        try:
            if batch.objects:
                backend.push_objects(self.app, source, batch.objects, user=user)
            if batch.nulls:
                backend.delete_attributes(self.app, source, batch.nulls, user=user)
            if batch.deletes:
                backend.push_deletes(self.app, source, batch.deletes, user=user)
        except Exception as exc:  # a store that is down, a source the server lacks
            raise DeliveryError(f"{source}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        pass


class OverHttp:
    """Pushes to rhom.server (or RhoConnect) over its REST push routes, with the API token.

    :param url: the server's base URL (``https://sync.example.com``).
    :param client: an ``httpx.Client`` of your own (a CA bundle, a proxy); by default
        one that verifies TLS certificates, with ``timeout`` seconds per request.
    """

    def __init__(self, url: str, token: str, *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._owned = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)

    def send(self, source: str, user: str | None, batch: Batch) -> None:
        who: dict[str, Any] = {} if user is None else {"user_id": user}
        if batch.objects:
            self._post(source, "push_objects", {**who, "objects": batch.objects})
        if batch.nulls:
            data = {oid: dict.fromkeys(names, "") for oid, names in batch.nulls.items()}
            self._post(source, "fast_delete", {**who, "data": data})
        if batch.deletes:
            self._post(source, "push_deletes", {**who, "objects": batch.deletes})

    def _post(self, source: str, route: str, body: dict[str, Any]) -> None:
        url = f"{self.url}/app/v1/{quote(source, safe='')}/{route}"
        try:
            reply = self.client.post(url, json=body, headers={TOKEN_HEADER: self._token})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{route} {source} to {self.url}: {type(exc).__name__}: {exc}") from exc
        if reply.status_code != 200:
            text = reply.text.strip()[:200]
            raise DeliveryError(f"{route} {source} to {self.url}: HTTP {reply.status_code} {text}")

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __repr__(self) -> str:
        return f"OverHttp({self.url!r})"  # never the token
