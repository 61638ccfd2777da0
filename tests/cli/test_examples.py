"""The examples and the demo, run as the README says."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from .conftest import assert_user_error, rhom, run, serving


def test_store_client_syncs_and_lists_the_shop(tmp_path: Path, server_url: str) -> None:
    result = run("examples.store.client", "--server", server_url, "--data", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert "sync: complete" in result.stdout
    for name in ("Galaxy", "iPhone", "Lumia", "Pixel", "Xperia"):
        assert re.search(rf"^  {name} +\w+ +\d+\.\d\d$", result.stdout, re.MULTILINE)
    assert "customers: 3" in result.stdout

    again = run("examples.store.client", "--server", server_url, "--data", str(tmp_path / "data"))
    assert (again.returncode, again.stdout) == (0, result.stdout)  # logged in already, nothing new


def test_store_client_with_the_server_down_exits_1(tmp_path: Path, down_url: str) -> None:
    result = run("examples.store.client", "--server", down_url, "--data", str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stdout.startswith("login failed: error 1")
    assert "Traceback" not in result.stderr


def test_readme_demo() -> None:
    result = run("examples.demo")
    assert result.returncode == 0, result.stderr
    assert "demo finished" in result.stdout
    assert "create-error:" in result.stdout and "update-error:" in result.stdout


def test_rhom_demo_keeps_its_data_for_rhom_status(tmp_path: Path) -> None:
    result = rhom("demo", "--data", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "demo finished" in result.stdout

    status = rhom("status", "--data", str(tmp_path / "device"))
    assert status.returncode == 0, status.stderr
    assert re.search(r"│ Product +│ user +│ incremental +│ \d{4}-", status.stdout)
    assert re.search(r"│ Note +│ local +│ none +│ never +│ 0 +│ 1 +│", status.stdout)

    again = rhom("demo", "--data", str(tmp_path))  # the walk-through needs the seed data: refused, not a crash
    assert_user_error(again, 2, f"{tmp_path} holds an earlier demo run")


def test_asyncio_app_reacts_to_signals_while_it_keeps_running() -> None:
    result = run("examples.asyncio_app")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "logged in: True" in out
    # the handlers ran on the event loop, in order, for every source and the run's end
    events = [line.split("event: ", 1)[1] for line in out.splitlines() if "event: " in line]
    assert events[-1] == "sync complete"
    assert "Product: ok 5/5" in events and "Customer: ok 3/3" in events
    ticks = int(re.search(r"the app ticked (\d+) times", out).group(1))  # type: ignore[union-attr]
    assert ticks > 0, "the event loop must keep running during the sync"
    assert "sync complete: 5 products, 3 customers" in out


def test_the_packaged_shop_serves_outside_a_checkout(tmp_path: Path) -> None:
    """``examples`` exists only in a checkout; ``rhom.demo.server:app`` ships with rhom."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with serving("rhom.demo.server:app", tmp_path / "shop", cwd=elsewhere) as url:
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.post("/rc/v1/app/login", json={"login": "alice", "password": ""}).status_code == 200
            client_id = http.post("/rc/v1/clients").json()["client"]["client_id"]
            page = http.get("/app/v1/Product", headers={"X-RhoConnect-CLIENT-ID": client_id}).json()
    assert page[4]["total_count"] == 5, "the shop's five products"


def test_serve_console_flag_serves_the_console(tmp_path: Path) -> None:
    """``rhom serve --console``: the console answers, behind its login."""
    with serving("examples.store.server:app", tmp_path / "shop", args=["--console"]) as url:
        page = httpx.get(url + "/console/")
        assert (page.status_code, page.headers["location"]) == (303, "/console/login?next=/console/")
        assert "API token or admin password" in httpx.get(url + "/console/login").text
    with serving("examples.store.server:app", tmp_path / "plain") as url:
        assert httpx.get(url + "/console/").status_code == 404, "off without the flag"
