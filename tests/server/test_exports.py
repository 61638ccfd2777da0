"""rhom.server's public surface: what ``__all__`` promises exists and is documented."""

from __future__ import annotations

from pathlib import Path

import rhom.server
import rhom.server.testing

DOCS = Path(__file__).resolve().parents[2] / "docs" / "server.md"


def test_all_names_exist_and_are_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for module in (rhom.server, rhom.server.testing):
        assert sorted(module.__all__) == list(module.__all__), f"{module.__name__}: sorted"
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is missing"
            if name != "free_port":
                assert name in text, f"{module.__name__}.{name} is not in docs/server.md"
