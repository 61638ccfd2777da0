"""Limits on failed logins, shared by every password route (docs/server.md "Security").

Three counters per window of ``login_failure_window`` seconds, each with its setting:

* one account from one address (``max_login_failures``): guessing one password;
* one address, whatever the accounts (``max_login_failures_per_address``): trying one
  password on many accounts;
* one account, whatever the addresses (``max_login_failures_per_account``): guessing
  from many addresses.

Once one is reached, that door answers 429 with ``Retry-After`` until the window ends,
even to the right password (an answer that told them apart would let the guessing go
on). The right password from another address still works, unless the account as a
whole is under attack. The counters live in the store (``lf:<window>:<kind>:<scope>:<name>``),
so several server processes on one Redis share them; each window is named in its keys,
which the store forgets after two windows (``Store.incr``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from rhom.server import _keys as keys
from rhom.server._keys import q
from rhom.server.settings import Settings
from rhom.server.store import Store

__all__ = ["LoginThrottle"]

logger = logging.getLogger("rhom.server")


@dataclass(frozen=True)
class _Counter:
    kind: str  # "pair", "addr" or "acct": part of the key
    limit: int


def _short(name: str) -> str:
    """``name`` as a key part, a digest when long: a login name may be a megabyte."""
    return q(name) if len(name) <= 200 else "~" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()


class LoginThrottle:
    """Counts failed logins in the store and says when a door is shut.

    :param store: where the counters live.
    :param settings: the window and the three limits.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.window = settings.login_failure_window
        self._counters = [
            _Counter("pair", settings.max_login_failures),
            _Counter("addr", settings.max_login_failures_per_address),
            _Counter("acct", settings.max_login_failures_per_account),
        ]

    def _counted(self, scope: str, account: str, address: str, now: float) -> list[tuple[str, str, int]]:
        """The kind, key and limit of each counter on (its limit is not 0)."""
        window = int(now // self.window)
        account, address = _short(account), _short(address)
        names = {"pair": f"{account}@{address}", "addr": address, "acct": account}
        return [
            (c.kind, keys.login_failures(window, c.kind, scope, names[c.kind]), c.limit)
            for c in self._counters
            if c.limit > 0
        ]

    def retry_after(self, scope: str, account: str, address: str) -> int | None:
        """Seconds until ``account`` may try again from ``address``; ``None``: now.

        :param scope: which accounts: ``"app"`` (sync logins) or ``"admin"`` (``rhoadmin``).
        """
        now = time.time()
        counted = self._counted(scope, account, address, now)
        if not counted:
            return None
        counts = self.store.get_many([key for _, key, _ in counted])
        if all(int(count or b"0") < limit for count, (_, _, limit) in zip(counts, counted, strict=True)):
            return None
        return max(1, math.ceil((now // self.window + 1) * self.window - now))

    def failed(self, scope: str, account: str, address: str) -> None:
        """Count a refused login, and log it (never the password)."""
        logger.warning("rhom.server: failed %s login for %r from %s", scope, account, address)
        for _, key, _ in self._counted(scope, account, address, time.time()):
            self.store.incr(key, ttl=2 * self.window)

    def succeeded(self, scope: str, account: str, address: str) -> None:
        """Forget the failures of ``account`` from ``address`` (a mistyped password)."""
        counted = self._counted(scope, account, address, time.time())
        self.store.set_many({key: None for kind, key, _ in counted if kind == "pair"})
