"""Sync a table of an existing SQL database: an inventory kept by another program.

``python -m examples.sql_inventory`` walks through it; ``rhom serve
examples.sql_inventory.app:app`` serves the same source (docs/sql.md).
"""
