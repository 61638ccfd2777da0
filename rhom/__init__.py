"""rhom: an offline-first data framework -- the Rhom ORM on peewee, with a changelog for sync.

The public API; see docs/ for guides.
"""

from __future__ import annotations

from peewee import DoesNotExist, IntegrityError

from . import blobs, changelog, signals
from ._ids import generate_id
from ._setup import setup, shutdown
from .bag import PropertyBagModel
from .changelog import ChangeLogEntry, no_changelog
from .database import Database
from .exceptions import (
    AuthError,
    BlobError,
    ConfigurationError,
    DatabaseImportError,
    NetworkError,
    ProtocolError,
    RecordNotFound,
    RhomError,
    ServerError,
    SQLError,
    SyncError,
    UnknownAttributeError,
    ValidationError,
)
from .fields import (
    BelongsTo,
    BlobField,
    CharField,
    DateField,
    FloatField,
    IntegerField,
    TextField,
    TimeField,
)
from .maintenance import (
    any_model_changed,
    client_id,
    database_client_reset,
    database_export,
    database_full_reset,
    database_full_reset_and_logout,
    database_fullclient_reset_and_logout,
    database_import,
    database_local_reset,
    have_local_changes,
)
from .model import Model
from .query import ALL, COUNT, FIRST, C, Group
from .sources import RhomSource, get_database
from .sync import ErrorCode, ObjRef, RhoError, SyncClient, SyncNotification, SyncResult
from .sync.client import search

__version__ = "0.1.0.dev0"

__all__ = [
    "ALL",
    "COUNT",
    "FIRST",
    "AuthError",
    "BelongsTo",
    "BlobError",
    "BlobField",
    "C",
    "ChangeLogEntry",
    "CharField",
    "ConfigurationError",
    "Database",
    "DatabaseImportError",
    "DateField",
    "DoesNotExist",
    "ErrorCode",
    "FloatField",
    "Group",
    "IntegerField",
    "IntegrityError",
    "Model",
    "NetworkError",
    "ObjRef",
    "PropertyBagModel",
    "ProtocolError",
    "RecordNotFound",
    "RhoError",
    "RhomError",
    "RhomSource",
    "SQLError",
    "ServerError",
    "SyncClient",
    "SyncError",
    "SyncNotification",
    "SyncResult",
    "TextField",
    "TimeField",
    "UnknownAttributeError",
    "ValidationError",
    "any_model_changed",
    "blobs",
    "changelog",
    "client_id",
    "database_client_reset",
    "database_export",
    "database_full_reset",
    "database_full_reset_and_logout",
    "database_fullclient_reset_and_logout",
    "database_import",
    "database_local_reset",
    "generate_id",
    "get_database",
    "have_local_changes",
    "no_changelog",
    "search",
    "setup",
    "shutdown",
    "signals",
]
