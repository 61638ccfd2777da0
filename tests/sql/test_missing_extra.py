"""Without the sql extra, ``rhom.server.sql`` and ``rhom sql`` say what to install.

A fresh interpreter refuses to import ``sqlalchemy`` (a meta path finder placed first),
as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HINT = "pip install 'rhom[sql]'"

BLOCK = textwrap.dedent("""
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname.partition(".")[0] == "sqlalchemy":
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
            return None

    sys.meta_path.insert(0, Block())
""")


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_importing_rhom_server_sql_names_the_extra() -> None:
    result = run("import rhom.server.sql")
    assert result.returncode == 1
    assert "rhom.server.sql needs the sql extra, which is not installed" in result.stderr
    assert HINT in result.stderr


def test_rhom_sql_names_the_extra_in_one_line() -> None:
    result = run("""
        import sys
        from rhom.cli import main
        sys.argv = ["rhom", "sql", "install-triggers", "--url", "sqlite://", "--table", "t"]
        main()
    """)
    assert result.returncode == 2, result.stderr
    assert HINT in result.stderr and "Traceback" not in result.stderr
