"""The backend the captures were recorded against, rebuilt on rhom.server (test app only).

captures/rhoconnect-7.8.md: two in-memory sources, ``Product`` (ids 1–5) and ``Customer``
(ids 1–3), ``poll_interval: 0``, any non-empty login accepted, failures switched on by
the exchange's ``backend_control`` or per object by an ``rc_fail`` attribute, and the
experiment route ``POST /rc/v1/app/test_reset`` that restores the backends.

The seeds are listed in the order the captured server happened to page them (A.8: 4, 3;
A.10: 1, 2; A.11: 5), so that most pages compare exactly; the replay compares the pages
of a run as a whole where that order cannot be reproduced (B.65–B.67).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from rhom.server import MemoryAdapter, Settings, create_app
from rhom.server._call import Call, endpoint
from rhom.server._http import json_reply

PRODUCT_SEED = {
    "4": {"brand": "Samsung", "name": "Galaxy", "price": "249.99", "quantity": "7", "sku": "1004"},
    "3": {"brand": "HTC", "name": "Fuze", "price": "299.99", "quantity": "3", "sku": "1003"},
    "1": {"brand": "Apple", "name": "iPhone", "price": "199.99", "quantity": "10", "sku": "1001"},
    "2": {"brand": "Motorola", "name": "Droid", "price": "149.99", "quantity": "5", "sku": "1002"},
    "5": {"brand": "Nokia", "name": "Lumia", "price": "99.99", "quantity": "1", "sku": "1005"},
}
_CUSTOMER_KEYS = ("first", "last", "address", "city", "state", "zip", "phone", "email", "lat")
CUSTOMER_SEED = {
    "3": dict(
        zip(
            (*_CUSTOMER_KEYS, "long"),
            (
                "Alice",
                "Brown",
                "3 Pine Rd",
                "Austin",
                "TX",
                "73301",
                "555-0103",
                "alice@example.com",
                "30.27",
                "-97.74",
            ),
            strict=True,
        )
    ),
    "1": dict(
        zip(
            (*_CUSTOMER_KEYS, "long"),
            (
                "John",
                "Smith",
                "1 Main St",
                "Springfield",
                "IL",
                "62701",
                "555-0101",
                "john@example.com",
                "39.78",
                "-89.65",
            ),
            strict=True,
        )
    ),
    "2": dict(
        zip(
            (*_CUSTOMER_KEYS, "long"),
            ("Jane", "Doe", "2 Oak Ave", "Portland", "OR", "97201", "555-0102", "jane@example.com", "45.52", "-122.68"),
            strict=True,
        )
    ),
}

_EXCEPTIONS = {"error": "Exception", "server_error": "ServerErrorException"}


class ControlledSource(MemoryAdapter):
    """A memory source that fails as the capture app's control file says."""

    def __init__(self, name: str, seed: Mapping[str, Mapping[str, str]], control: dict[str, Any]):
        super().__init__(name, seed, poll_interval=0)
        self.seed = seed
        self.control = control

    def reset(self) -> int:
        self.replace(self.seed)
        self.heal()
        return len(self.data)

    def _enter(self, hook: str) -> None:
        switch = self.control.get(self.name, {}).get(hook)
        if switch:
            kind = _EXCEPTIONS.get(switch, "Exception")
            raise RuntimeError(f"{self.name} {hook} failed ({kind} from control.json)")
        super()._enter(hook)

    def create(self, attrs: Mapping[str, str]) -> str | None:
        if attrs.get("rc_fail"):
            raise RuntimeError(f"forced create error for {self.name} (rc_fail={attrs['rc_fail']})")
        return super().create(attrs)


def capture_app(settings: Settings) -> tuple[Starlette, dict[str, Any]]:
    """The capture backend on rhom.server; returns the app and its control dict."""
    control: dict[str, Any] = {}
    sources = [
        ControlledSource("Product", PRODUCT_SEED, control),
        ControlledSource("Customer", CUSTOMER_SEED, control),
    ]

    def authenticate(login: str, password: str) -> bool:
        return control.get("login") != "reject"

    def test_reset(call: Call) -> Response:
        counts = {source.name: source.reset() for source in sources}
        return json_reply({"reset": True, **counts})

    app = create_app(sources, authenticate=authenticate, settings=settings)
    app.router.routes.insert(0, Route("/rc/v1/app/test_reset", endpoint(test_reset, login=False), methods=["POST"]))
    return app, control
