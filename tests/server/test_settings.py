"""Settings from the environment and the production safety checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhom.exceptions import ConfigurationError
from rhom.server import MemoryAdapter, Settings, create_app


def test_from_env_parses_types() -> None:
    settings = Settings.from_env(
        {
            "RHOM_SERVER_STORE": "redis://127.0.0.1:1/0",
            "RHOM_SERVER_PRODUCTION": "true",
            "RHOM_SERVER_PORT": "8000",
            "RHOM_SERVER_SESSION_SECRET": "s",
        }
    )
    assert (settings.store, settings.production, settings.port) == (
        "redis://127.0.0.1:1/0",
        True,
        8000,
    )
    with pytest.raises(ConfigurationError, match="RHOM_SERVER_PORT"):
        Settings.from_env({"RHOM_SERVER_PORT": "eighty"})


def test_production_refuses_default_secrets() -> None:
    def accept(login: str, password: str) -> bool:
        return True

    with pytest.raises(ConfigurationError, match="SESSION_SECRET"):
        create_app([], authenticate=accept, settings=Settings(production=True, store="sqlite://"))
    with pytest.raises(ConfigurationError, match="API_TOKEN"):
        create_app(
            [],
            authenticate=accept,
            settings=Settings(production=True, store="sqlite://", session_secret="x" * 32),
        )
    safe = Settings(production=True, store="sqlite://", session_secret="x" * 32, api_token="y" * 32)
    with pytest.raises(ConfigurationError, match="authenticate"):
        create_app([], settings=safe)
    create_app([], authenticate=accept, settings=safe)


def test_bad_source_names_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        create_app([MemoryAdapter("A"), MemoryAdapter("A")], settings=Settings.for_tests())
    with pytest.raises(ConfigurationError):
        create_app([MemoryAdapter("a:b")], settings=Settings.for_tests())


def test_cli_refuses_several_workers_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    from rhom.server.__main__ import main

    monkeypatch.setenv("RHOM_SERVER_STORE", "sqlite:///x.db")
    with pytest.raises(SystemExit) as exit_info:
        main(["some.module:app", "--workers", "2"])
    assert exit_info.value.code == 2


def test_production_disables_empty_admin_password(settings: Settings) -> None:
    import dataclasses

    import httpx

    from rhom.server.testing import run_in_thread

    production = dataclasses.replace(settings, production=True, api_token="t" * 32, session_secret="s" * 32)
    app = create_app([], authenticate=lambda login, password: True, settings=production)
    with run_in_thread(app) as url:
        reply = httpx.post(url + "/rc/v1/system/login", json={"login": "rhoadmin", "password": ""})
        assert reply.status_code == 401, "no API token for an empty admin password in production"


def test_python_m_rhom_server_serves_an_app(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    import httpx

    from rhom.server.testing import free_port

    root = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {**os.environ, "RHOM_SERVER_STORE": "sqlite://", "RHOM_SERVER_PORT": str(port)}
    env["PYTHONPATH"] = str(root)
    command = [sys.executable, "-m", "rhom.server", "tests.server._plain_app:app"]
    process = subprocess.Popen(command + ["--log-level", "warning"], cwd=tmp_path, env=env)
    try:
        for _ in range(500):
            try:
                reply = httpx.post(f"http://127.0.0.1:{port}/rc/v1/app/login", json={"login": "a", "password": ""})
                break
            except httpx.TransportError:
                time.sleep(0.02)
        assert reply.status_code == 200, "python -m rhom.server module:app listens on 127.0.0.1"
    finally:
        process.terminate()
        process.wait(10)


def test_console_and_stats_settings() -> None:
    settings = Settings.from_env({"RHOM_SERVER_CONSOLE": "1", "RHOM_SERVER_STATS_RESOLUTION": "10"})
    assert (settings.console, settings.stats, settings.stats_on, settings.stats_resolution) == (True, False, True, 10)
    assert not Settings().stats_on, "stats are off by default, as in RhoConnect"
    with pytest.raises(ConfigurationError, match="stats_resolution"):
        create_app([], settings=Settings.for_tests(stats_resolution=0))
