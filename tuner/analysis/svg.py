"""Small charts as inline SVG text, for the report page: no library, no script, no file beside
the page; a browser draws them at once and they scale with the window."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Series", "chart"]

WIDTH, HEIGHT, MARGIN = 640, 260, 44
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f")


@dataclass(frozen=True)
class Series:
    """Points of one chart series: ``xs``/``ys`` (equal lengths), drawn as a line or as dots."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    line: bool = True
    colour: str | None = None
    labels: Sequence[str] = field(default_factory=tuple)  # a tooltip per point


def _bounds(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if math.isclose(low, high):
        low, high = low - 0.5, high + 0.5
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def chart(series: list[Series], x_label: str, y_label: str, title: str = "") -> str:
    """One chart of ``series`` with axes, ticks and a legend, as an ``<svg>`` element."""
    points = [(x, y) for s in series for x, y in zip(s.xs, s.ys, strict=True) if math.isfinite(y)]
    if not points:
        return f'<p class="empty">{html.escape(title or y_label)}: nothing to draw yet.</p>'
    (x0, x1), (y0, y1) = _bounds([p[0] for p in points]), _bounds([p[1] for p in points])

    def sx(x):
        return MARGIN + (x - x0) / (x1 - x0) * (WIDTH - 2 * MARGIN)

    def sy(y):
        return HEIGHT - MARGIN + 10 - (y - y0) / (y1 - y0) * (HEIGHT - 2 * MARGIN)

    parts = [_axes(x0, x1, y0, y1, sx, sy, x_label, y_label)]
    for i, s in enumerate(series):
        parts.append(_series(s, s.colour or COLOURS[i % len(COLOURS)], sx, sy))
    parts.append(_legend(series))
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 20}" role="img" '
        f'aria-label="{html.escape(title or y_label)}">{head}{"".join(parts)}</svg>'
    )


def _axes(x0, x1, y0, y1, sx, sy, x_label: str, y_label: str) -> str:
    bottom, left = HEIGHT - MARGIN + 10, MARGIN
    out = [
        f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - MARGIN}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{MARGIN - 10}" x2="{left}" y2="{bottom}" stroke="#999"/>',
    ]
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{bottom + 14}" class="tick" '
                   f'text-anchor="middle">{_fmt(t)}</text>')  # fmt: skip
    for t in _ticks(y0, y1):
        out.append(f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" class="tick" '
                   f'text-anchor="end">{_fmt(t)}</text>')  # fmt: skip
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{WIDTH - MARGIN}" y2="{sy(t):.1f}" '
                   'stroke="#eee"/>')  # fmt: skip
    out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT + 16}" text-anchor="middle" class="axis">'
               f"{html.escape(x_label)}</text>")  # fmt: skip
    out.append(f'<text x="12" y="{HEIGHT / 2}" text-anchor="middle" class="axis" '
               f'transform="rotate(-90 12 {HEIGHT / 2})">{html.escape(y_label)}</text>')  # fmt: skip
    return "".join(out)


def _series(s: Series, colour: str, sx, sy) -> str:
    pairs = [(x, y) for x, y in zip(s.xs, s.ys, strict=True) if math.isfinite(y)]
    if s.line and len(pairs) > 1:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pairs)
        return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
    labels = list(s.labels) or [""] * len(s.xs)
    dots = []
    for x, y, label in zip(s.xs, s.ys, labels, strict=True):
        if math.isfinite(y):
            tip = f"<title>{html.escape(label)}</title>" if label else ""
            dots.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{colour}" '
                        f'fill-opacity="0.75">{tip}</circle>')  # fmt: skip
    return "".join(dots)


def _legend(series: list[Series]) -> str:
    """One entry per name: series that share a name (and a colour) share an entry."""
    out, named = [], {}
    for i, s in enumerate(series):
        named.setdefault(s.name, s.colour or COLOURS[i % len(COLOURS)])
    for i, (name, colour) in enumerate(named.items()):
        x = MARGIN + 8 + 150 * (i % 4)
        y = 14 + 14 * (i // 4)
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{y + 1}" class="legend">{html.escape(name)}</text>')  # fmt: skip
    return "".join(out)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values between ``low`` and ``high``."""
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next((m for m in (1, 2, 5, 10) if raw <= m * step), 10)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.4g}"
