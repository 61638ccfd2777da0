"""Model options: ``class Meta`` (or class keywords) parsed into ``Model._rhom``."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _sql
from .database import PARTITIONS
from .exceptions import ConfigurationError
from .fields import BelongsTo, Field

if TYPE_CHECKING:
    from .database import Database

#: Attribute names Rhom never stores (rhom-api §1.4).
RESERVED = frozenset({"object", "source_id", "update_type", "attrib_type", "set_notification", "clear_notification"})

RHOM_KEYS = frozenset(
    {
        "sync", "sync_priority", "sync_type", "partition", "schema_version", "full_update",
        "pass_through", "freezed", "frozen", "belongs_to", "indexes", "unique_indexes",
        "source_name", "source_id", "migrate", "abstract",
    }
)  # fmt: skip

#: peewee Meta keys that fixed-schema models pass through to peewee.
PEEWEE_KEYS = frozenset({"database", "table_name", "only_save_dirty", "constraints", "options"})

SYNC_TYPES = {"incremental": "incremental", "bulk_only": "bulk_sync_only",
               "bulk_sync_only": "bulk_sync_only", "none": "none"}  # fmt: skip


class RhomOptions:
    """A model's Rhom options, read as ``Product._rhom`` (custom keys in ``.options``)."""

    source_id: int | None = None

    def __init__(self, model: type, raw: Mapping[str, Any], *, fixed_schema: bool) -> None:
        name = model.__name__
        self.model = model
        self.fixed_schema = fixed_schema
        self.abstract = bool(raw.get("abstract", False))
        self.source_name = _sql.check_identifier(raw.get("source_name", name), what="source name")
        self.fields: dict[str, Field] = {}
        sync = raw.get("sync", False)
        if not isinstance(sync, bool):
            raise ConfigurationError(f"{name}.Meta.sync: expected True or False, got {sync!r}")
        sync_type = raw.get("sync_type", "incremental" if sync else "none")
        if sync_type not in SYNC_TYPES:
            raise ConfigurationError(f"{name}.Meta.sync_type: expected 'incremental' or 'bulk_only', got {sync_type!r}")
        self.sync_type = SYNC_TYPES[sync_type]
        #: the value in force: Model.set_sync_type changes it for the process (declared at start)
        self.run_sync_type: str = self.sync_type
        self.sync_priority = _int_option(name, "sync_priority", raw.get("sync_priority", 1000))
        partition = raw.get("partition", "user" if self.is_sync else "local")
        if partition not in PARTITIONS:
            raise ConfigurationError(
                f"{name}.Meta.partition: expected one of {', '.join(PARTITIONS)}, got {partition!r}"
            )
        if partition == "local" and self.is_sync:
            raise ConfigurationError(f"{name}: a synced model cannot live in the 'local' partition")
        self.partition: str = partition
        version = raw.get("schema_version")
        self.schema_version = None if version is None else str(version)
        self.full_update = _bool_option(name, "full_update", raw.get("full_update", False))
        self.pass_through = _bool_option(name, "pass_through", raw.get("pass_through", False))
        frozen = raw.get("freezed", raw.get("frozen", fixed_schema))
        self.freezed = _bool_option(name, "freezed", frozen) or fixed_schema
        self.belongs_to = _belongs_to(name, raw.get("belongs_to", {}))
        self.indexes = _indexes(name, "indexes", raw.get("indexes", {}))
        self.unique_indexes = _indexes(name, "unique_indexes", raw.get("unique_indexes", {}))
        if not fixed_schema and (self.indexes or self.unique_indexes):
            raise ConfigurationError(f"{name}: indexes are only supported on fixed-schema models")
        explicit = raw.get("source_id")
        self.explicit_source_id = None if explicit is None else _int_option(name, "source_id", explicit)
        migrate = raw.get("migrate")
        if migrate is not None and not callable(migrate):
            raise ConfigurationError(f"{name}.Meta.migrate: expected a callable, got {migrate!r}")
        self.migrate = migrate
        self.options = {k: v for k, v in raw.items() if k not in RHOM_KEYS | PEEWEE_KEYS}
        for key in self.options:
            close = difflib.get_close_matches(key, sorted(RHOM_KEYS), n=1, cutoff=0.8)
            if close:
                raise ConfigurationError(f"{name}.Meta.{key}: unknown option; did you mean {close[0]!r}?")

    # -- derived -------------------------------------------------------------------------

    @property
    def is_sync(self) -> bool:
        return self.sync_type != "none"

    @property
    def blob_attribs(self) -> dict[str, bool]:
        """Blob attribute name -> overwrite flag."""
        cached: dict[str, bool] | None = self.__dict__.get("_blob_attribs")
        if cached is None:
            cached = {
                n: bool(getattr(f, "overwrite", False)) for n, f in self.fields.items() if getattr(f, "is_blob", False)
            }
            self._blob_attribs = cached
        return cached

    def add_field(self, name: str, field: Field) -> None:
        if name in RESERVED:
            raise ConfigurationError(f"{self.model.__name__}.{name}: {name!r} is a reserved name")
        _sql.check_attribute(name, where=self.model.__name__)
        self.fields[name] = field
        self.__dict__.pop("_blob_attribs", None)
        if isinstance(field, BelongsTo):
            self.belongs_to.setdefault(name, field.owners)

    @property
    def database(self) -> Database:
        from . import _runtime

        return _runtime.current().database(self.partition)

    def require_source_id(self) -> int:
        if self.source_id is None:
            raise ConfigurationError(f"{self.model.__name__} is not registered: pass it to rhom.setup(models=...)")
        return self.source_id


def _int_option(model: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value))
        except ValueError:
            raise ConfigurationError(f"{model}.Meta.{key}: expected an integer, got {value!r}") from None
    return value


def _bool_option(model: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{model}.Meta.{key}: expected True or False, got {value!r}")
    return value


def _belongs_to(model: str, value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{model}.Meta.belongs_to: expected a dict attr -> owner name(s)")
    out = {}
    for attr, owners in value.items():
        _sql.check_attribute(attr, where=model)
        names = (owners,) if isinstance(owners, str) else tuple(owners)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigurationError(f"{model}.Meta.belongs_to[{attr!r}]: bad owner {owners!r}")
        out[attr] = names
    return out


def _indexes(model: str, key: str, value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{model}.Meta.{key}: expected a dict name -> column names")
    out = {}
    for index, cols in value.items():
        _sql.check_identifier(index, what=f"{model}.Meta.{key} name")
        names = (cols,) if isinstance(cols, str) else tuple(cols)
        if not names:
            raise ConfigurationError(f"{model}.Meta.{key}[{index!r}]: no columns")
        out[index] = tuple(_sql.check_identifier(c, what=f"{model} index column") for c in names)
    return out
