"""The ``rhom`` command: serve, sync, inspect and maintain a rhom data folder.

Exit codes: 0 success; 1 the operation finished with errors (a source failed, a server
error, or one left unanswered); 2 bad usage (unknown option, model module or folder, a
damaged database); 3 login refused or session expired; 4 the server could not be
reached; 130 interrupted (Ctrl-C). User errors print one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import peewee
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, _inspect, _registry
from .exceptions import RhomError

# Not a terminal (a pipe, a log): wide enough that tables are not cut.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

EXIT_ERRORS, EXIT_USAGE, EXIT_AUTH, EXIT_NETWORK, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
DATA_DIR = click.Path(path_type=Path, file_okay=False)
#: What a database that fails raises: peewee's wrapper, or sqlite3's own from plain connections.
DATABASE_ERRORS = (peewee.DatabaseError, sqlite3.DatabaseError)


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


def _damaged(data_dir: Path, partition: str, reason: str) -> str:
    return (f"{data_dir / partition}.sqlite is damaged ({reason}): rhom import restores it from an export, "
            "rhom reset --yes starts it afresh (what it held that was not pushed is lost)")  # fmt: skip


def _set_aside(data_dir: Path, partition: str) -> Path:
    """Move a damaged partition file (and its journal) out of the way: ``user.sqlite.damaged``."""
    base = data_dir / f"{partition}.sqlite"
    target = base.with_name(base.name + ".damaged")
    if target.exists():
        target = base.with_name(f"{base.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = base.with_name(base.name + suffix)
        if part.exists():
            part.replace(target.with_name(target.name + suffix))
    return target


def open_data(data_dir: Path, models: list[Any], *, set_aside: Collection[str] = ()) -> None:
    """``rhom.setup`` of a data folder: a damaged partition file is one error line (exit
    2), or, when the command replaces that partition anyway (*set_aside*), is moved aside
    and made afresh."""
    import rhom

    from .database import PARTITIONS

    if any((data_dir / f"{p}.sqlite").is_file() for p in PARTITIONS):
        for partition, reason in _inspect.damaged(data_dir).items():
            if partition not in set_aside:
                fail(_damaged(data_dir, partition, reason))
            moved = _set_aside(data_dir, partition)
            err_console.print(f"{escape(str(data_dir / partition))}.sqlite was damaged ({escape(reason)}): "
                              f"moved to {escape(moved.name)}, a new one is made", soft_wrap=True)  # fmt: skip
    try:
        rhom.setup(data_dir, models=models)
    except DATABASE_ERRORS as exc:
        rhom.shutdown()
        fail(f"cannot open {data_dir}: {exc}")


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Cleanup that a second Ctrl-C must not cut short (closing databases)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_app(app: str, *, factory: bool) -> None:
    """Import ``module:attribute`` here, so that a bad APP is one line, not uvicorn's
    traceback, and anything but a rhom.server app (an adapter class, a function without
    ``--factory``) is refused, naming what it is."""
    module_name, _, attribute = app.partition(":")
    module = _import(module_name, "app")
    if not hasattr(module, attribute):
        fail(f"app module {module_name!r} has no attribute {attribute!r}")
    target = getattr(module, attribute)
    if factory:
        if not callable(target) or isinstance(target, type):
            fail(f"{app} is {_what(target)}: --factory needs a function that returns a rhom.server app")
        return
    if not _is_rhom_app(target):
        hint = " (or --factory, if this function returns one)" if inspect.isfunction(target) else ""
        fail(f"{app} is {_what(target)}, not a rhom.server app: pass the app rhom.server.create_app "
             f"returned{hint}")  # fmt: skip


def _is_rhom_app(target: Any) -> bool:
    """An app create_app made, or an ASGI middleware around one (which keeps the app it
    wraps as ``.app``, as Starlette's and most others do)."""
    from .server._call import server_of

    for _ in range(10):
        try:
            server_of(target)
            return True
        except TypeError:
            target = getattr(target, "app", None)
        if target is None:
            return False
    return False


def _what(target: Any) -> str:
    if isinstance(target, type):
        bases = [b for b in target.__mro__[1:] if b.__module__.startswith("rhom.")]
        kind = f" (a {bases[0].__module__}.{bases[0].__qualname__} subclass)" if bases else ""
        return f"the class {target.__module__}.{target.__qualname__}{kind}"
    if callable(target) and hasattr(target, "__qualname__"):
        return f"the function {getattr(target, '__module__', '?')}.{target.__qualname__}"
    return f"a {type(target).__module__}.{type(target).__qualname__} object"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rhom")
def main() -> None:
    """rhom: offline-first data with RhoConnect sync."""


@main.command()
@click.argument("app")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 9292).")
@click.option("--store", default=None, help="Server store: sqlite:///file.db (default), redis://host:port/db, "
              "or redis+cluster://host:port[,host:port...].")  # fmt: skip
