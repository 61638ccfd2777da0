"""A table of 100,000 rows: a device's first pull, then a sync after 100 plain-SQL changes
that reads those 100 rows and not the table (benchmarks/sql_capture.py measures it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from rhom.server.sql import SqlAdapter

from .conftest import Database

ROWS = 100_000

#: 100,000 rows for alice and 10 for bob, made by the database itself
FILL = {
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows + 10)
        INSERT INTO products (id, owner, name, price, quantity)
        SELECT i, CASE WHEN i <= :rows THEN 'alice' ELSE 'bob' END, 'Product ' || i, i % 1000, i % 7 FROM n""",
    "postgresql": """
        INSERT INTO products (id, owner, name, price, quantity)
        SELECT i, CASE WHEN i <= :rows THEN 'alice' ELSE 'bob' END, 'Product ' || i, i % 1000, i % 7
        FROM generate_series(1, :rows + 10) AS i""",
    "mariadb": f"""
        INSERT INTO products (id, owner, name, price, quantity)
        SELECT seq, IF(seq <= :rows, 'alice', 'bob'), CONCAT('Product ', seq), seq % 1000, seq % 7
        FROM seq_1_to_{ROWS + 10}""",  # MariaDB's Sequence engine: a table of numbers
}
#: every 1000th row changed by plain SQL (MariaDB's || is OR)
CHANGE = "UPDATE products SET price = price + 1, name = {concat} WHERE id % 1000 = 0"
CONCAT = {"mariadb": "CONCAT('changed ', id)"}


@pytest.mark.slow
def test_a_100000_row_table_pulls_then_syncs_only_what_changed(
    products: Database, serve: Callable[..., Any], adapter: Callable[..., SqlAdapter]
) -> None:
    products.sql(FILL[products.kind], {"rows": ROWS})
    source = adapter(products)
    source.install_triggers()
    read: list[tuple[str, int]] = []  # the adapter's reads of products, with their number of parameters
    sa.event.listen(
        source.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, params, *rest: (
            read.append((statement, len(params))) if "FROM products" in statement.replace('"', "") else None
        ),
    )
    with serve(source) as server:
        device = server.device("alice")
        device.client.page_size = 5000
        assert device.sync().status == "complete"
        assert device.Product.count() == ROWS
        read.clear()
        products.sql(CHANGE.format(concat=CONCAT.get(products.kind, "'changed ' || id")))
        assert device.sync().status == "complete"
        assert device.Product.count() == ROWS
        assert device.Product.find("50000").name == "changed 50000"
        assert device.Product.find("49999").name == "Product 49999"
    # the 100 changed rows, asked for by id: not the 100,000 of the table
    assert read and all(" IN " in statement for statement, _ in read), read
    assert sum(count for _, count in read) <= 100 + 2 * len(read)
