"""A private PostgreSQL server for tests, as ``rhom.server.testing.redis_server`` is for Redis.

::

    with postgres_server() as url:      # postgresql+psycopg://rhom@/postgres?host=/tmp/...
        engine = sqlalchemy.create_engine(url)

The cluster is made by ``initdb`` in a temporary directory and served by ``postgres``
on a Unix socket in that directory only (no TCP port, so no port to collide on), with
durability switched off for speed; stopping removes it all.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["find_postgres", "postgres_server"]


def find_postgres() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: ``$RHOM_PG_BINDIR``, else the
    ``PATH``, else the newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout,
    which keeps them off the ``PATH``); ``None`` when there is none."""
    candidates: list[Path] = []
    if os.environ.get("RHOM_PG_BINDIR"):
        candidates.append(Path(os.environ["RHOM_PG_BINDIR"]))
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)], reverse=True)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def _as_user() -> dict[str, Any]:
    """``initdb`` and ``postgres`` refuse to run as root: as root, run them as ``postgres``."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and no 'postgres' user to run PostgreSQL as") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@contextlib.contextmanager
def postgres_server(user: str = "rhom") -> Iterator[str]:
    """Start a private PostgreSQL cluster; yield its SQLAlchemy URL (database ``postgres``,
    superuser ``user``, no password, psycopg 3 over the socket). Stop it on exit.

    :raises FileNotFoundError: no PostgreSQL binaries (scripts/ensure-postgresql.sh installs them).
    """
    bindir = find_postgres()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL's initdb and postgres not found: scripts/ensure-postgresql.sh installs them"
        )
    run_as = _as_user()
    with tempfile.TemporaryDirectory(prefix="rhom-pg-") as workdir:
        if run_as:
            os.chown(workdir, run_as["user"], run_as["group"])
        data = Path(workdir) / "data"
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C"]
        subprocess.run([*initdb, "--no-sync"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **run_as)
        settings = {
            "listen_addresses": "",  # the socket only
            "unix_socket_directories": workdir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
        }
        args = [str(bindir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        log = open(Path(workdir) / "postgres.log", "wb")  # noqa: SIM115 -- closed below
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **run_as)
        try:
            _wait_ready(Path(workdir), process, user)
            yield f"postgresql+psycopg://{user}@/postgres?host={workdir}"
        finally:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: does not wait for clients
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _wait_ready(workdir: Path, process: subprocess.Popen[bytes], user: str) -> None:
    import psycopg

    for _ in range(3000):  # up to 30 s, then fail instead of hanging
        if process.poll() is not None:
            tail = (workdir / "postgres.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{tail}")
        if (workdir / ".s.PGSQL.5432").exists():
            try:
                psycopg.connect(host=str(workdir), dbname="postgres", user=user, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                pass  # still starting up
        time.sleep(0.01)
    raise RuntimeError("postgres did not start within 30 s")
