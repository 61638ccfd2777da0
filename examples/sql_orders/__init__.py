"""The backend plugin: a shop that writes through the SQLAlchemy ORM, and a live device.

``python -m examples.sql_orders`` walks through it (docs/sql.md, "Push what the ORM
commits").
"""
