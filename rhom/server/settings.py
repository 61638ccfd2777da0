"""Server configuration, read from the environment like Starlette's ``Config``.

Every setting has an environment variable (``RHOM_SERVER_<NAME>`` in upper case) and a
default fit for development. :meth:`Settings.check` refuses a production start with the
development secrets, short ones, or one secret used for two purposes: a signed session
cookie is only as good as its secret. docs/server.md "Security" lists what each limit
guards against.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from rhom.exceptions import ConfigurationError

__all__ = ["DEV_API_TOKEN", "DEV_SESSION_SECRET", "MIN_PASSWORD_LENGTH", "MIN_SECRET_LENGTH", "Settings"]

DEV_SESSION_SECRET = "rhom-development-session-secret"
DEV_API_TOKEN = "rhom-development-api-token"

_ENV_PREFIX = "RHOM_SERVER_"

#: The shortest session secret and API token production mode accepts (256 bits of hex).
MIN_SECRET_LENGTH = 32
#: The shortest admin password production mode accepts, when one is set.
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class Settings:
    """How one rhom.server process runs.

    :param store: where server state lives: ``sqlite:///path/to/file.db`` (the default
        embedded store), ``sqlite://`` (in memory, one process only) or
        ``redis://host:port/db`` (shared by several server processes).
    :param session_secret: key that signs the ``rhoconnect_session`` cookie.
    :param api_token: the admin API token (``X-RhoConnect-API-TOKEN``).
    :param admin_password: password of the ``rhoadmin`` user for ``/rc/v1/system/login``
        and the console. Empty: ``system/login`` answers the API token only while that is
        the development token, and refuses every login otherwise.
    :param production: refuse development, short or shared secrets and an accept-everyone
        login.
    :param cookie_expire: session lifetime in seconds (one year, as RhoConnect): a session
        cookie older than that is refused, whatever its ``expires`` attribute says.
    :param trusted_proxies: comma-separated addresses or networks (``10.0.0.0/8``) of the
        reverse proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers are
        believed; empty (the default): none, the connecting address is the client's.
    :param login_failure_window: seconds over which failed logins are counted.
    :param max_login_failures: failed logins of one account from one address within the
        window, after which that address gets 429 for that account (``0``: no limit).
    :param max_login_failures_per_address: failed logins from one address, whatever the
        accounts, within the window (``0``: no limit).
    :param max_login_failures_per_account: failed logins of one account, whatever the
        addresses, within the window (``0``: no limit).
    :param live_streams_per_user: live channel streams one user may keep open on one
        server process (``0``: no limit).
    :param live_streams_per_client: live channel streams one client id may keep open on
        one server process (``0``: no limit).
    :param blob_quota: bytes of uploaded blob files one partition (a user, or the app
        partition) may keep in the server store (``0``: no limit).
    :param max_header_size: largest request head (request line and headers) ``python -m
        rhom.server`` accepts, in bytes; a larger one is answered 431.
    :param header_timeout: seconds a connection has to send a request's head, counted
        from its first byte (or from the connection, for its first request).
    :param body_timeout: seconds a request body may go without sending a byte.
    :param max_connections: open connections ``python -m rhom.server`` serves at once
        per process; above it new requests get 503. ``None`` (the default, or ``auto``):
        the process's open-file limit less 10% for the store, logs and files.
    :param max_body_size: largest request body accepted, in bytes.
    :param max_object_id_length: longest object id a push may name, in characters; a
        longer one is answered 400 naming the limit (``0``: no limit).
    :param max_attribute_name_length: longest attribute name a push may send, in
        characters; a longer one is answered 400 naming the limit (``0``: no limit).
    :param max_error_entries: errors of one client and source kept for its next page
        with the attributes pushed; further ones keep their message only (``0``: no limit).
    :param default_page_size: objects per page when a query has no ``p_size``.
    :param max_page_size: the most objects one page (a query's or a search's) holds,
        whatever ``p_size`` a client asks for: a page is built in the server's memory.
        A client asking for more gets pages of this size and pages on. At least 2,000,
        the ``p_size`` of Rhodes' client.
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
    trusted_proxies: str = ""
    login_failure_window: int = 300
    max_login_failures: int = 10
    max_login_failures_per_address: int = 100
    max_login_failures_per_account: int = 100
    live_streams_per_user: int = 20
    live_streams_per_client: int = 3
    blob_quota: int = 1024 * 1024 * 1024
    max_header_size: int = 16 * 1024
    header_timeout: int = 15
    body_timeout: int = 60
    max_connections: int | None = None
    max_body_size: int = 50 * 1024 * 1024
    max_object_id_length: int = 1024
    max_attribute_name_length: int = 256
    max_error_entries: int = 1000
    default_page_size: int = 500
    max_page_size: int = 2000
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

        :raises ConfigurationError: naming the variable: development, short or shared
            secrets in production, bad numbers, a ``trusted_proxies`` entry that is no
            address.
        """
        if self.production:
            self._check_secrets()
        if not self.session_secret:
            raise ConfigurationError("rhom.server: session_secret must not be empty")
        if self.max_body_size <= 0 or self.default_page_size <= 0 or self.cookie_expire <= 0:
            raise ConfigurationError("rhom.server: max_body_size, default_page_size and cookie_expire must be > 0")
        if not 0 < self.default_page_size <= self.max_page_size:
            raise ConfigurationError(
                f"rhom.server: {_ENV_PREFIX}MAX_PAGE_SIZE ({self.max_page_size}) must be at least "
                f"{_ENV_PREFIX}DEFAULT_PAGE_SIZE ({self.default_page_size})"
            )
        if self.stats_resolution <= 0 or self.stats_record_size <= 0:
            raise ConfigurationError("rhom.server: stats_resolution and stats_record_size must be > 0")
        if self.log_retention < 0 or self.log_compact_interval < 0:
            raise ConfigurationError("rhom.server: log_retention and log_compact_interval must be >= 0")
        positive = ("login_failure_window", "max_header_size", "header_timeout", "body_timeout")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"rhom.server: {_ENV_PREFIX}{name.upper()} must be > 0")
        limits = (
            "max_login_failures",
            "max_login_failures_per_address",
            "max_login_failures_per_account",
            "live_streams_per_user",
            "live_streams_per_client",
            "blob_quota",
            "max_object_id_length",
            "max_attribute_name_length",
            "max_error_entries",
        )
        for name in limits:
            if getattr(self, name) < 0:
                raise ConfigurationError(f"rhom.server: {_ENV_PREFIX}{name.upper()} must be >= 0 (0: no limit)")
        if self.max_connections is not None and self.max_connections < 0:
            raise ConfigurationError(f"rhom.server: {_ENV_PREFIX}MAX_CONNECTIONS must be >= 0 (0: no limit)")
        self.proxy_networks()

    def _check_secrets(self) -> None:
        """What production mode adds: secrets that are set, long, and each used once."""
        secrets = (
            ("SESSION_SECRET", self.session_secret, DEV_SESSION_SECRET),
            ("API_TOKEN", self.api_token, DEV_API_TOKEN),
        )
        for name, value, development in secrets:
            if value in ("", development):
                raise ConfigurationError(f"rhom.server: production mode needs {_ENV_PREFIX}{name} set to a secret")
            if len(value) < MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    f"rhom.server: production mode needs {_ENV_PREFIX}{name} of at least {MIN_SECRET_LENGTH} "
                    f"characters (got {len(value)}): python -c 'import secrets; print(secrets.token_hex(32))'"
                )
        if self.session_secret == self.api_token:
            raise ConfigurationError(
                f"rhom.server: production mode needs {_ENV_PREFIX}SESSION_SECRET and {_ENV_PREFIX}API_TOKEN "
                "to differ: whoever holds the API token could sign sessions"
            )
        password = self.admin_password
        if password and len(password) < MIN_PASSWORD_LENGTH:
            raise ConfigurationError(
                f"rhom.server: production mode needs {_ENV_PREFIX}ADMIN_PASSWORD of at least "
                f"{MIN_PASSWORD_LENGTH} characters, or none (got {len(password)})"
            )
        if password and password in (self.session_secret, self.api_token):
            raise ConfigurationError(
                f"rhom.server: production mode needs {_ENV_PREFIX}ADMIN_PASSWORD to differ from "
                f"{_ENV_PREFIX}SESSION_SECRET and {_ENV_PREFIX}API_TOKEN"
            )

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The ``trusted_proxies`` setting, parsed.

        :raises ConfigurationError: an entry that is neither an address nor a network.
        """
        networks = []
        for entry in (part.strip() for part in self.trusted_proxies.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"rhom.server: {_ENV_PREFIX}TRUSTED_PROXIES: {entry!r} is neither an address nor a network"
                ) from None
        return networks


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
