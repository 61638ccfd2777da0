"""Without the server extra, ``import rhom.server`` says what to install (no bare ModuleNotFoundError).

Each case runs a fresh interpreter whose first act is to put a meta path finder in front
of ``sys.meta_path`` that refuses some modules, as if they were not installed; then it
imports rhom.server (or runs it as ``python -m rhom.server`` does, through runpy).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HINT = "pip install 'rhom[server]'"

#: Refuse the modules named in sys.argv[1] (comma-separated). With sys.argv[2] == "load",
#: they are found but their loading fails, as in a half-installed package.
BLOCK = """
import importlib.abc, importlib.machinery, sys

BLOCKED = set(filter(None, sys.argv[1].split(",")))
AT_LOAD = sys.argv[2] == "load"


class FailingLoader(importlib.abc.Loader):
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (broken)", name=spec.name)

    def exec_module(self, module):
        raise AssertionError("not reached")


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] not in BLOCKED:
            return None
        if AT_LOAD:
            return importlib.machinery.ModuleSpec(fullname, FailingLoader())
        raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)


sys.meta_path.insert(0, Block())
"""

IMPORT = """
try:
    import rhom.server
except ImportError as exc:
    cause = exc.__cause__
    print(type(exc).__name__, type(cause).__name__, getattr(cause, "name", None), sep="|")
    print(exc)
else:
    print("imported")
"""


def run(blocked: str, code: str, mode: str = "find") -> subprocess.CompletedProcess[str]:
    program = textwrap.dedent(BLOCK) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", program, blocked, mode], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_the_blocking_finder_blocks_nothing_else() -> None:
    result = run("", IMPORT)
    assert (result.returncode, result.stdout.strip()) == (0, "imported"), result.stderr


@pytest.mark.parametrize(
    "blocked",
    ["starlette", "uvicorn", "redis", "orjson", "itsdangerous", "python_multipart,multipart"],
)
def test_missing_module_names_the_extra(blocked: str) -> None:
    result = run(blocked, IMPORT)
    assert result.returncode == 0, result.stderr
    kinds, message = result.stdout.splitlines()
    first = blocked.split(",")[0]
    assert kinds == f"ImportError|ModuleNotFoundError|{first}", "an ImportError chained to the original error"
    assert HINT in message and repr(first) in message


def test_either_multipart_module_is_enough() -> None:
    result = run("multipart", IMPORT)  # python-multipart >= 0.0.13 also installs python_multipart
    assert (result.returncode, result.stdout.strip()) == (0, "imported"), result.stderr


def test_a_module_found_but_failing_to_load_names_the_extra() -> None:
    result = run("starlette", IMPORT, mode="load")
    assert result.returncode == 0, result.stderr
    kinds, message = result.stdout.splitlines()
    assert kinds == "ImportError|ModuleNotFoundError|starlette"
    assert HINT in message


def test_python_m_rhom_server_ends_with_the_hint() -> None:
    result = run("uvicorn", "import runpy\nrunpy.run_module('rhom.server', run_name='__main__', alter_sys=True)\n")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: rhom.server needs the server extra"), result.stderr
    assert HINT in last
