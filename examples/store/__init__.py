"""A small shop: a rhom.server app over a SQLite backend, and the client models that sync it."""
