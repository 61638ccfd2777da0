"""The console's stats charts: inline SVG drawn on the server (no script, no CDN)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from rhom.server.stats import LATENCY, Point, Stats, percentile

__all__ = ["Report", "line_chart", "report"]

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 220, 56, 12, 28, 40


@dataclass
class Report:
    """What the stats page shows: the charts and a table per source."""

    charts: list[str] = field(default_factory=list)
    sources: list[dict[str, object]] = field(default_factory=list)
    totals: dict[str, object] = field(default_factory=dict)


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M", time.gmtime(epoch))


def line_chart(
    chart_id: str, title: str, unit: str, lines: dict[str, list[tuple[float, float]]], since: float, until: float
) -> str:
    """An SVG line chart of ``lines`` (label → (time, value) points) over [since, until]."""
    peak = max((v for points in lines.values() for _, v in points), default=0.0) or 1.0
    span = max(until - since, 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def xy(t: float, v: float) -> str:
        x = LEFT + (t - since) / span * inner_w
        y = TOP + inner_h - v / peak * inner_h
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - RIGHT}" y2="{TOP + inner_h}" stroke="#9ca3af"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + inner_h}" stroke="#9ca3af"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" font-size="11" text-anchor="end">{_number(peak)}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + inner_h}" font-size="11" text-anchor="end">0</text>',
        f'<text x="{LEFT - 6}" y="{TOP + inner_h / 2}" font-size="11" text-anchor="end">{escape(unit)}</text>',
        f'<text x="{LEFT}" y="{TOP + inner_h + 16}" font-size="11">{_clock(since)}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{TOP + inner_h + 16}" font-size="11" text-anchor="end">'
        f"{_clock(until)} UTC</text>",
    ]
    if not any(lines.values()):
        parts.append(
            f'<text x="{LEFT + inner_w / 2}" y="{TOP + inner_h / 2}" font-size="12" '
            'text-anchor="middle" fill="#6b7280">no data in this range</text>'
        )
    legend_x = LEFT
    for i, (label, points) in enumerate(sorted(lines.items())):
        color = COLORS[i % len(COLORS)]
        if points:
            coords = " ".join(xy(t, v) for t, v in points)
            parts.append(
                f'<polyline class="series" data-label="{escape(label)}" fill="none" stroke="{color}" '
                f'stroke-width="2" points="{coords}"/>'
            )
            for t, v in points:
                cx, cy = xy(t, v).split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"><title>{_number(v)}</title></circle>')
        base = HEIGHT - 8
        parts.append(f'<rect x="{legend_x}" y="{base - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{base}" font-size="11">{escape(label)}</text>')
        legend_x += 24 + 7 * len(label)
    parts.append("</svg>")
    return "".join(parts)


def _mid(point: Point, resolution: int) -> float:
    return point.start + resolution / 2


def report(stats: Stats, sources: Sequence[str], since: float) -> Report:
    """The stats page for the buckets from ``since`` on."""
    until = time.time()
    res = stats.resolution
    out = Report()
    per_bucket: dict[int, float] = {}
    requests = 0.0
    http = {metric: stats.series(metric, since) for metric in stats.names("http:*")}
    for points in http.values():
        for point in points:
            per_bucket[point.start] = per_bucket.get(point.start, 0.0) + point.values[0]
            requests += point.values[0]
    rate = [(p + res / 2, count / res) for p, count in sorted(per_bucket.items())]
    out.charts.append(line_chart("requests", "Requests per second", "req/s", {"all routes": rate}, since, until))

    latency = stats.series(LATENCY, since)
    lines: dict[str, list[tuple[float, float]]] = {"p50": [], "p95": [], "p99": []}
    merged = [0.0] * (len(latency[0].values) if latency else 0)
    for point in latency:
        for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            value = percentile(point.values, fraction)
            if value is not None:
                lines[name].append((_mid(point, res), value * 1000))
        merged = [a + b for a, b in zip(merged, point.values, strict=True)]
    out.charts.append(line_chart("latency", "Request latency (bucket upper bounds)", "ms", lines, since, until))

    syncs: dict[str, list[tuple[float, float]]] = {}
    errors: dict[str, list[tuple[float, float]]] = {}
    for name in sources:
        query = http.get(f"http:GET:/app/v1/{name}", [])  # read once, above
        failed = stats.series(f"errors:{name}", since)
        syncs[name] = [(_mid(p, res), p.values[0]) for p in query]
        errors[name] = [(_mid(p, res), p.values[0]) for p in failed]
        seconds = sum(p.values[1] for p in query)
        count = sum(p.values[0] for p in query)
        out.sources.append(
            {
                "name": name,
                "syncs": int(count),
                "errors": int(sum(p.values[0] for p in failed)),
                "mean_ms": (seconds / count * 1000) if count else None,
            }
        )
    out.charts.append(line_chart("syncs", "Sync queries per source (per bucket)", "queries", syncs, since, until))
    out.charts.append(line_chart("errors", "Adapter errors per source (per bucket)", "errors", errors, since, until))
    total = tuple(merged)
    out.totals = {
        "requests": int(requests),
        "p50": percentile(total, 0.5),
        "p95": percentile(total, 0.95),
        "p99": percentile(total, 0.99),
    }
    return out
