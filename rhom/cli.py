"""The ``rhom`` command: serve, sync, inspect and maintain a rhom data folder.

Exit codes: 0 success; 1 the operation finished with errors (a source failed, a server
error); 2 bad usage (unknown option, model module or folder); 3 login refused or session
expired; 4 the server could not be reached. User errors print one line, never a
traceback.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, _inspect, _registry
from .exceptions import RhomError

# Not a terminal (a pipe, a log): wide enough that tables are not cut.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

EXIT_ERRORS, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK = 1, 2, 3, 4
DATA_DIR = click.Path(path_type=Path, file_okay=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    # one line, even for a reply body (a proxy's HTML page) and in a pipe (soft_wrap);
    # escape: a path or a server message may hold [brackets]
    line = " ".join(message.split())
    line = line if len(line) <= 300 else line[:297] + "..."
    err_console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    sys.exit(code)


def _import(module_name: str, what: str) -> Any:
    """Import a user's module (from the current folder too); a failure is one error line."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        fail(f"cannot import {what} module {module_name!r}: {exc}")
    except Exception as exc:  # the module itself is broken: say where, briefly
        fail(f"{what} module {module_name!r} failed to import: {type(exc).__name__}: {exc}")


def load_models(module_name: str) -> list[Any]:
    """Import *module_name* (from the current folder too) and return the rhom models it declares."""
    module = _import(module_name, "model")
    prefix = module.__name__
    models = [m for m in _registry.all_models() if m.__module__ == prefix or m.__module__.startswith(prefix + ".")]
    if not models:
        fail(f"model module {module_name!r} declares no rhom models")
    return models


def data_folder(path: Path) -> Path:
    try:
        _inspect.partition_files(path)
    except RhomError as exc:
        fail(str(exc))
    return path


def check_app(app: str) -> None:
    """Import ``module:attribute`` here, so that a bad APP is one line, not uvicorn's traceback."""
    module_name, _, attribute = app.partition(":")
    module = _import(module_name, "app")
    if not hasattr(module, attribute):
        fail(f"app module {module_name!r} has no attribute {attribute!r}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rhom")
def main() -> None:
    """rhom: offline-first data with RhoConnect sync."""


@main.command()
@click.argument("app")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 9292).")
@click.option("--store", default=None, help="Server store: sqlite:///file.db (default) or redis://host:port/db.")
@click.option("--factory", is_flag=True, help="APP names a function that returns the app.")
@click.option("--workers", type=int, default=1, show_default=True)
@click.option("--console", is_flag=True, help="Serve the web console at /console (docs/console.md).")
def serve(
    app: str, host: str | None, port: int | None, store: str | None, factory: bool, workers: int, console: bool
) -> None:
    """Run a rhom.server app given as module:attribute.

    Example: rhom serve examples.store.server:app --port 9292
    """
    if ":" not in app:
        fail(f"APP must look like module:attribute, got {app!r}")
    if store:
        os.environ["RHOM_SERVER_STORE"] = store
    if console:  # read by Settings.from_env, in every worker process
        os.environ["RHOM_SERVER_CONSOLE"] = "1"
    try:
        from .server.__main__ import main as serve_main
    except ImportError as exc:  # rhom.server's own message names the extra to install
        fail(
            str(exc)
            if "rhom[server]" in str(exc)
            else f"rhom.server needs the server extra (pip install 'rhom[server]'): {exc}"
        )
    if workers == 1:  # uvicorn imports the app in this process anyway (more workers: in each child)
        check_app(app)
    argv = [app, "--workers", str(workers)]
    argv += ["--host", host] if host else []
    argv += ["--port", str(port)] if port else []
    argv += ["--factory"] if factory else []
    try:
        code = serve_main(argv)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start (port in use): 3 is ours, a refused login
        code = EXIT_ERRORS if exc.code else 0
    sys.exit(code)


