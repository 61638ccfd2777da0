"""A client of the shop: ``python -m examples.store.client --server http://127.0.0.1:9292``.

Syncs the shop's models (:mod:`rhom.demo.models`) into ``--data`` and prints what it
holds. Start the server first: ``rhom serve examples.store.server:app``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rhom
from rhom.demo.models import Customer, Note, Product


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default="http://127.0.0.1:9292")
    parser.add_argument("--data", type=Path, default=Path("shop-client-data"))
    parser.add_argument("--user", default="alice")
    args = parser.parse_args(argv)
    rhom.setup(args.data, models=[Product, Customer, Note])
    with rhom.SyncClient(args.server, threaded_mode=False, poll_interval=0) as client:
        if not client.is_logged_in():
            login = client.login(args.user, "")
            if login.error_code:
                print(f"login failed: error {int(login.error_code)} {login.error_message}")
                return 1
        result = client.do_sync()
        print(f"sync: {result.status}")
        for product in Product.find_all(order="name"):
            print(f"  {product.name:<12} {product.brand or '':<10} {product.price or 0:>8.2f}")
        print(f"  customers: {Customer.count()}")
    rhom.shutdown()
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
