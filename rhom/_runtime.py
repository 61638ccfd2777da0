"""The state rhom.setup() builds: the data folder, the partition databases, the models."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .database import Database


@dataclasses.dataclass
class Runtime:
    """What :func:`rhom.setup` opened."""

    data_dir: Path
    blob_dir: Path
    databases: dict[str, Database]
    models: list[Any]
    #: per partition: queries (sql, leading params) that find a blob value still in use
    blob_queries: dict[str, list[tuple[str, tuple[Any, ...]]]] = dataclasses.field(default_factory=dict)
    #: the largest blob file a write accepts, in bytes, where a field sets none
    max_blob_size: int | None = None

    def database(self, partition: str) -> Database:
        try:
            return self.databases[partition]
        except KeyError:
            raise ConfigurationError(f"unknown partition {partition!r}") from None


_current: Runtime | None = None


def current() -> Runtime:
    """The runtime of the last :func:`rhom.setup`; raises if setup has not run."""
    if _current is None:
        raise ConfigurationError("rhom.setup(data_dir) has not been called yet")
    return _current


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def active() -> Runtime | None:
    return _current
