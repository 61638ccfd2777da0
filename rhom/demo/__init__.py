"""rhom's end-to-end demo: a shop served by rhom.server and synced by an offline client.

Run it with ``rhom demo`` or ``python -m rhom.demo``. :mod:`rhom.demo.shop` is the server
side (a SQLite backend and its source adapters), :mod:`rhom.demo.models` the client side.
"""
