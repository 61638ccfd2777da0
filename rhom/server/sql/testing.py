"""Private PostgreSQL and MariaDB servers for tests, as ``rhom.server.testing.redis_server``
is for Redis.

::

    with postgres_server() as url:      # postgresql+psycopg://rhom@/postgres?host=/tmp/...
        engine = sqlalchemy.create_engine(url)
    with mariadb_server() as url:       # mariadb+pymysql://root@localhost/rhom?unix_socket=/tmp/...
        engine = sqlalchemy.create_engine(url)

Each server's data lives in a temporary directory (``initdb``, ``mariadb-install-db``)
and is served on a Unix socket in that directory only (no TCP port, so no port to
collide on), with durability switched off for speed; stopping removes it all. Run as
root, the servers run as the unprivileged user their Debian package made (``postgres``,
``mysql``): neither server agrees to run as root.
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

__all__ = ["find_mariadb", "find_postgres", "mariadb_server", "postgres_server"]


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


def _as_user(name: str = "postgres") -> dict[str, Any]:
    """``initdb``, ``postgres`` and ``mariadbd`` refuse to run as root: as root, run them
    as the user their Debian package made (``postgres``, ``mysql``)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"running as root and no {name!r} user to run the database server as") from None
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


def find_mariadb() -> tuple[Path, Path] | None:
    """``mariadb-install-db`` and ``mariadbd``: from ``$RHOM_MARIADB_BINDIR``, else the
    ``PATH``, else ``/usr/bin`` and ``/usr/sbin`` (Debian's layout, which keeps
    ``mariadbd`` off a user's ``PATH``); ``None`` when either is missing."""
    found: list[Path] = []
    for name in ("mariadb-install-db", "mariadbd"):
        places = [os.environ.get("RHOM_MARIADB_BINDIR", ""), os.environ.get("PATH", ""), "/usr/bin:/usr/sbin"]
        where = shutil.which(name, path=os.pathsep.join(p for p in places if p))
        if where is None:
            return None
        found.append(Path(where))
    return found[0], found[1]


@contextlib.contextmanager
def mariadb_server(database: str = "rhom") -> Iterator[str]:
    """Start a private MariaDB server; yield its SQLAlchemy URL (database ``database``,
    user ``root`` without a password, PyMySQL over the socket). Stop it on exit.

    :raises FileNotFoundError: no MariaDB binaries (scripts/ensure-mariadb.sh installs them).
    """
    binaries = find_mariadb()
    if binaries is None:
        raise FileNotFoundError(
            "MariaDB's mariadb-install-db and mariadbd not found: scripts/ensure-mariadb.sh installs them"
        )
    install_db, mariadbd = binaries
    run_as = _as_user("mysql")
    with tempfile.TemporaryDirectory(prefix="rhom-mariadb-") as workdir:
        if run_as:
            os.chown(workdir, run_as["user"], run_as["group"])
        data, socket_path = Path(workdir) / "data", Path(workdir) / "mariadb.sock"
        # --no-defaults: the machine's my.cnf (a system server's port, paths) plays no part
        install = [str(install_db), "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                   "--skip-test-db", "--skip-name-resolve"]  # fmt: skip
        subprocess.run(install, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **run_as)
        args = [
            str(mariadbd), "--no-defaults", f"--datadir={data}", f"--socket={socket_path}", "--skip-networking",
            f"--pid-file={workdir}/mariadb.pid", f"--log-error={workdir}/mariadb.log", "--skip-log-bin",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-buffer-pool-size=64M",
            "--max-connections=200",
        ]  # fmt: skip
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run_as)
        try:
            _wait_mariadb(Path(workdir), socket_path, process)
            import pymysql

            admin = pymysql.connect(unix_socket=str(socket_path), user="root")
            try:
                with admin.cursor() as cursor:
                    cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            finally:
                admin.close()
            yield f"mariadb+pymysql://root@localhost/{database}?unix_socket={socket_path}&charset=utf8mb4"
        finally:
            process.terminate()  # a clean, quick shutdown
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_mariadb(workdir: Path, socket_path: Path, process: subprocess.Popen[bytes]) -> None:
    import pymysql

    for _ in range(3000):  # up to 30 s, then fail instead of hanging
        if process.poll() is not None:
            log = workdir / "mariadb.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"mariadbd exited with {process.returncode}:\n{tail}")
        if socket_path.exists():
            try:
                pymysql.connect(unix_socket=str(socket_path), user="root", connect_timeout=2).close()
                return
            except pymysql.err.OperationalError:
                pass  # still starting up
        time.sleep(0.01)
    raise RuntimeError("mariadbd did not start within 30 s")
