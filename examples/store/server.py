"""The shop's sync server: ``rhom serve examples.store.server:app`` in a checkout.

The same app ships with rhom as ``rhom.demo.server:app`` (``rhom serve
rhom.demo.server:app`` works from an installed wheel); the adapters live in
:mod:`rhom.demo.shop`. ``STORE_BACKEND`` names the backend database file (default
``store-backend.sqlite``, made at the first request: importing this module writes
nothing); the server's own state goes where ``RHOM_SERVER_STORE`` says.
"""

from __future__ import annotations

from rhom.demo.server import app

__all__ = ["app"]
