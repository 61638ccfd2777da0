"""``rhom --help``, each command's ``--help`` and ``--version``."""

from __future__ import annotations

import rhom

from .conftest import rhom as run_rhom
from .conftest import rhom_each

COMMANDS = ["serve", "sync", "status", "outbox", "errors", "reset", "export", "import", "demo"]


def test_help_lists_every_command() -> None:
    result = run_rhom("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: rhom ")
    listed = result.stdout.split("Commands:")[1]
    for command in COMMANDS:
        assert f"\n  {command} " in listed


def test_every_command_has_help() -> None:
    for command, result in zip(COMMANDS, rhom_each(*([c, "--help"] for c in COMMANDS)), strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"Usage: rhom {command} ")
        assert "-h, --help" in result.stdout
        assert result.stderr == ""


def test_version() -> None:
    result = run_rhom("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"rhom, version {rhom.__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = run_rhom("synch")
    assert result.returncode == 2
    assert "No such command 'synch'" in result.stderr
    assert "Traceback" not in result.stderr