@click.option("--factory", is_flag=True, help="APP names a function that returns the app.")
@click.option("--workers", type=int, default=1, show_default=True)
@click.option("--console", is_flag=True, help="Serve the web console at /console (docs/console.md).")
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="json: one JSON object per line, for log shippers.",
)  # fmt: skip
def serve(app: str, host: str | None, port: int | None, store: str | None, factory: bool, workers: int,
          console: bool, log_format: str) -> None:  # fmt: skip
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
        check_app(app, factory=factory)
    argv = [app, "--workers", str(workers), "--log-format", log_format]
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

    def __init__(self, progress: Progress, models: list[Any]) -> None:
        self.progress = progress
        self.models = models
        self.tasks: dict[str, TaskID] = {}
        self.errors: dict[str, list[str]] = {}
        self.error_codes: set[int] = set()
        #: objects each source got from a bulk sync in this run (rhom reset --kind client
        #: or full makes the next sync one)
        self.bulk: dict[str, int] = {}

    def __call__(self, sender: Any, notification: Any) -> None:
        n = notification
        name = n.source_name
        if name is None:
            return
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.progress.add_task(name, total=None)
        if n.status == "in_progress":
            # cumulative_count counts a page's inserts and deletes, total_count objects:
            # an object changed on the way counts twice, so the bar stops at its total
            total = n.total_count or None
            done = n.cumulative_count or 0
            self.progress.update(task, total=total, completed=min(done, total) if total else done)
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

    def on_bulk(self, sender: Any, *, notification: Any, bulk_status: str | None, partition: str | None) -> None:
        """Bulk sync phases: a line per partition, and what it brought per source."""
        if not partition:
            return
        task = self.tasks.get(f"bulk:{partition}")
        if task is None:
            task = self.tasks[f"bulk:{partition}"] = self.progress.add_task(f"bulk {partition}", total=None)
        if notification.status == "error":
            self.error_codes.add(int(notification.error_code))
            self.progress.update(task, description=f"bulk {partition} ✗")
        elif bulk_status == "ok":
            self.progress.update(task, total=1, completed=1, description=f"bulk {partition} ✓")
            for model in self.models:
                if model._rhom.partition == partition:
                    row = model._rhom.database.execute_sql(
                        "SELECT last_inserted_size FROM sources WHERE source_id = ?", (model.get_source_id(),)
                    )
                    self.bulk[model._rhom.source_name] = int(row[0]["last_inserted_size"] or 0) if row else 0


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

    models = load_models(models_module)
    open_data(data_dir, models)
    try:
        client = rhom.SyncClient(server_url, threaded_mode=False, poll_interval=0, page_size=page_size,
                                 ssl_verify_peer=not insecure)  # fmt: skip
    except RhomError as exc:  # a malformed --server URL
        rhom.shutdown()
        fail(str(exc))
    interrupted = False
    try:
        _sync_run(client, server_url, data_dir, models, sources, user, password)
    except KeyboardInterrupt:
        interrupted = True
    except DATABASE_ERRORS as exc:
        fail(f"the database of {data_dir} failed during the sync: {exc}", EXIT_ERRORS)
    finally:
        with _uninterrupted():
            client.close()
            rhom.shutdown()
    if interrupted:
        # every page is applied in one transaction with its token, and a push's rows are
        # settled only by its answer: an interrupted run leaves nothing half-written
        err_console.print("\ninterrupted: nothing was lost. Changes not pushed yet stay in the outbox, and the "
                          "next rhom sync goes on from the last page applied.", soft_wrap=True)  # fmt: skip
        sys.exit(EXIT_INTERRUPTED)


