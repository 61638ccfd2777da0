"""Stats series in the store: buckets per process, summed by readers, pruned with age."""

from __future__ import annotations

from rhom.server import Store
from rhom.server.stats import BOUNDS, LATENCY, Stats, percentile

T0 = 1_800_000_000.0  # a bucket boundary for resolutions of 10 and 60 s


def test_processes_add_up_and_old_buckets_go(store: Store) -> None:
    one, two = Stats(store, resolution=10, record_size=3), Stats(store, resolution=10, record_size=3)
    one.timing("http:GET:/app/v1/Product", 0.004, now=T0 + 1)
    one.timing("http:GET:/app/v1/Product", 0.006, now=T0 + 2)
    two.timing("http:GET:/app/v1/Product", 0.030, now=T0 + 3)
    two.timing("http:GET:/app/v1/Product", 0.001, now=T0 + 15)
    two.add("errors:Product", 2, now=T0 + 4)
    one.seen("client-1", now=T0 + 5)
    one.flush()
    two.flush()
    one.flush()  # again: a process rewrites its totals, it never adds twice
    series = one.series("http:GET:/app/v1/Product")
    assert [(p.start, p.values[0]) for p in series] == [(T0, 3), (T0 + 10, 1)]
    assert abs(series[0].values[1] - 0.040) < 1e-9
    assert one.names("http:*") == ["http:GET:/app/v1/Product"]
    assert set(one.names()) == {"http:GET:/app/v1/Product", "errors:Product", LATENCY}
    assert [p.values for p in two.series("errors:Product")] == [(2, 2)]
    assert one.last_sync(["client-1", "client-2"]) == {"client-1": T0 + 5}
    latency = one.series(LATENCY)[0].values
    assert sum(latency) == 3 and latency[BOUNDS.index(0.005)] == 1 and latency[BOUNDS.index(0.05)] == 1
    one.prune(now=T0 + 45)  # keeps 3 buckets of 10 s: from T0 + 10 on
    assert [p.start for p in two.series("http:GET:/app/v1/Product")] == [T0 + 10]
    assert one.series("never-recorded") == []


def test_percentile_reads_bucket_upper_bounds() -> None:
    counts = [0.0] * (len(BOUNDS) + 1)
    counts[BOUNDS.index(0.01)] = 90
    counts[BOUNDS.index(1.0)] = 10
    histogram = tuple(counts)
    assert (percentile(histogram, 0.5), percentile(histogram, 0.95)) == (0.01, 1.0)
    assert percentile(tuple([0.0] * len(counts)), 0.5) is None
