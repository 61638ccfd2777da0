"""The examples and the demo, run as the README says."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import REPO, assert_user_error, rhom, run, serving


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


def test_the_demo_tells_each_source_outcome_once() -> None:
    result = rhom("demo")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.strip() for line in lines if "server errors" in line] == [
        "Product   error: server errors ['create-error']",
        "Product   error: server errors ['update-error', 'update-rollback']",
    ]
    pages = [line for line in lines if " page: " in line]
    assert pages and all(
        re.search(r"page: \d+ changes? \(\d+ so far; the server holds \d+ objects\)", p) for p in pages
    )
    assert not [line for line in lines if re.search(r"\d+/\d+", line)]  # no count that reads as "5 of 3"


def test_importing_the_example_server_writes_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("STORE_BACKEND", None)
    code = "import examples.store.server, rhom.demo.server"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, timeout=60)
    assert list(tmp_path.iterdir()) == []  # the backend file is made at the first request


def test_demo_sh_installs_the_server_extra_only(tmp_path: Path) -> None:
    """Stub interpreters: the real run would download rhom's dependencies from PyPI.

    scripts/demo.sh runs in a copy of the checkout whose ``python3`` (``$PYTHON``) makes
    a ``.venv/bin/python`` that records its arguments; the script must install
    ``.[server]`` (not the dev extra: pytest, mypy, mkdocs, selenium) and start the demo.
    """
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "demo.sh", checkout / "scripts" / "demo.sh")
    (checkout / "pyproject.toml").write_text("")
    calls = tmp_path / "calls.txt"
    venv_python = f'#!/bin/sh\necho "$@" >> {calls}\n'
    python3 = tmp_path / "python3"
    python3.write_text(
        "#!/bin/sh\n"  # python3 -m venv .venv
        f'mkdir -p "$3/bin" && printf %s {shlex.quote(venv_python)} > "$3/bin/python" && chmod +x "$3/bin/python"\n'
    )
    python3.chmod(0o755)
    env = {**os.environ, "PYTHON": str(python3)}
    for _ in range(2):
        done = subprocess.run(["bash", str(checkout / "scripts" / "demo.sh"), "--data", "x"], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == [
        "-m pip install --quiet -e .[server]",
        "-m rhom.demo --data x",
        "-m rhom.demo --data x",  # installed once
    ]