def _sync_run(client: Any, server_url: str, data_dir: Path, models: list[Any], sources: tuple[str, ...],
              user: str | None, password: str | None) -> None:  # fmt: skip
    from rhom.sync import notify

    if user is not None:
        _login(client, server_url, user, password)
    elif not client.is_logged_in():
        fail("not logged in: pass --login USER", EXIT_AUTH)
    known = {m._rhom.source_name for m in models if m._rhom.is_sync}
    for name in sources:
        if name not in known:
            fail(f"unknown source {name!r}; synced models: {', '.join(sorted(known)) or 'none'}")
    chosen = [m for m in models if m._rhom.is_sync and (not sources or m._rhom.source_name in sources)]
    started = time.monotonic()
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        display = _SyncDisplay(progress, chosen)
        with notify.source_notification.connected_to(display), notify.bulk_progress.connected_to(display.on_bulk):
            results = [client.do_sync_source(name) for name in sources] if sources else [client.do_sync()]
    final = results[-1]
    kept = client.unanswered_errors()
    if not (final.error_code and not final.source_name):  # a run that never started has no summary
        _summary(client, chosen, display, kept, time.monotonic() - started)
    if final.error_code and not final.source_name:
        code = {1: EXIT_NETWORK, 7: EXIT_AUTH, 9: EXIT_AUTH}.get(int(final.error_code), EXIT_ERRORS)
        fail(f"sync failed (error {int(final.error_code)}): {final.error_message}", code)
    if 1 in display.error_codes:  # the run "completes" when every source failed to connect
        fail(f"could not reach {server_url}", EXIT_NETWORK)
    from rhom.sync._unanswered import OBJECT_KINDS

    unanswered = {name: sorted(k for k in errors if k in OBJECT_KINDS) for name, errors in kept.items()}
    unanswered = {name: kinds for name, kinds in unanswered.items() if kinds}
    if unanswered:
        count = sum(len(v) for errors in kept.values() for k, v in errors.items() if k in OBJECT_KINDS)
        what = "; ".join(f"{name}: {', '.join(kinds)}" for name, kinds in unanswered.items())
        fail(f"{count} server error{'s' if count > 1 else ''} left unanswered ({what}): rhom errors --data {data_dir} "
             "lists them, rhom errors answer answers them", EXIT_ERRORS)  # fmt: skip
    if display.errors or any(r.status == "error" for r in results):
        sys.exit(EXIT_ERRORS)


def _login(client: Any, server_url: str, user: str, password: str | None) -> None:
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
    if not login.error_code:
        return
    if int(login.error_code) == 2 and login.http_status in (404, 405):
        url = f"{server_url.rstrip('/')}/rc/v1/app/login"
        fail(f"login failed: POST {url} answered HTTP {login.http_status}: the server at {server_url} is not a "
             "RhoConnect server, or not at that path (check --server)", EXIT_ERRORS)  # fmt: skip
    code = {1: EXIT_NETWORK, 9: EXIT_AUTH}.get(int(login.error_code), EXIT_ERRORS)  # 2: a 5xx, say
    fail(f"login failed (error {int(login.error_code)}): {login.error_message}", code)


