"""Sync the table a web app writes: a FastAPI app and rhom.server, one ASGI app.

``python -m examples.sql_webapp`` walks through it; ``rhom serve examples.sql_webapp.app:app``
serves both (docs/sql.md, "Beside your web app").
"""
