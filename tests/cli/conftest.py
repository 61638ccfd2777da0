"""Fixtures of the ``rhom`` command tests: the real command in a subprocess, a real server.

Every command runs as ``python -m rhom.cli ...`` from the repository root, as a user would
run ``rhom``; the shop server is ``rhom serve examples.store.server:app`` in another
process, on a free port, with its backend and its state in SQLite files under a temporary
folder. Nothing here imports the command: what is tested is what a shell sees (exit code,
stdout, stderr).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rhom.server.testing import free_port

REPO = Path(__file__).resolve().parents[2]
MODELS = "rhom.demo.models"


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, input: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``python -m <args>`` and wait for it; output is captured as text."""
    environ = {k: v for k, v in os.environ.items() if k != "RHOM_PASSWORD"}  # only what a test passes
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=environ, input=input,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def rhom(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the ``rhom`` command."""
    return run("rhom.cli", *args, **kwargs)  # type: ignore[arg-type]


def rhom_each(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent ``rhom`` commands at once (each start costs a Python start)."""
    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda command: rhom(*command), commands))


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet (``sys.argv[1:]`` are *args*) in a fresh interpreter; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result


def write(data: Path, code: str) -> None:
    """Run *code* against the data folder *data* with the shop's models set up (``Product``, ...)."""
    python(
        "import sys, rhom\n"
        "from rhom.demo.models import Customer, Note, Product\n"
        "rhom.setup(sys.argv[1], models=[Product, Customer, Note])\n"
        f"{textwrap.dedent(code)}\n"
        "rhom.shutdown()\n",
        str(data),
    )


def assert_user_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """One line on stderr, ``error: ...`` with every fragment, exit *code*, no traceback."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.returncode == code, (result.returncode, result.stderr)


@contextlib.contextmanager
def serving(
    app: str, folder: Path, *, port: int | None = None, cwd: Path = REPO, args: Sequence[str] = ()
) -> Iterator[str]:
    """``rhom serve APP [args]`` in a subprocess (run in *cwd*); yields its URL, terminates it on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {**os.environ, "STORE_BACKEND": str(folder / "backend.sqlite")}
    command = [sys.executable, "-m", "rhom.cli", "serve", app, "--port", str(port),
               "--store", f"sqlite:///{folder / 'server.db'}", *args]  # fmt: skip
    with (folder / "serve.log").open("w") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, proc, folder / "serve.log")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20  # then fail instead of hanging
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"rhom serve exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"rhom serve did not listen on port {port}:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop (5 products, 3 customers) behind ``rhom serve examples.store.server:app``.

    Shared by the session: tests sync their own data folders and never change the
    backend's data (a refused create leaves it as it was).
    """
    with serving("examples.store.server:app", tmp_path_factory.mktemp("shop-server")) as url:
        yield url


@pytest.fixture(scope="session")
def refusing_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop behind a login that refuses everyone."""
    with serving("tests.cli._refusing_app:app", tmp_path_factory.mktemp("refusing-server")) as url:
        yield url


@pytest.fixture
def down_url() -> str:
    """A URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def sync_new_folder(data: Path, url: str) -> Path:
    result = rhom("sync", "--server", url, "--data", str(data), "--models", MODELS,
                  "--login", "alice", "--password", "x")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return data


@pytest.fixture(scope="session")
def _synced_template(tmp_path_factory: pytest.TempPathFactory, server_url: str) -> Path:
    return sync_new_folder(tmp_path_factory.mktemp("synced") / "data", server_url)


@pytest.fixture
def synced(tmp_path: Path, _synced_template: Path) -> Path:
    """A data folder logged in as alice and synced with the shop (a copy: one sync per session).

    The copies share a client id: a test that pushes changes takes :func:`fresh` instead.
    """
    return Path(shutil.copytree(_synced_template, tmp_path / "data"))


@pytest.fixture
def fresh(tmp_path: Path, server_url: str) -> Path:
    """A data folder logged in as alice and synced with the shop, with a client id of its own."""
    return sync_new_folder(tmp_path / "data", server_url)