def _summary(client: Any, models: list[Any], display: _SyncDisplay, kept: dict[str, Any], seconds: float) -> None:
    title = f"sync summary ({seconds:.1f} s{', bulk sync' if display.bulk else ''})"
    table = Table(title=title)
    columns = ["source", *(["bulk"] if display.bulk else []), "inserted", "updated", "deleted", "errors", "time"]
    for column in columns:
        table.add_column(column, justify="left" if column == "source" else "right")
    for model in models:
        name = model._rhom.source_name
        stats = client.last_sync_stats(name)
        errors = list(display.errors.get(name, []))
        errors += [f"{kind} (unanswered)" for kind in sorted(kept.get(name, {}))
                   if kind not in errors and kind != "update-rollback"]  # fmt: skip
        bulk = [str(display.bulk.get(name, 0))] if display.bulk else []
        table.add_row(name, *bulk, str(stats.inserted), str(stats.updated), str(stats.deleted),
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
        _unreadable(data_dir, exc)
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
        errors = ", ".join(f"{kind} ({n})" for kind, n in sorted(s.server_errors.items())) or "-"
        table.add_row(s.name, s.partition, s.sync_type, when, str(s.token), str(s.objects), pending,
                      str(s.awaiting or "-"), errors)  # fmt: skip
    console.print(table)
    stopped = [s.name for s in sources if s.token]
    if stopped:
        # the token is stored with each page applied: one left over is a pull under way
        # (status is safe while the app syncs) or a run that stopped part way
        console.print(f"token other than 0: the pull of {', '.join(stopped)} is under way or stopped part way "
                      "(1: before its first page); the next sync goes on from there", soft_wrap=True)  # fmt: skip


def _unreadable(data_dir: Path, exc: sqlite3.Error) -> NoReturn:
    damaged = _inspect.damaged(data_dir)
    if damaged:
        partition, reason = next(iter(damaged.items()))
        fail(_damaged(data_dir, partition, reason))
    fail(f"cannot read {data_dir}: {exc}")


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
        _unreadable(data_dir, exc)
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


#: Which kind of error each answer applies to (Model.on_sync_*_error, rhom-api §2.4).
ANSWERS = {"delete": ("create-error",), "recreate": ("create-error",), "retry": ("update-error", "delete-error"),
           "rollback": ("update-error",)}  # fmt: skip
#: What a person can do about each kind, for rhom errors.
_HOW = {
    "create-error": "answer with delete (drop the object here) or recreate (send it again, edited first)",
    "update-error": "answer with retry (send the values again) or rollback (take the server's)",
    "delete-error": "answer with retry (send the delete again)",
    "blob-error": "downloaded again at every sync; fix the file on the server",
}


@main.group("errors", invoke_without_command=True)
@click.option("--data", "data_dir", type=DATA_DIR, default=None, help="Data folder.")
@click.pass_context
def errors_group(ctx: click.Context, data_dir: Path | None) -> None:
    """List the server errors a data folder keeps until they are answered."""
    if ctx.invoked_subcommand is not None:
        return
    if data_dir is None:
        raise click.UsageError("Missing option '--data'.")
    data_folder(data_dir)
    try:
        found = _inspect.unanswered(data_dir)
    except sqlite3.Error as exc:
        _unreadable(data_dir, exc)
    if not found:
        console.print("no unanswered server errors")
        return
    table = Table()
    for column in ("source", "object", "kind", "message", "since"):
        table.add_column(column)
    for e in found:
        table.add_row(
            e.source, e.object or "-", e.kind, escape(e.message or "-"), e.since.strftime("%Y-%m-%d %H:%M:%S")
        )
    console.print(table)
    for kind in sorted({e.kind for e in found}):
        how = _HOW.get(kind, "a source error: it clears at the next sync that runs without it")
        console.print(f"{kind}: {how}")
    if any(e.kind in _HOW and e.kind != "blob-error" for e in found):
        console.print(f"rhom errors answer ACTION --data {escape(str(data_dir))} --models MODULE "
                      "[--source NAME] [--object ID]", soft_wrap=True)  # fmt: skip


@errors_group.command("answer")
@click.argument("action", type=click.Choice(sorted(ANSWERS)))
@click.option("--data", "data_dir", type=DATA_DIR, required=True, help="Data folder.")
@click.option("--models", "models_module", required=True, help="Module declaring the app's models.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--object", "objects", multiple=True, help="Only this object id (repeatable).")
def errors_answer(action: str, data_dir: Path, models_module: str, sources: tuple[str, ...],
                  objects: tuple[str, ...]) -> None:  # fmt: skip
    """Answer unanswered errors as the app would (delete, recreate, retry, rollback).

    delete and recreate answer create-errors, retry update- and delete-errors, rollback
    update-errors. The next rhom sync sends what the answer queued.
    """
    import rhom

    data_folder(data_dir)
    models = load_models(models_module)
    synced = {m._rhom.source_name: m for m in models if m._rhom.is_sync}
    for name in sources:
        if name not in synced:
            fail(f"unknown source {name!r}; synced models: {', '.join(sorted(synced)) or 'none'}")
    open_data(data_dir, models)
    try:
        answered = _answer(action, [synced[n] for n in sorted(synced) if not sources or n in sources], set(objects))
    except DATABASE_ERRORS as exc:
        fail(f"answer failed: {exc}", EXIT_ERRORS)
    finally:
        rhom.shutdown()
    missing = set(objects) - {oid for _, _, oid in answered}
    if not answered or missing:
        which = f"of object {', '.join(sorted(missing))} " if missing else ""
        fail(f"no unanswered {' or '.join(ANSWERS[action])} {which}to answer with {action!r}: "
             f"rhom errors --data {data_dir} lists them")  # fmt: skip
    for source, kind, oid in answered:
        console.print(f"{source} {oid}: {kind} answered with {action}")
    if action in ("recreate", "retry"):
        console.print("the next rhom sync sends them")


def _answer(action: str, models: list[Any], objects: set[str]) -> list[tuple[str, str, str]]:
    """Apply *action* to the kept errors it answers; return ``(source, kind, object)`` of each."""
    from .sync import _unanswered
    from .sync.source import SyncSource

    answered = []
    for model in models:
        kept = {
            (e.kind, e.object): e
            for e in _unanswered.of_source(SyncSource(model))
            if e.kind in ANSWERS[action] and e.object is not None and (not objects or e.object in objects)
        }
        for kind in ANSWERS[action]:
            rollback: dict[str, Any] = {}
            entries = {
                oid: {"message": e.message, "attributes": e.attributes} for (k, oid), e in kept.items() if k == kind
            }
            if action == "rollback":
                # the server's values are needed: an error it sent none for cannot roll back
                rollback = {oid: {"attributes": e.rollback} for (k, oid), e in kept.items() if k == kind and e.rollback}
                for oid in set(entries) - set(rollback):
                    err_console.print(f"{model._rhom.source_name} {oid}: the server sent no values to roll back "
                                      "to: answer it with retry", soft_wrap=True)  # fmt: skip
                entries = {oid: entry for oid, entry in entries.items() if oid in rollback}
            if not entries:
                continue
            if kind == "create-error":
                model.on_sync_create_error(entries, action)
            elif kind == "update-error":
                model.on_sync_update_error(entries, action, rollback or None)
            else:
                model.on_sync_delete_error(entries, action)
            answered += [(model._rhom.source_name, kind, str(oid)) for oid in sorted(entries)]
    return answered


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
    # a partition the reset empties is made afresh when its file is damaged
    emptied = ("local",) if kind == "local" else () if sources else ("user", "app", "local")
    open_data(data_dir, load_models(models_module), set_aside=emptied)
    try:
        if kind == "client":
            rhom.database_client_reset()
        elif kind == "local":
            rhom.database_local_reset()
        else:
            rhom.database_full_reset(models=list(sources) or None)
    except RhomError as exc:
        fail(str(exc))
    except DATABASE_ERRORS as exc:
        fail(f"reset failed: {exc}", EXIT_ERRORS)
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
    open_data(data_dir, [])
    try:
        path = rhom.database_export(partition)
        if out is not None:
            path = Path(shutil.move(path, out))  # not Path.replace: --out may be on another file system
    except OSError as exc:
        fail(f"export failed: {exc}")
    except DATABASE_ERRORS as exc:
        fail(f"export failed: {exc}", EXIT_ERRORS)
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

    # the partition the import replaces is made afresh first when its file is damaged
    open_data(data_dir, load_models(models_module), set_aside=(partition,))
    try:
        rhom.database_import(partition, archive)
    except RhomError as exc:
        fail(str(exc), EXIT_ERRORS)
    except DATABASE_ERRORS as exc:
        fail(f"import failed: {exc}", EXIT_ERRORS)
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


def _sql_call(action: str, *args: Any, **kwargs: Any) -> Any:
    try:
        import rhom.server.sql as sql
    except ImportError as exc:
        fail(f"rhom sql needs the sql extra (pip install 'rhom[sql]'): {exc}")
    try:
        return getattr(sql, action)(*args, **kwargs)
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


@sql_group.command("prune-changes")
@_SQL_URL
@click.option("--table", default=None, help="Only this table (default: every table under capture).")
@click.option("--idle-days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="Days after which a reader that has not read holds no changes back.")  # fmt: skip
@click.option("--db-schema", default=None, help="Its database schema (default: the connection's).")
def sql_prune_changes(url: str, table: str | None, idle_days: float, db_schema: str | None) -> None:
    """Delete the captured changes every reader has passed (safe at any time)."""
    count = _sql_call("prune_changes", url, table, idle=idle_days * 86400, db_schema=db_schema)
    console.print(f"{count} captured change{'' if count == 1 else 's'} pruned")


if __name__ == "__main__":
    main(prog_name="rhom")  # not "python -m rhom.cli" in usage lines
