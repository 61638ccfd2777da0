"""Small timing helpers shared by the benchmarks: best-of-N wall time and a ratio table."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], *, repeat: int = 5) -> float:
    """The fastest of *repeat* runs of *fn*, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(title: str, ours: float, baseline: float, baseline_name: str, *, per: int, goal: float | None) -> None:
    """Print one line: per-operation times, the ratio to the baseline and the goal."""
    ratio = ours / baseline
    verdict = "" if goal is None else (f"  goal <= {goal:.1f}x: {'met' if ratio <= goal else 'MISSED'}")
    print(
        f"{title:<52} rhom {ours / per * 1e6:9.2f} us/op   {baseline_name} "
        f"{baseline / per * 1e6:9.2f} us/op   ratio {ratio:5.2f}x{verdict}"
    )