class _SyncDisplay:
    """Live per-source progress from the sync notifications."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.errors: dict[str, list[str]] = {}
        self.error_codes: set[int] = set()

    def __call__(self, sender: Any, notification: Any) -> None:
        n = notification
        name = n.source_name
        if name is None:
            return
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=None)
        if n.status == "in_progress":
            self.progress.update(task, total=n.total_count or None, completed=n.cumulative_count or 0)
        elif n.status == "error":
            if n.server_errors:  # a page's errors come again on the source's final notification
                listed = self.errors.setdefault(name, [])
                listed += [kind for kind in sorted(n.server_errors) if kind not in listed]
            else:
                self.error_codes.add(int(n.error_code))
                self.errors.setdefault(name, []).append(f"error {int(n.error_code)}: {n.error_message}")
        elif n.status in ("ok", "schema_changed"):
            total = n.total_count or n.cumulative_count or 0
            self.progress.update(task, total=total or 1, completed=total or 1, description=f"{name} ✓")


@main.command()
@click.option("--server", "server_url", required=True, help="Sync server URL.")
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
@click.option("--models", "models_module", required=True, help="Module declaring the app's models.")
@click.option("--source", "sources", multiple=True, help="Sync only this source (repeatable).")
@click.option("--login", "user", default=None, help="Log in as this user first.")
@click.option("--password", envvar="RHOM_PASSWORD", default=None, help="Password (or $RHOM_PASSWORD; asked if needed).")
@click.option("--page-size", type=int, default=2000, show_default=True)
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (test servers only).")
def sync(server_url: str, data_dir: Path, models_module: str, sources: tuple[str, ...], user: str | None,
         password: str | None, page_size: int, insecure: bool) -> None:  # fmt: skip
    """Sync a data folder with a server, showing live progress and a summary."""
    import rhom
    from rhom.sync import notify

    models = load_models(models_module)
    rhom.setup(data_dir, models=models)
    try:
        client = rhom.SyncClient(server_url, threaded_mode=False, poll_interval=0, page_size=page_size,
                                 ssl_verify_peer=not insecure)  # fmt: skip
    except RhomError as exc:  # a malformed --server URL
        rhom.shutdown()
        fail(str(exc))
    try:
        if user is not None:
            if password is None and not sys.stdin.isatty():
                fail(f"no password for {user}: pass --password or set RHOM_PASSWORD")
            if password is None:
                # getpass, not click.prompt: an empty answer is a password too (the server
                # decides), never a reason to ask again
                import getpass

                question = f"password for {user} at {server_url} (Enter for none; the demo server accepts any): "
                try:
                    password = getpass.getpass(question)
                except (EOFError, KeyboardInterrupt):
                    click.echo(err=True)
                    raise click.Abort() from None
            login = client.login(user, password or "")
            if login.error_code:
                code = {1: EXIT_NETWORK, 9: EXIT_AUTH}.get(int(login.error_code), EXIT_ERRORS)  # 2: a 5xx, say
                fail(f"login failed (error {int(login.error_code)}): {login.error_message}", code)
        elif not client.is_logged_in():
            fail("not logged in: pass --login USER", EXIT_AUTH)
        known = {m._rhom.source_name for m in models if m._rhom.is_sync}
        for name in sources:
            if name not in known:
                fail(f"unknown source {name!r}; synced models: {', '.join(sorted(known)) or 'none'}")
        started = time.monotonic()
        columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            display = _SyncDisplay(progress)
            with notify.source_notification.connected_to(display):
                results = [client.do_sync_source(name) for name in sources] if sources else [client.do_sync()]
        final = results[-1]
        if not (final.error_code and not final.source_name):  # a run that never started has no summary
            chosen = [m for m in models if m._rhom.is_sync and (not sources or m._rhom.source_name in sources)]
            _summary(client, chosen, display, time.monotonic() - started)
        if final.error_code and not final.source_name:
            code = {1: EXIT_NETWORK, 7: EXIT_AUTH, 9: EXIT_AUTH}.get(int(final.error_code), EXIT_ERRORS)
            fail(f"sync failed (error {int(final.error_code)}): {final.error_message}", code)
        if 1 in display.error_codes:  # the run "completes" when every source failed to connect
            fail(f"could not reach {server_url}", EXIT_NETWORK)
        if display.errors or any(r.status == "error" for r in results):
            sys.exit(EXIT_ERRORS)
    finally:
        client.close()
        rhom.shutdown()


def _summary(client: Any, models: list[Any], display: _SyncDisplay, seconds: float) -> None:
    table = Table(title=f"sync summary ({seconds:.1f} s)")
    for column in ("source", "inserted", "updated", "deleted", "errors", "time"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for model in models:
        name = model._rhom.source_name
        stats = client.last_sync_stats(name)
        errors = display.errors.get(name, [])
        table.add_row(name, str(stats.inserted), str(stats.updated), str(stats.deleted),
                      escape(", ".join(errors)) if errors else "0", f"{stats.seconds:.2f} s")  # fmt: skip
    console.print(table)


@main.command()
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
def status(data_dir: Path) -> None:
    """Per source: last sync, token, objects, pending changes, unresolved server errors."""
    data_folder(data_dir)
    try:
        info, sources = _inspect.client(data_dir), _inspect.sources(data_dir)
    except sqlite3.Error as exc:
        fail(f"cannot read {data_dir}: {exc}")
    console.print(f"client id: {info.get('client_id') or '-'}   logged in: {'yes' if info.get('logged_in') else 'no'}"
                  + ("   reset requested" if info.get("reset") else ""))  # fmt: skip
    table = Table()
    for column in ("source", "partition", "sync", "last sync", "token", "objects", "pending", "awaiting", "errors"):
        table.add_column(column)
    for s in sources:
        when = "never" if s.last_updated is None else s.last_updated.strftime("%Y-%m-%d %H:%M:%S")
        if s.last_updated is not None and not s.last_sync_success:
            when += " (failed)"
        pending = ", ".join(f"{n} {k}" for k, n in sorted(s.pending.items())) or "-"
        errors = ", ".join(f"{k} ({len(v) if k.endswith('-error') and k not in ('query-error', 'search-error') else 1})"
                           for k, v in s.server_errors.items()) or "-"  # fmt: skip
        table.add_row(s.name, s.partition, s.sync_type, when, str(s.token), str(s.objects), pending,
                      str(s.awaiting or "-"), errors)  # fmt: skip
    console.print(table)


@main.command()
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
@click.option("--source", default=None, help="Only this source.")
def outbox(data_dir: Path, source: str | None) -> None:
    """List the changes waiting to be pushed (and creates awaiting confirmation)."""
    data_folder(data_dir)
    try:
        if source is not None and source not in {s.name for s in _inspect.sources(data_dir)}:
            fail(f"unknown source {source!r} in {data_dir}")
        rows = [r for r in _inspect.outbox(data_dir) if source is None or r["source"] == source]
    except sqlite3.Error as exc:
        fail(f"cannot read {data_dir}: {exc}")
    if not rows:
        console.print("outbox is empty")
        return
    table = Table()
    for column in ("source", "object", "change", "attribute", "value", "state"):
        table.add_column(column)
    for r in rows:
        value = "" if r["value"] is None else str(r["value"])
        table.add_row(r["source"], str(r["object"] or ""), r["update_type"], escape(str(r["attrib"] or "")),
                      escape(value if len(value) <= 40 else value[:37] + "..."), r["state"])  # fmt: skip
    console.print(table)


@main.command()
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
@click.option("--models", "models_module", required=True, help="Module declaring the app's models.")
@click.option(
    "--kind",
    type=click.Choice(["full", "client", "local"]),
    default="full",
    show_default=True,
    help="full: data + server-side reset at next sync; client: new client id; local: local models only.",
)
@click.option("--source", "sources", multiple=True, help="full reset of these sources only (repeatable).")
@click.confirmation_option(prompt="This deletes local data. Continue?")
def reset(data_dir: Path, models_module: str, kind: str, sources: tuple[str, ...]) -> None:
    """Delete local data (unpushed changes included)."""
    import rhom

    data_folder(data_dir)
    rhom.setup(data_dir, models=load_models(models_module))
    try:
        if kind == "client":
            rhom.database_client_reset()
        elif kind == "local":
            rhom.database_local_reset()
        else:
            rhom.database_full_reset(models=list(sources) or None)
    except RhomError as exc:
        fail(str(exc))
    finally:
        rhom.shutdown()
    console.print(f"{kind} reset done")


@main.command("export")
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
@click.option("--partition", type=click.Choice(["user", "app", "local"]), default="user", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Zip file to write.")
def export_(data_dir: Path, partition: str, out: Path | None) -> None:
    """Write a zip of a partition's database and blob files."""
    import rhom

    data_folder(data_dir)
    rhom.setup(data_dir, models=[])
    try:
        path = rhom.database_export(partition)
        if out is not None:
            path = Path(shutil.move(path, out))  # not Path.replace: --out may be on another file system
    except OSError as exc:
        fail(f"export failed: {exc}")
    finally:
        rhom.shutdown()
    console.print(f"exported {partition} to {path}")


