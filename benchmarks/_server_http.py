"""A deliberately small HTTP/1.1 client for the load benchmark.

httpx costs about as much CPU per request as the server does; on a small machine the
load generator would then measure itself. This client keeps one keep-alive connection
per simulated client, sends JSON, reads ``Content-Length`` bodies and keeps the session
cookie, which is all the protocol's sync routes need.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class LightClient:
    """One connection, one cookie, requests one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookie = ""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()
            self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        body = b"" if json_body is None else json.dumps(json_body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        if body:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(data)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        found: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                found[name.strip().lower()] = value.strip()
        length = int(found.get("content-length", "0"))
        content = await self._reader.readexactly(length) if length else b""
        if "set-cookie" in found:
            self.cookie = found["set-cookie"].split(";", 1)[0]
        if found.get("connection", "").lower() == "close":
            await self.close()
        return Reply(int(status_line.split()[1]), found, content)
