"""Object ids that never repeat on a device (rhom-api §1.4).

Rhodes' scheme: microseconds since 2009-01-01 at the first call, plus one on every call.
rhom keeps it, and persists a reservation in ``<data_dir>/.rhom-ids`` so that a restart
(even after a clock step backwards or a burst of ids that ran ahead of the clock) starts
above every id handed out before.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_EPOCH_US = 1230768000 * 1_000_000  # 2009-01-01T00:00:00Z
_BLOCK = 10_000_000  # ids reserved per write of the reservation file (~10 s of clock)


class IdGenerator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._reserved = 0
        self._file: Path | None = None

    def attach(self, path: Path) -> None:
        """Persist reservations in *path*; start above the one stored there."""
        with self._lock:
            self._file = path
            try:
                stored = int(path.read_text().strip() or 0)
            except (FileNotFoundError, ValueError):
                stored = 0
            self._next = max(self._next, stored)
            self._reserved = 0  # force a new reservation before the next id

    def detach(self) -> None:
        with self._lock:
            self._file = None

    def __call__(self) -> str:
        with self._lock:
            n = max(self._next, time.time_ns() // 1000 - _EPOCH_US)
            self._next = n + 1
            if self._file is not None and n >= self._reserved:
                self._reserved = n + _BLOCK
                _write_atomically(self._file, str(self._reserved))
            return str(n)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


generator = IdGenerator()


def generate_id() -> str:
    """A new object id: a decimal string, increasing, never repeated on this device."""
    return generator()
