"""docs/cli.md quotes each command's --help: every quote must be what the command prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"```[a-z]*\n\$ (rhom[^\n]*--help)\n(.*?)```", re.S)


def quoted() -> list[tuple[str, str]]:
    return [(command, text) for command, text in BLOCK.findall(DOC.read_text(encoding="utf-8"))]


def test_the_docs_quote_help_texts() -> None:
    assert len(quoted()) >= 8, "docs/cli.md quotes rhom --help and each command's"


@pytest.mark.parametrize(("command", "text"), quoted(), ids=[c for c, _ in quoted()])
def test_quoted_help_is_the_real_help(command: str, text: str) -> None:
    args = command.split()[1:]
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"}
    real = subprocess.run(
        [sys.executable, "-m", "rhom.cli", *args], capture_output=True, text=True, env=env, check=True
    ).stdout
    lines = [line.rstrip() for line in real.rstrip().splitlines()]
    assert text.rstrip().splitlines() == lines, f"docs/cli.md quotes an old `{command}`: update it to the real text"
