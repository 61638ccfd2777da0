"""No secrets in logs: passwords, session cookies and the API token never appear."""

from __future__ import annotations

import logging

import httpx
import pytest

from rhom.server import MemoryAdapter, Settings, create_app
from rhom.server.testing import run_in_thread


def test_logs_hold_no_secrets(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryAdapter):
        def query(self, params: object) -> dict[str, dict[str, str]]:
            raise RuntimeError("backend down")

    for name in ("rhom", "uvicorn", "uvicorn.access", "uvicorn.error"):
        caplog.set_level(logging.DEBUG, logger=name)
    app = create_app([Broken("Product")], settings=settings)
    with run_in_thread(app, log_level="debug") as url, httpx.Client(base_url=url) as http:
        http.post("/rc/v1/app/login", json={"login": "alice", "password": "hunter2-password"})
        cookie = http.cookies["rhoconnect_session"]
        cid = http.post("/rc/v1/clients").json()["client"]["client_id"]
        http.get("/app/v1/Product", headers={"X-RhoConnect-CLIENT-ID": cid})
        http.post("/rc/v1/system/reset", headers={"X-RhoConnect-API-TOKEN": "wrong"})
    assert "/app/v1/Product" in caplog.text, "the access log was captured"
    for secret in ("hunter2-password", cookie, "test-api-token", "test-secret"):
        assert secret not in caplog.text, f"a secret reached the logs: {secret[:8]}..."
