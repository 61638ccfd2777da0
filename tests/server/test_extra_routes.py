"""An app's own routes and middleware on the app create_app returns (docs/server.md,
"Adding routes"), served over real HTTP next to rhom's routes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rhom.exceptions import ConfigurationError
from rhom.server import MemoryAdapter, backend, create_app

from .conftest import RhoClient, Serve


def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def restock(request: Request) -> JSONResponse:
    changed = backend.push_objects(request, "Product", {request.path_params["id"]: {"quantity": "10"}})
    return JSONResponse({"changed": changed})


def shadow(request: Request) -> Response:
    return PlainTextResponse("mine")


class Tagged:
    """Adds ``X-Shop: 1`` to every answer (a plain ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-shop", b"1")]
            await send(message)

        await self.app(scope, receive, tagged)


def test_own_routes_and_middleware_serve_beside_rhoms(serve: Serve, rho: Callable[[str], RhoClient]) -> None:
    products = MemoryAdapter("Product", {"1": {"name": "Phone", "quantity": "0"}}, partition="app", poll_interval=-1)
    shop = Starlette(routes=[Route("/restock/{id}", restock, methods=["POST"])])
    routes = [Route("/healthz", health), Mount("/shop", app=shop), Route("/app/v1/Product", shadow)]
    with serve([products], routes=routes, middleware=[Middleware(Tagged)]) as url:
        with httpx.Client(base_url=url) as http:
            answer = http.get("/healthz")
            assert (answer.status_code, answer.text, answer.headers["x-shop"]) == (200, "ok", "1")
            assert http.get("/nothing/here").status_code == 404
            # rhom's routes keep their checks, and the middleware wraps them too
            refused = http.get("/app/v1/Product")
            assert refused.status_code == 401 and refused.text != "mine", "rhom's path is not taken over"
            assert refused.headers["x-shop"] == "1"
            client = rho(url)
            client.login()
            client.create_client()
            client.sync("Product")
            # the app's API writes through rhom.server.backend; the client gets the change
            assert http.post("/shop/restock/1").json() == {"changed": 1}
            page = client.page("Product")
            assert page["commands"]["insert"] == {"1": {"quantity": "10"}}


def test_routes_must_be_starlette_routes() -> None:
    with pytest.raises(ConfigurationError, match=r"create_app\(routes=...\): .*health.* is not a Starlette route"):
        create_app([], routes=[health])  # type: ignore[list-item]


def test_backend_calls_name_what_they_need() -> None:
    with pytest.raises(TypeError, match="pass the request, not request.app"):
        backend.push_objects(Starlette(), "Product", {"1": {"name": "x"}})


class Pooled(MemoryAdapter):
    """A source that takes something while the app serves (SourceAdapter.open / close)."""

    def __init__(self, name: str, *, fail_close: bool = False) -> None:
        super().__init__(name)
        self.events: list[str] = []
        self.fail_close = fail_close

    def open(self, app: object) -> None:
        self.events.append(f"open {type(app).__name__}")

    def close(self) -> None:
        self.events.append("close")
        if self.fail_close:
            raise RuntimeError("the pool would not close")


def test_sources_open_when_the_app_starts_and_close_when_it_stops(
    serve: Serve, rho: Callable[[str], RhoClient], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = Pooled("Product", fail_close=True), Pooled("Customer")
    with serve([first, second]) as url:
        assert first.events == second.events == ["open Starlette"], "opened once, before any request"
        client = rho(url)
        assert client.login().status_code == 200
        client.create_client()
        assert client.page("Product")["total_count"] == 0
        assert first.events == ["open Starlette"], "not closed while serving"
    assert first.events == second.events == ["open Starlette", "close"]
    assert "closing source Product failed" in caplog.text, "a failing close is logged; the others still close"
