"""The documentation is part of the API: it builds, it names everything public, its examples run.

Three kinds of checks, in the spirit of sqlite-utils' ``tests/test_docs.py``:

* ``mkdocs build --strict`` succeeds (broken links, pages missing from the nav, bad anchors
  all fail it);
* every public name -- ``rhom.__all__``, the members of :class:`rhom.SyncClient`, the Model
  API of spec/rhom-api.md, ``rhom.server.__all__`` and every server setting, every ``rhom``
  subcommand, every signal and its signal name --
  appears in ``docs/*.md``; and the other way round, every dotted ``rhom.x.y`` name and
  every ``client.x`` / ``Product.x`` member the docs use exists;
* every ```` ```python ```` block of ``docs/*.md`` runs (and every ```` ```py ```` block
  parses). The blocks of a page run in order in one namespace, in a fresh working
  directory. A page that talks to a server gets a real one (rhom.server with the demo
  shop) whose URL replaces ``http://127.0.0.1:9292``, the address ``rhom serve`` listens
  on. Blocks that cannot run here (fragments, a remote server, Redis) are fenced
  ```` ```py ````, which renders the same.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import os
import re
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rhom
from rhom import _registry, signals
from rhom.cli import main as cli_main
from rhom.sync import client as client_module
from rhom.sync import notify

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PLACEHOLDER_URL = "http://127.0.0.1:9292"

#: The Model API of spec/rhom-api.md §2 (the P forms), as rhom spells it.
MODEL_API = [
    # §2.1 construction and persistence
    "create", "save", "update_attributes", "destroy", "delete_all",
    # §2.2 reading
    "find", "find_all", "find_first", "count", "get", "paginate", "find_by_sql",
    # §2.3 object helpers
    "vars", "to_dict", "to_json", "changed", "can_modify", "get_source_id", "get_source_name",
    "metadata", "set_metadata", "blob_path",
    # §2.4 sync-related class methods
    "sync", "search", "push_changes", "on_sync_create_error", "on_sync_update_error",
    "on_sync_delete_error", "set_notification", "clear_notification",
]  # fmt: skip

SIGNAL_MODULES = [signals, notify]


# -- reading the docs -------------------------------------------------------------------------


@dataclasses.dataclass
class Block:
    page: str
    line: int  # 1-based line of the first line of code
    lang: str
    code: str


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def code_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with the line their code starts on."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"]
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(path.name, i + 2, lang, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def code_text(*, rhodes: bool = True) -> str:
    """Everything the docs show as code: inline spans and fenced blocks, of every page.

    :param rhodes: include the Rhodes names (first column of migrating.md's tables).
    """
    parts: list[str] = []
    for path in pages():
        text = path.read_text(encoding="utf-8")
        if not rhodes and path.name == "migrating.md":
            text = re.sub(r"^\|[^|\n]*\|", "|", text, flags=re.M)
        parts.extend(b.code for b in code_blocks(path))
        prose = re.sub(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", "", text, flags=re.S | re.M)
        parts.extend(re.findall(r"`+([^`]+)`+", prose))
    return "\n".join(parts)


def all_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in pages())


def missing(names: list[str], text: str, pattern: str = r"(?<![\w-]){}(?![\w-])") -> list[str]:
    return sorted({n for n in names if not re.search(pattern.format(re.escape(n)), text)})


# -- (a) the site builds -------------------------------------------------------------------------


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (site / "index.html").is_file()
    assert (site / "quickstart" / "index.html").is_file()


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"([\w-]+\.md)\s*$", config, flags=re.M))
    assert missing([p.name for p in pages()], "\n".join(sorted(listed))) == []


# -- (b) everything public is documented ---------------------------------------------------------


def test_every_public_name_is_documented() -> None:
    undocumented = missing(list(rhom.__all__), code_text())
    assert undocumented == [], f"rhom.__all__ names missing from docs/*.md: {undocumented}"


def test_the_server_api_and_every_setting_are_documented() -> None:
    import rhom.server

    text = code_text()
    undocumented = missing(list(rhom.server.__all__), text)
    for field in dataclasses.fields(rhom.server.Settings):
        env = f"RHOM_SERVER_{field.name.upper()}"
        if missing([field.name], text) and missing([env], text):
            undocumented.append(f"Settings.{field.name} ({env})")
    assert undocumented == [], f"rhom.server names missing from docs/*.md: {undocumented}"


def syncclient_members(tmp_path: Path) -> list[str]:
    names = {n for n in dir(rhom.SyncClient) if not n.startswith("_")}
    previous = client_module.default_client
    rhom.setup(tmp_path / "members", models=[])
    try:
        client = rhom.SyncClient("http://127.0.0.1:9", threaded_mode=False, poll_interval=0)
        names |= {n for n in vars(client) if not n.startswith("_")}
        client.close()
    finally:
        client_module.default_client = previous
        rhom.shutdown()
    return sorted(names)


def test_every_syncclient_member_is_documented(tmp_path: Path) -> None:
    members = syncclient_members(tmp_path)
    assert "do_sync" in members and "page_size" in members
    undocumented = missing(members, code_text())
    assert undocumented == [], f"rhom.SyncClient members missing from docs/*.md: {undocumented}"


@pytest.mark.parametrize("model", [rhom.Model, rhom.PropertyBagModel], ids=lambda m: m.__name__)
def test_the_model_api_exists(model: Any) -> None:
    absent = [name for name in MODEL_API if not hasattr(model, name)]
    assert absent == [], f"{model.__name__} lacks {absent} (spec/rhom-api.md §2)"


def test_every_model_method_is_documented() -> None:
    undocumented = missing(MODEL_API, code_text(), pattern=r"\.{}\b")
    assert undocumented == [], f"Model API missing from docs/*.md (as Model.name or obj.name): {undocumented}"


def test_every_cli_command_is_documented() -> None:
    commands = sorted(cli_main.commands)
    assert {"serve", "sync", "status", "outbox"} <= set(commands)
    undocumented = missing([f"rhom {c}" for c in commands], all_text())
    assert undocumented == [], f"rhom subcommands missing from docs/*.md: {undocumented}"


def signal_names() -> list[tuple[str, str]]:
    found = []
    for module in SIGNAL_MODULES:
        for attr in module.__all__:
            value = getattr(module, attr)
            if hasattr(value, "send") and hasattr(value, "receivers"):
                found.append((attr, value.name))
    return found


def test_every_signal_is_documented() -> None:
    found = signal_names()
    assert len(found) >= 11
    text = code_text()
    undocumented = missing([a for a, _ in found], text) + missing([n for _, n in found], text)
    assert undocumented == [], f"signals missing from docs/*.md: {undocumented}"


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if attr in getattr(obj, "__dataclass_fields__", {}):
                return True  # a field: not a class attribute when it has no default
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_rhom_name_in_the_docs_exists() -> None:
    dotted = set(re.findall(r"(?<![\w./-])rhom(?:\.[A-Za-z_]\w*)+", code_text()))
    files = {d for d in dotted if re.search(r"\.(md|py|sqlite|db|toml|zip)$", d)}
    unknown = sorted(d for d in dotted - files if not _resolve(d))
    assert unknown == [], f"the docs name rhom attributes that do not exist: {unknown}"


def test_every_client_and_model_member_the_docs_use_exists(tmp_path: Path) -> None:
    """``client.x`` must be a SyncClient member, ``Product.x`` a model attribute or a field the docs declare."""
    text = code_text(rhodes=False)
    members = set(syncclient_members(tmp_path))
    unknown = sorted(
        {f"client.{n}" for n in re.findall(r"(?<![\w.])client\.(\w+)", text)} - {f"client.{m}" for m in members}
    )
    declared = {"_rhom"}  # every declared model has it (its rhom options)
    fields = declared | set(re.findall(r"^\s*(\w+) = rhom\.(?:\w+Field|BelongsTo)\(", text, flags=re.M))
    for name in set(re.findall(r"(?<![\w.])Product\.(\w+)", text)) - fields:
        if not any(hasattr(model, name) for model in (rhom.Model, rhom.PropertyBagModel)):
            unknown.append(f"Product.{name}")
    assert unknown == [], f"the docs use members that do not exist: {unknown}"


# -- (c) the examples run ------------------------------------------------------------------------


def runnable_pages() -> list[str]:
    return [p.name for p in pages() if any(b.lang == "python" for b in code_blocks(p))]


def test_the_docs_have_examples_that_run() -> None:
    assert {"quickstart.md", "models.md", "querying.md", "sync.md"} <= set(runnable_pages())


def test_no_block_is_fenced_python3_or_pycon() -> None:
    """Only ``python`` (runs) and ``py`` (shown) mark Python; other spellings would dodge the rule."""
    odd = [f"{b.page}:{b.line}" for p in pages() for b in code_blocks(p) if b.lang in ("python3", "pycon", "Python")]
    assert odd == []


def test_shown_only_blocks_are_valid_python() -> None:
    """```py blocks are not run, but they must still parse: a typo there is a docs bug too."""
    broken = []
    for path in pages():
        for block in code_blocks(path):
            if block.lang == "py":
                try:
                    compile(block.code, f"{block.page}:{block.line}", "exec")
                except SyntaxError as exc:
                    broken.append(f"{block.page}:{block.line - 1 + (exc.lineno or 1)}: {exc.msg}")
    assert broken == []


@pytest.fixture
def doc_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory; afterwards rhom, its model registry and its signals as before."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    models = dict(_registry._models)
    previous_client = client_module.default_client
    receivers = {id(s): set(s.receivers) for s in _all_signals()}
    try:
        yield work
    finally:
        current = client_module.default_client
        if current is not None and current is not previous_client:
            current.close()
        client_module.default_client = previous_client
        rhom.shutdown()
        _registry._models.clear()
        _registry._models.update(models)
        for signal in _all_signals():
            for receiver_id in set(signal.receivers) - receivers[id(signal)]:
                receiver = signal.receivers.get(receiver_id)
                if isinstance(receiver, weakref.ref):
                    receiver = receiver()
                if receiver is not None:
                    signal.disconnect(receiver)


def _all_signals() -> list[Any]:
    return [getattr(m, a) for m in SIGNAL_MODULES for a in m.__all__ if hasattr(getattr(m, a), "receivers")]


@pytest.fixture
def shop_url(tmp_path: Path) -> Iterator[str]:
    """rhom.server with the demo shop (what ``rhom serve examples.store.server:app`` serves)."""
    from rhom.demo.shop import make_app
    from rhom.server import Settings
    from rhom.server.testing import run_in_thread

    with run_in_thread(make_app(tmp_path / "backend.sqlite", Settings.for_tests())) as url:
        yield url


@pytest.mark.parametrize("page", runnable_pages())
def test_python_blocks_run(page: str, doc_sandbox: Path, request: pytest.FixtureRequest) -> None:
    blocks = [b for b in code_blocks(DOCS / page) if b.lang == "python"]
    url = request.getfixturevalue("shop_url") if any(PLACEHOLDER_URL in b.code for b in blocks) else None
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(page).stem.replace('-', '_')}"}
    previous_client = client_module.default_client
    try:
        for block in blocks:
            code = block.code if url is None else block.code.replace(PLACEHOLDER_URL, url)
            # padded so that a traceback names the page and its line
            exec(compile("\n" * (block.line - 1) + code, str(DOCS / page), "exec"), namespace)
    finally:
        current = client_module.default_client
        if current is not None and current is not previous_client:
            current.close()  # while its server still runs
        namespace.clear()  # break the cycles through the namespace: receivers go now
        gc.collect()