@main.command("import")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
@click.option("--models", "models_module", required=True, help="Module declaring the app's models.")
@click.option("--partition", type=click.Choice(["user", "app", "local"]), default="user", show_default=True)
def import_(archive: Path, data_dir: Path, models_module: str, partition: str) -> None:
    """Replace a partition from an export (the original is kept if anything fails)."""
    import rhom

    rhom.setup(data_dir, models=load_models(models_module))
    try:
        rhom.database_import(partition, archive)
    except RhomError as exc:
        fail(str(exc), EXIT_ERRORS)
    finally:
        rhom.shutdown()
    console.print(f"imported {archive} into {partition}")


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None, help="Keep the data here.")
def demo(data_dir: Path | None) -> None:
    """Run the end-to-end demo (a shop server and a client, all local)."""
    try:
        from .demo.__main__ import main as demo_main
    except ImportError as exc:
        fail(
            str(exc)
            if "rhom[server]" in str(exc)
            else f"the demo needs the server extra (pip install 'rhom[server]'): {exc}"
        )
    demo_main(["--data", str(data_dir)] if data_dir else [])


# -- rhom sql: change capture of the tables SqlAdapter syncs (rhom[sql], docs/sql.md) --------

_SQL_URL = click.option(
    "--url", envvar="RHOM_SQL_URL", required=True,
    help="SQLAlchemy database URL (or $RHOM_SQL_URL, which keeps a password off the command line).",
)  # fmt: skip


