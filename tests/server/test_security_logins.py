"""Password doors (issue 24, items 1, 4 and 6): the admin login, limits on failed logins
per account and address, credentials in URLs, forwarded addresses, hook errors.

Each test runs a real rhom.server on 127.0.0.1 over HTTP, on both stores; the limits are
also checked across two servers sharing one Redis (their counters live in the store).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from rhom.server import Settings, create_app
from rhom.server.settings import DEV_API_TOKEN
from rhom.server.testing import run_in_thread

from .conftest import Serve

ADMIN_PASSWORD = "the-admin-password"


def right_password(login: str, password: str) -> bool:
    return password == "right"


def login(url: str, name: str, password: str, **options: object) -> httpx.Response:
    return httpx.post(url + "/rc/v1/app/login", json={"login": name, "password": password}, **options)  # type: ignore[arg-type]


def system_login(url: str, password: str, **options: object) -> httpx.Response:
    body = {"login": "rhoadmin", "password": password}
    return httpx.post(url + "/rc/v1/system/login", json=body, **options)  # type: ignore[arg-type]


# -- item 1: the admin login ---------------------------------------------------------------


@pytest.mark.parametrize("production", [False, True])
def test_an_empty_admin_password_never_gives_a_configured_token(
    serve: Serve, settings: Settings, production: bool
) -> None:
    configured = dataclasses.replace(
        settings, production=production, api_token="t" * 40, session_secret="s" * 40, admin_password=""
    )
    with serve([], settings=configured, authenticate=right_password) as url:
        reply = system_login(url, "")
        assert (reply.status_code, reply.text) == (401, "Unable to authenticate 'rhoadmin'"), (
            "a configured API token needs a configured admin password, production mode or not"
        )
        assert "t" * 40 not in reply.text


def test_an_empty_admin_password_works_with_the_development_token_only(serve: Serve, settings: Settings) -> None:
    with serve([], settings=dataclasses.replace(settings, api_token=DEV_API_TOKEN, admin_password="")) as url:
        reply = system_login(url, "")
        assert (reply.status_code, reply.text) == (200, DEV_API_TOKEN), "development: as RhoConnect (captures 0.1)"
    with serve([], settings=dataclasses.replace(settings, admin_password=ADMIN_PASSWORD)) as url:
        assert system_login(url, "").status_code == 401
        assert (system_login(url, ADMIN_PASSWORD).status_code, system_login(url, ADMIN_PASSWORD).text) == (
            200,
            settings.api_token,
        )


# -- item 4: limits on failed logins -----------------------------------------------------------


def test_app_login_locks_an_account_from_one_address_after_the_limit(
    serve: Serve, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limited = dataclasses.replace(settings, max_login_failures=5)
    with serve([], settings=limited, authenticate=right_password) as url:
        with caplog.at_level(logging.WARNING, logger="rhom.server"):
            for _ in range(5):
                assert login(url, "alice", "wrong-guess").status_code == 401
        refused = login(url, "alice", "right")
        assert refused.status_code == 429, "the right password too: its answer must not tell guesses apart"
        assert refused.text == "Too many failed logins: try again later"
        assert 1 <= int(refused.headers["retry-after"]) <= limited.login_failure_window
        assert login(url, "bob", "right").status_code == 200, "another account from the same address"
        failures = [r.getMessage() for r in caplog.records if "failed app login" in r.getMessage()]
        assert failures == ["rhom.server: failed app login for 'alice' from 127.0.0.1"] * 5
        assert "wrong-guess" not in caplog.text, "the password is never logged"


def test_a_right_password_clears_the_mistakes_of_its_address(serve: Serve, settings: Settings) -> None:
    with serve([], settings=dataclasses.replace(settings, max_login_failures=3), authenticate=right_password) as url:
        for _ in range(2):
            assert login(url, "alice", "typo").status_code == 401
        assert login(url, "alice", "right").status_code == 200
        for _ in range(2):
            assert login(url, "alice", "typo").status_code == 401
        assert login(url, "alice", "right").status_code == 200, "two typos, twice: never locked"


def test_one_address_trying_many_accounts_is_locked(serve: Serve, settings: Settings) -> None:
    limited = dataclasses.replace(settings, max_login_failures_per_address=6)
    with serve([], settings=limited, authenticate=right_password) as url:
        for n in range(6):
            assert login(url, f"user{n}", "password1").status_code == 401
        refused = login(url, "user99", "right")
        assert refused.status_code == 429 and "retry-after" in refused.headers


def test_one_account_guessed_from_many_addresses_is_locked(serve: Serve, settings: Settings) -> None:
    limited = dataclasses.replace(settings, max_login_failures_per_account=6, trusted_proxies="127.0.0.1")
    with serve([], settings=limited, authenticate=right_password) as url:
        for n in range(6):
            forwarded = {"X-Forwarded-For": f"203.0.113.{n}"}
            assert login(url, "alice", "guess", headers=forwarded).status_code == 401
        fresh = {"X-Forwarded-For": "198.51.100.7"}
        assert login(url, "alice", "right", headers=fresh).status_code == 429, "the account is under attack"
        assert login(url, "bob", "right", headers=fresh).status_code == 200


def test_system_login_takes_no_unlimited_guesses(
    serve: Serve, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limited = dataclasses.replace(settings, admin_password=ADMIN_PASSWORD, max_login_failures=10)
    with serve([], settings=limited) as url:
        with caplog.at_level(logging.WARNING, logger="rhom.server"):
            for n in range(10):
                assert system_login(url, f"guess-{n}").status_code == 401
        refused = system_login(url, ADMIN_PASSWORD)
        assert (refused.status_code, refused.text) == (429, "Too many failed logins: try again later")
        assert settings.api_token not in refused.text
        assert "retry-after" in refused.headers
        assert "failed admin login for 'rhoadmin' from 127.0.0.1" in caplog.text
        assert "guess-" not in caplog.text


@pytest.mark.parametrize("path", ["/rc/v1/app/login", "/application/clientlogin", "/rc/v1/system/login"])
def test_credentials_in_the_url_are_refused(serve: Serve, settings: Settings, path: str) -> None:
    with serve([], settings=dataclasses.replace(settings, admin_password=ADMIN_PASSWORD)) as url:
        password = "right" if "system" not in path else ADMIN_PASSWORD
        login_name = "alice" if "system" not in path else "rhoadmin"
        reply = httpx.post(url + path, params={"login": login_name, "password": password})
        assert reply.status_code == 400, "a password in the URL reaches access logs: refused, never checked"
        assert "not in the URL" in reply.text
        assert settings.api_token not in reply.text
        with httpx.Client(base_url=url, cookies=reply.cookies) as session:
            assert session.post("/rc/v1/clients").status_code == 401, "no session came of it"


@pytest.mark.redis
def test_limits_hold_across_processes_sharing_redis(redis_url: str) -> None:
    """Two server processes on one Redis count the same failures (round-robin guesses)."""
    settings = Settings.for_tests(store=redis_url, redis_prefix=f"t{secrets.token_hex(4)}:", max_login_failures=6)
    with ExitStack() as stack:
        urls = [stack.enter_context(run_in_thread(create_app([], settings=settings, authenticate=right_password)))]
        urls.append(stack.enter_context(run_in_thread(create_app([], settings=settings, authenticate=right_password))))
        for n in range(6):
            assert login(urls[n % 2], "alice", "guess").status_code == 401
        for url in urls:
            assert login(url, "alice", "right").status_code == 429, "each process sees all six failures"


# -- item 4: the console's lockout ----------------------------------------------------------------


@contextmanager
def console(serve: Serve, settings: Settings, **changes: object) -> Iterator[str]:
    chosen = dataclasses.replace(settings, console=True, **changes)  # type: ignore[arg-type]
    with serve([], settings=chosen) as url:
        yield url


def console_login(url: str, password: str, address: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return httpx.post(url + "/console/login", data={"password": password}, headers=headers)


def test_the_console_ignores_forwarded_addresses_from_untrusted_peers(serve: Serve, settings: Settings) -> None:
    with console(serve, settings) as url:
        for n in range(10):
            assert console_login(url, "guess", f"192.0.2.{n}").status_code == 401
        refused = console_login(url, "guess", "192.0.2.200")
        assert refused.status_code == 429, "a rotated X-Forwarded-For from 127.0.0.1 is not a new address"
        assert "retry-after" in refused.headers


def test_the_console_locks_one_address_not_everyone_behind_the_proxy(serve: Serve, settings: Settings) -> None:
    with console(serve, settings, trusted_proxies="127.0.0.0/8") as url:
        for _ in range(10):
            assert console_login(url, "guess", "192.0.2.1").status_code == 401
        assert console_login(url, "test-api-token", "192.0.2.1").status_code == 429
        admitted = console_login(url, "test-api-token", "192.0.2.2")
        assert admitted.status_code == 303, "the right token from another address behind the same proxy"
        assert "rhom_console=" in admitted.headers["set-cookie"]


def test_the_console_and_system_login_share_the_admin_counters(serve: Serve, settings: Settings) -> None:
    with console(serve, settings, admin_password=ADMIN_PASSWORD, max_login_failures=6) as url:
        for _ in range(3):
            assert console_login(url, "guess").status_code == 401
            assert system_login(url, "guess").status_code == 401
        assert system_login(url, ADMIN_PASSWORD).status_code == 429
        assert console_login(url, ADMIN_PASSWORD).status_code == 429


def test_a_console_password_in_the_url_is_refused(serve: Serve, settings: Settings) -> None:
    with console(serve, settings) as url:
        reply = httpx.post(url + "/console/login", params={"password": "test-api-token"}, data={"password": "x"})
        assert reply.status_code == 400 and "rhom_console=" not in reply.headers.get("set-cookie", "")


# -- item 6: what an authenticate hook's error shows --------------------------------------------


def test_an_authenticate_error_stays_in_the_server_log(
    serve: Serve, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def authenticate(login: str, password: str) -> bool:
        raise ConnectionError("could not connect to postgresql://app:S3cr3t@db.internal/users")

    with serve([], settings=settings, authenticate=authenticate) as url:
        with caplog.at_level(logging.ERROR, logger="rhom.server"):
            reply = login(url, "alice", "x")
        assert (reply.status_code, reply.text) == (500, "Internal server error")
        assert "S3cr3t" not in reply.text
        assert "S3cr3t" in caplog.text and "authenticate('alice') raised" in caplog.text, "logged server-side"
