"""The web app you already have, and rhom.server beside it (:func:`make_app`).

The web app is a small FastAPI task list: it writes the ``tasks`` table through
SQLAlchemy, as it did before rhom. rhom.server syncs that table with a
:class:`~rhom.server.sql.SqlAdapter`; its triggers record what the web app writes, so
devices get it at their next sync (and live devices within a second). One ASGI app
serves both: rhom's routes first, every other path the web app's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.routing import Mount

from rhom.server import create_app
from rhom.server.sql import SqlAdapter

metadata = sa.MetaData()
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
)


class NewTask(BaseModel):
    owner: str
    title: str


def make_web(engine: sa.Engine) -> FastAPI:
    """The web app: add a task, finish one, list a user's."""
    web = FastAPI()

    @web.post("/tasks")
    def add_task(task: NewTask) -> dict[str, Any]:
        with engine.begin() as conn:
            new_id = conn.execute(tasks.insert().values(owner=task.owner, title=task.title)).inserted_primary_key
        return {"id": new_id[0] if new_id else None}

    @web.post("/tasks/{task_id}/done")
    def finish_task(task_id: int) -> dict[str, Any]:
        with engine.begin() as conn:
            conn.execute(tasks.update().where(tasks.c.id == task_id).values(done=True))
        return {"id": task_id}

    @web.get("/tasks")
    def list_tasks(owner: str) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(tasks.select().where(tasks.c.owner == owner).order_by(tasks.c.id))
            return [dict(row._mapping) for row in rows]

    return web


def make_app(database: str | Path, **options: Any) -> Any:
    """rhom.server over the ``tasks`` table of the SQLite file ``database``, with the web
    app mounted under it (``options`` go to ``create_app``)."""
    url = f"sqlite:///{database}"
    engine = sa.create_engine(url)
    metadata.create_all(engine)  # the web app's table (made here when missing)
    source = SqlAdapter("Task", url, table="tasks", partition_by="owner")
    source.install_triggers()  # idempotent: safe at every start
    return create_app([source], routes=[Mount("/", app=make_web(engine))], **options)
