"""The wheel as a user gets it: built from this checkout, installed in a fresh venv.

Slow (a build in an isolated environment, then ``pip install "rhom[server]"`` from
PyPI): marked ``slow``. The source is copied first, so that the build leaves no
``build/`` folder in the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rhom

REPO = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*.sqlite*")

pytestmark = pytest.mark.slow


def run(*command: str | Path, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "rhom"
    shutil.copytree(REPO, source, ignore=SKIP)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source, cwd=dist)
    (built,) = dist.glob("rhom-*.whl")
    return built


def install(root: Path, requirement: str) -> Path:
    """A fresh venv at *root* with *requirement* installed; returns its bin folder."""
    root.mkdir(parents=True, exist_ok=True)
    run(sys.executable, "-m", "venv", root, cwd=root)
    bin_dir = root / ("Scripts" if sys.platform == "win32" else "bin")
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement, cwd=root)
    return bin_dir


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """``rhom[server]`` from the wheel in a fresh venv; returns its bin folder."""
    return install(tmp_path_factory.mktemp("venv"), f"{wheel}[server]")


def test_wheel_holds_the_package_and_nothing_else(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"rhom", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "rhom/py.typed" in names
    for module in ("rhom/__init__.py", "rhom/cli.py", "rhom/demo/__main__.py", "rhom/demo/shop.py",
                   "rhom/server/__main__.py"):  # fmt: skip
        assert module in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "examples/")) or "/tests/" in n]
    with zipfile.ZipFile(wheel) as zf:
        dist_info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "rhom = rhom.cli:main" in zf.read(dist_info).decode()


def test_installed_package_imports_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    result = run(venv / "python", "-c", "import rhom; print(rhom.__version__); print(rhom.__file__)", cwd=tmp_path)
    version, location = result.stdout.split()
    assert version == rhom.__version__
    assert Path(location).is_relative_to(venv.parent)  # the installed copy, not this checkout


def test_installed_rhom_command_runs_help_and_the_demo(venv: Path, tmp_path: Path) -> None:
    rhom_command = venv / "rhom"
    help_text = run(rhom_command, "--help", cwd=tmp_path).stdout
    assert help_text.startswith("Usage: rhom ")
    assert "demo" in help_text and "serve" in help_text

    demo = run(rhom_command, "demo", "--data", tmp_path / "demo", cwd=tmp_path, timeout=120)
    assert "demo finished" in demo.stdout
    status = run(rhom_command, "status", "--data", tmp_path / "demo" / "device", cwd=tmp_path)
    assert "Product" in status.stdout


def test_without_the_server_extra_the_client_works_and_serve_says_what_is_missing(wheel: Path, tmp_path: Path) -> None:
    bin_dir = install(tmp_path / "venv", str(wheel))
    check = "import sys, rhom; print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn'}))"
    assert run(bin_dir / "python", "-c", check, cwd=tmp_path).stdout.strip() == "[]"
    assert run(bin_dir / "rhom", "--help", cwd=tmp_path).stdout.startswith("Usage: rhom ")
    for command in (["serve", "examples.store.server:app"], ["demo"]):
        result = subprocess.run([bin_dir / "rhom", *command], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and "pip install 'rhom[server]'" in result.stderr
        assert "Traceback" not in result.stderr
