"""Every model class declared so far, by source name."""

from __future__ import annotations

from typing import Any

_models: dict[str, Any] = {}


def register(model: Any) -> None:
    if not model._rhom.abstract:
        _models[model._rhom.source_name] = model  # a redefinition replaces the older class


def all_models() -> list[Any]:
    return list(_models.values())


def get(name: str) -> Any | None:
    return _models.get(name)
