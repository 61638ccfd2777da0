"""Server configuration, read from the environment like Starlette's ``Config``.

Every setting has an environment variable (``RHOM_SERVER_<NAME>`` in upper case) and a
default fit for development. :meth:`Settings.check` refuses a production start with the
development secrets: a signed session cookie is only as good as its secret.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from rhom.exceptions import ConfigurationError

__all__ = ["DEV_API_TOKEN", "DEV_SESSION_SECRET", "Settings"]

DEV_SESSION_SECRET = "rhom-development-session-secret"
DEV_API_TOKEN = "rhom-development-api-token"

_ENV_PREFIX = "RHOM_SERVER_"


@dataclass(frozen=True)
class Settings:
    """How one rhom.server process runs.

    :param store: where server state lives: ``sqlite:///path/to/file.db`` (the default
        embedded store), ``sqlite://`` (in memory, one process only) or
        ``redis://host:port/db`` (shared by several server processes).
    :param session_secret: key that signs the ``rhoconnect_session`` cookie.
    :param api_token: the admin API token (``X-RhoConnect-API-TOKEN``).
    :param admin_password: password of the ``rhoadmin`` user for ``/rc/v1/system/login``.
    :param production: refuse development secrets and an accept-everyone login.
    :param cookie_expire: session cookie lifetime in seconds (one year, as RhoConnect).
    :param max_body_size: largest request body accepted, in bytes.
    :param default_page_size: objects per page when a query has no ``p_size``.
    :param bulk_sync_poll_interval: seconds a bulk data file stays valid.
    :param redis_prefix: prefix of every Redis key, so that one Redis can host several apps.
    :param worker_threads: threads that run adapter hooks and storage work at once.
    :param cpu_slots: how many of those threads run the server's own code at once
        (``0``: no limit); a thread waiting for an adapter, a push sender, a lock or
        Redis's answer does not count (rhom/server/_slots.py). ``None`` (the default, or
        ``auto`` in the environment): what the store suggests, 1 for SQLite, whose work
        is this process's own CPU, and 2 for Redis, whose requests also wait for answers.
    :param log_retention: seconds the change log keeps replaced versions and deletions
        (30 days). A client that has not synced for longer starts over (docs/server.md).
    :param log_compact_interval: least seconds between two compactions of one log.
    :param stats: keep stats series (``GET /rc/v1/system/stats``, the console's charts);
        off by default, as in RhoConnect. The console switches them on.
    :param stats_resolution: seconds per stats bucket.
    :param stats_record_size: buckets kept per metric (a day of minutes by default).
    :param console: serve the web console at ``/console`` (docs/console.md).
    :param host: address ``python -m rhom.server`` listens on.
    :param port: port ``python -m rhom.server`` listens on.
    """

    store: str = "sqlite:///rhom-server.db"
    session_secret: str = DEV_SESSION_SECRET
    api_token: str = DEV_API_TOKEN
    admin_password: str = ""
    production: bool = False
    cookie_expire: int = 31_536_000
    max_body_size: int = 50 * 1024 * 1024
    default_page_size: int = 500
    bulk_sync_poll_interval: int = 3600
    redis_prefix: str = "rhom:"
    worker_threads: int = 8
    cpu_slots: int | None = None
    log_retention: int = 30 * 86400
    log_compact_interval: int = 60
    stats: bool = False
    stats_resolution: int = 60
    stats_record_size: int = 1440
    console: bool = False
    host: str = "127.0.0.1"
    port: int = 9292

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``RHOM_SERVER_*`` variables (``RHOM_SERVER_STORE``, ...).

        :raises ConfigurationError: a variable that does not parse.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(_ENV_PREFIX + field.name.upper())
            if raw is None:
                continue
            values[field.name] = _parse(field.name, field.type, raw)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def for_tests(cls, **changes: object) -> Settings:
        """Settings for tests: an in-memory store and a fixed API token."""
        base = cls(store="sqlite://", api_token="test-api-token", session_secret="test-secret")
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    @property
    def stats_on(self) -> bool:
        """Whether stats series are kept: the ``stats`` setting, or the console needs them."""
        return self.stats or self.console

    def check(self) -> None:
        """Refuse settings that are unsafe or meaningless.

        :raises ConfigurationError: development secrets in production, bad numbers.
        """
        if self.production and self.session_secret in ("", DEV_SESSION_SECRET):
            raise ConfigurationError("rhom.server: production mode needs RHOM_SERVER_SESSION_SECRET set to a secret")
        if self.production and self.api_token in ("", DEV_API_TOKEN):
            raise ConfigurationError("rhom.server: production mode needs RHOM_SERVER_API_TOKEN set to a secret")
        if not self.session_secret:
            raise ConfigurationError("rhom.server: session_secret must not be empty")
        if self.max_body_size <= 0 or self.default_page_size <= 0 or self.cookie_expire <= 0:
            raise ConfigurationError("rhom.server: max_body_size, default_page_size and cookie_expire must be > 0")
        if self.stats_resolution <= 0 or self.stats_record_size <= 0:
            raise ConfigurationError("rhom.server: stats_resolution and stats_record_size must be > 0")
        if self.log_retention < 0 or self.log_compact_interval < 0:
            raise ConfigurationError("rhom.server: log_retention and log_compact_interval must be >= 0")


def _parse(name: str, kind: object, raw: str) -> object:
    if kind in (bool, "bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{_ENV_PREFIX}{name.upper()}: expected a boolean, got {raw!r}")
    if kind in (int | None, "int | None") and raw.strip().lower() in ("", "auto"):
        return None
    if kind in (int, "int", int | None, "int | None"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{_ENV_PREFIX}{name.upper()}: expected an integer, got {raw!r}") from None
    return raw
