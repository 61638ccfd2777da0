"""How many request threads run the server's own code at once.

Requests run on a pool of ``worker_threads`` threads so that a slow adapter (a remote
backend) does not hold up the others. But the server's own work per request is short
and mostly Python: several threads doing it at once only take turns at the GIL and the
store, and the turns cost more than they give (on 2 cores, 8 such threads answered a
burst of 1,000 queries about a fifth slower than one). So a request holds one of
``cpu_slots`` slots while it runs the server's code, and gives it up while it waits:
for an adapter hook, a push sender, a named store lock held by another request, or a
Redis reply. A request back from such a wait gets a slot before a new request does, so
work under way finishes first.

Never wait for a slot while holding something another slot holder may wait for:
:func:`waiting` gives the slot up around every such wait, and takes it back after.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Slots", "waiting"]

_current = threading.local()  # the Slots whose slot this thread holds, if any


class _Turns:
    """``n`` slots. A thread coming back from a wait gets one before a new request does,
    each kind in turn of asking: work under way finishes first."""

    def __init__(self, n: int) -> None:
        self._free = n
        self._guard = threading.Lock()
        self._back: deque[threading.Lock] = deque()
        self._new: deque[threading.Lock] = deque()

    def acquire(self, back: bool = False) -> None:
        with self._guard:
            if self._free > 0 and not self._back and (back or not self._new):
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            (self._back if back else self._new).append(turn)
        turn.acquire()  # released by the holder that hands its slot on

    def release(self) -> None:
        with self._guard:
            if self._back:
                self._back.popleft().release()  # the slot passes on, still taken
            elif self._new:
                self._new.popleft().release()
            else:
                self._free += 1


class Slots:
    """A fixed number of slots, held by request threads (``n`` <= 0: unlimited)."""

    def __init__(self, n: int) -> None:
        self.size = max(n, 0)  # 0: unlimited
        self._semaphore: _Turns | None = None if n <= 0 else _Turns(n)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the block (the whole request)."""
        if self._semaphore is None or getattr(_current, "slots", None) is not None:
            yield  # unlimited, or this thread holds one already
            return
        self._semaphore.acquire()
        _current.slots = self
        try:
            yield
        finally:
            _current.slots = None
            self._semaphore.release()


@contextmanager
def waiting() -> Iterator[None]:
    """Give this thread's slot up for a wait that may be long (and take it back after)."""
    slots: Slots | None = getattr(_current, "slots", None)
    if slots is None or slots._semaphore is None:
        yield
        return
    _current.slots = None
    slots._semaphore.release()
    try:
        yield
    finally:
        slots._semaphore.acquire(back=True)
        _current.slots = slots
