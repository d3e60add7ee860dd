"""Small bar charts drawn on the server as SVG, each with its numbers as a table.

One module and one template (``charts/_bar.html``) for every picture of the pages: a group's
members over the months, usage rated per day, the impact of a draft, what a customer paid. The
geometry is worked out here in plain Python; the template only places rectangles and text. No
script and no inline style (the CSP is strict): series take their colours from CSS classes
(``chart-s0`` …, ``chart-neg`` in ``app.css``), everything else is SVG presentation attributes.

It lives in ``groups``, the lowest layer, so every app's pages can draw with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 56
MARGIN_RIGHT = 8
MARGIN_TOP = 10
MARGIN_BOTTOM = 34
PALETTE_SIZE = 6
MAX_X_LABELS = 12

Number = int | float | Decimal


@dataclass(frozen=True)
class Series:
    """One named series: a value per category (``None`` or 0 draws nothing)."""

    label: str
    values: Sequence[Number | None]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str  # the tooltip, read on hover


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    """Everything the template draws, and the table that says the same in numbers."""

    title: str
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)  # y of the horizontal grid lines
    zero_y: float = 0.0
    plot_left: float = MARGIN_LEFT
    plot_right: float = WIDTH - MARGIN_RIGHT
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    empty: bool = False
    note: str = ""


def _nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` grid lines."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def plain(value: Number) -> str:
    """A value with thousands separators; decimals only when it has some (counts stay whole)."""
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return f"{value:,.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    category_header: str = "",
    value_format: Callable[[Number], str] = plain,
    show_total: bool = False,
    note: str = "",
    tick_labels: Sequence[str] | None = None,
) -> Chart:
    """Columns per category; several series stack (positives up, negatives down from zero).

    ``categories`` label the x axis (at most :data:`MAX_X_LABELS` of them are written) and the
    table's rows; each series is a table column, with a "Total" column when ``show_total``.
    """
    chart = Chart(title=title, width=WIDTH, height=HEIGHT, note=note)
    chart.headers = [category_header, *(s.label for s in series)]
    if show_total:
        chart.headers.append("Total")
    count = len(categories)
    tops = [0.0] * count
    bottoms = [0.0] * count
    for s in series:
        for i, value in enumerate(s.values):
            v = float(value or 0)
            if v >= 0:
                tops[i] += v
            else:
                bottoms[i] += v
    high, low = max(tops, default=0.0), min(bottoms, default=0.0)
    for i, category in enumerate(categories):
        values = [s.values[i] for s in series]
        row = [category, *(value_format(v or 0) for v in values)]
        if show_total:
            row.append(value_format(sum((v or 0) for v in values)))
        chart.rows.append(row)
    if len(series) > 1:
        chart.legend = [(_css(n, None), s.label) for n, s in enumerate(series)]
    if count == 0 or (high == 0 and low == 0):
        chart.empty = True
        return chart

    step = _nice_step(high - low)
    if all(isinstance(v, int) for s in series for v in s.values if v is not None):
        step = max(1.0, step)  # counts: no grid line at half a customer
    top = math.ceil(high / step) * step if high > 0 else 0.0
    bottom = math.floor(low / step) * step if low < 0 else 0.0
    plot_top, plot_bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    plot_left, plot_right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT

    def y_of(value: float) -> float:
        return plot_bottom - (value - bottom) / (top - bottom) * (plot_bottom - plot_top)

    chart.zero_y = round(y_of(0.0), 2)
    tick = bottom
    while tick <= top + step / 2:
        y = round(y_of(tick), 2)
        chart.grid.append(y)
        chart.y_ticks.append(Tick(plot_left - 6, y + 4, value_format(_as_value(tick)), "end"))
        tick += step

    slot = (plot_right - plot_left) / count
    width = max(1.0, slot * 0.8)
    label_every = max(1, math.ceil(count / MAX_X_LABELS))
    for i, category in enumerate(categories):
        x = plot_left + i * slot + (slot - width) / 2
        up, down = 0.0, 0.0
        for n, s in enumerate(series):
            v = float(s.values[i] or 0)
            if v == 0:
                continue
            start, end = (up, up + v) if v > 0 else (down + v, down)
            if v > 0:
                up += v
            else:
                down += v
            y_top, y_bottom = y_of(end), y_of(start)
            chart.bars.append(
                Bar(
                    round(x, 2),
                    round(y_top, 2),
                    round(width, 2),
                    round(max(0.5, y_bottom - y_top), 2),
                    _css(n, v),
                    f"{category}: {s.label + ' ' if len(series) > 1 else ''}"
                    f"{value_format(s.values[i])}",
                )
            )
        if i % label_every == 0:
            text = tick_labels[i] if tick_labels is not None else category
            chart.x_ticks.append(Tick(round(x + width / 2, 2), HEIGHT - MARGIN_BOTTOM + 16, text))
    return chart


def _css(position: int, value: float | None) -> str:
    if value is not None and value < 0 and position == 0:
        return "chart-neg"
    return f"chart-s{position % PALETTE_SIZE}"


def _as_value(tick: float) -> Number:
    return int(tick) if float(tick).is_integer() else Decimal(str(round(tick, 2)))


def histogram(
    values: Sequence[Number],
    *,
    title: str,
    bins: int = 10,
    value_format: Callable[[Number], str] = plain,
    category_header: str = "Range",
    count_label: str = "Customers",
) -> Chart:
    """How many values fall in each of ``bins`` equal ranges (the distribution of changes)."""
    if not values:
        return bar_chart(title=title, categories=[], series=[], category_header=category_header)
    low, high = float(min(values)), float(max(values))
    if low == high:
        labels = [value_format(_as_value(low))]
        ticks = labels
        counts = [len(values)]
    else:
        width = (high - low) / bins
        counts = [0] * bins
        for value in values:
            index = min(bins - 1, int((float(value) - low) / width))
            counts[index] += 1
        labels = [
            f"{value_format(_as_value(low + i * width))} to "
            f"{value_format(_as_value(low + (i + 1) * width))}"
            for i in range(bins)
        ]
        ticks = [value_format(_as_value(low + i * width)) for i in range(bins)]
    return bar_chart(
        title=title,
        categories=labels,
        series=[Series(count_label, counts)],
        category_header=category_header,
        tick_labels=ticks,
    )