@main.group("sql")
def sql_group() -> None:
    """Change capture for tables synced by rhom.server.sql.SqlAdapter."""


def _sql_call(action: str, *args: Any, **kwargs: Any) -> bool:
    try:
        import rhom.server.sql as sql
    except ImportError as exc:
        fail(f"rhom sql needs the sql extra (pip install 'rhom[sql]'): {exc}")
    try:
        return bool(getattr(sql, action)(*args, **kwargs))
    except (RhomError, sql.SqlError) as exc:
        fail(str(exc), EXIT_ERRORS)


@sql_group.command("install-triggers")
@_SQL_URL
@click.option("--table", required=True, help="The table to capture.")
@click.option("--partition-by", default=None, help="Its user column, as given to SqlAdapter.")
@click.option("--id-column", default=None, help="Its object id column (default: the primary key).")
@click.option("--db-schema", default=None, help="Its database schema (default: the connection's).")
def sql_install_triggers(url: str, table: str, partition_by: str | None, id_column: str | None,
                         db_schema: str | None) -> None:  # fmt: skip
    """Install the triggers that record every change of a table (idempotent)."""
    new = _sql_call("install_triggers", url, table, partition_by=partition_by, id_column=id_column, db_schema=db_schema)
    console.print(f"change capture {'installed on' if new else 'already installed on'} {table}")


@sql_group.command("uninstall-triggers")
@_SQL_URL
@click.option("--table", required=True, help="The table to stop capturing.")
@click.option("--db-schema", default=None, help="Its database schema (default: the connection's).")
def sql_uninstall_triggers(url: str, table: str, db_schema: str | None) -> None:
    """Remove a table's triggers; the last one takes the change tables with it (idempotent)."""
    removed = _sql_call("uninstall_triggers", url, table, db_schema=db_schema)
    console.print(f"change capture {'removed from' if removed else 'was not installed on'} {table}")


if __name__ == "__main__":
    main(prog_name="rhom")  # not "python -m rhom.cli" in usage lines
