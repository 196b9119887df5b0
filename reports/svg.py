"""Inline SVG charts generated in Python: no chart library, no script, every label escaped.

Each function returns ``Markup`` (safe to insert into an autoescaped template) and
escapes every string it is given, including tooltips (``<title>``) and labels
(``<text>``). Values are plain floats; ``None`` and NaN draw nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = 12
CHAR_W = 7.0  # approximate width of one character at FONT px (labels are cut to fit)
MODE_COLOURS = {
    "answer": "#9aa5b1",
    "refusal": "#d64545",
    "partial_refusal": "#f29b9b",
    "code": "#3b7dd8",
    "tool_call": "#8e5bd6",
    "rebuttal": "#e8903a",
    "fiction": "#2fa58a",
    "empty": "#52606d",
}
SERIES_COLOURS = ("#3b7dd8", "#e8903a", "#2fa58a", "#8e5bd6", "#d64545", "#9aa5b1", "#c0a000")


def series_colour(index: int) -> str:
    """The colour of series ``index`` (the palette repeats)."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def mode_colour(mode: str) -> str:
    """The colour of a behaviour mode (grey for an unknown one)."""
    return MODE_COLOURS.get(mode, "#bcccdc")


def _ok(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, label: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" '
        f'font-size="{FONT}"{extra}>{escape(text)}</text>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(max(w, 0))}" height="{_num(h)}" '
        f'fill="{escape(fill)}">{title}</rect>'
    )


def _blue(value: float) -> str:
    """Pale grey (0) to dark blue (1)."""
    v = min(max(value, 0.0), 1.0)
    low, high = (240, 244, 248), (8, 69, 148)
    r, g, b = (round(a + (b - a) * v) for a, b in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    values: Mapping[tuple[str, str], float],
    *,
    label: str,
    tooltip: Callable[[str, str, float], str],
    cell: int = 42,
) -> Markup:
    """A rows x cols grid of shares in [0, 1], darker is higher, percent in each cell."""
    left = min(max((len(r) for r in rows), default=4), 40) * CHAR_W + 10
    top = min(max((len(c) for c in cols), default=4), 24) * CHAR_W * 0.72 + 16
    height_cell = 22
    right = min(len(cols[-1]), 24) * CHAR_W * 0.72 + 10 if cols else 10
    width = left + cell * len(cols) + right
    height = top + height_cell * len(rows) + 6
    body = []
    for j, col in enumerate(cols):
        x, y = left + j * cell + cell / 2, top - 6
        body.append(
            f'<text x="{_num(x)}" y="{_num(y)}" font-size="{FONT}" text-anchor="start" '
            f'transform="rotate(-45 {_num(x)} {_num(y)})"><title>{escape(col)}</title>'
            f"{escape(_cut(col, 24))}</text>"
        )
    for i, row in enumerate(rows):
        y = top + i * height_cell
        body.append(
            f'<text x="{_num(left - 6)}" y="{_num(y + 15)}" font-size="{FONT}" '
            f'text-anchor="end"><title>{escape(row)}</title>{escape(_cut(row, 40))}</text>'
        )
        for j, col in enumerate(cols):
            value = values.get((row, col))
            x = left + j * cell
            if not _ok(value):
                body.append(_rect(x + 1, y + 1, cell - 2, height_cell - 2, "#f5f7fa"))
                continue
            tip = tooltip(row, col, value)
            body.append(_rect(x + 1, y + 1, cell - 2, height_cell - 2, _blue(value), tip))
            if value >= 0.005:
                colour = "#ffffff" if value > 0.55 else "#1f2933"
                extra = f' fill="{colour}" pointer-events="none"'
                body.append(_text(x + cell / 2, y + 15, f"{value * 100:.0f}", "middle", extra))
    return _svg(width, height, label, body)


def stacked_bar(
    parts: Sequence[tuple[str, float]], *, label: str, width: int = 180, height: int = 14
) -> Markup:
    """One bar split into modes (shares summing to about 1), coloured by mode."""
    body, x = [], 0.0
    total = sum(v for _, v in parts if _ok(v)) or 1.0
    for mode, share in parts:
        if not _ok(share) or share <= 0:
            continue
        w = width * share / total
        body.append(_rect(x, 0, w, height, mode_colour(mode), f"{mode}: {share * 100:.1f}%"))
        x += w
    return _svg(width, height, label, body)


@dataclass(frozen=True)
class Bar:
    """One bar: a value with an optional interval and tooltip."""

    value: float | None
    low: float | None = None
    high: float | None = None
    tip: str = ""


def _value_label(value: float, percent: bool) -> str:
    return f"{value * 100:.0f}%" if percent else f"{value:.2f}"


def grouped_bars(
    categories: Sequence[str],
    series: Sequence[str],
    bars: Mapping[tuple[str, str], Bar],
    *,
    label: str,
    max_value: float | None = None,
    percent: bool = True,
    colours: Sequence[str] | None = None,
    plot_width: int = 420,
) -> Markup:
    """Horizontal bars: one group per category, one bar per series, whiskers for intervals.

    Bars start at zero; negative values (an R^2 below zero) extend to the left of it.
    """
    colours = list(colours or [series_colour(i) for i in range(len(series))])
    ends = [v for b in bars.values() for v in (b.value, b.low, b.high) if _ok(v)]
    top_value = max_value or max([*ends, 1e-9])
    low_value = min([*ends, 0.0])
    left = min(max((len(c) for c in categories), default=4), 40) * CHAR_W + 12
    bar_h, gap = 14, 10
    legend_h = 22 if len(series) > 1 else 0
    group_h = bar_h * len(series) + gap
    width = left + plot_width + 70
    height = legend_h + group_h * len(categories) + 22
    scale = plot_width / (top_value - low_value)

    def x_of(value: float) -> float:
        return left + (value - low_value) * scale

    zero = x_of(0.0)
    body = []
    if legend_h:
        x = left
        for k, name in enumerate(series):
            body.append(_rect(x, 4, 12, 12, colours[k]))
            body.append(_text(x + 16, 14, _cut(name, 24)))
            x += 16 + min(len(name), 24) * CHAR_W + 18
    for i, category in enumerate(categories):
        y0 = legend_h + i * group_h
        body.append(
            f'<text x="{_num(left - 6)}" y="{_num(y0 + group_h / 2 + 2)}" font-size="{FONT}" '
            f'text-anchor="end"><title>{escape(category)}</title>'
            f"{escape(_cut(category, 40))}</text>"
        )
        for k, name in enumerate(series):
            bar = bars.get((category, name))
            if bar is None or not _ok(bar.value):
                continue
            y = y0 + k * bar_h
            tip = bar.tip or f"{category} / {name}: {bar.value:.3f}"
            start, stop = sorted((zero, x_of(bar.value)))
            body.append(_rect(start, y + 1, stop - start, bar_h - 2, colours[k], tip))
            if _ok(bar.low) and _ok(bar.high):
                lo, hi = x_of(bar.low), x_of(bar.high)
                mid = y + bar_h / 2
                body.append(
                    f'<path d="M{_num(lo)} {_num(mid)}H{_num(hi)}M{_num(lo)} {_num(mid - 4)}'
                    f'V{_num(mid + 4)}M{_num(hi)} {_num(mid - 4)}V{_num(mid + 4)}" '
                    f'stroke="#1f2933" stroke-width="1" fill="none"/>'
                )
            end = max(stop, x_of(bar.high) if _ok(bar.high) else stop)
            shown = _value_label(bar.value, percent)
            body.append(_text(end + 4, y + bar_h - 3, shown, extra=' fill="#3e4c59"'))
    axis_y = legend_h + group_h * len(categories) + 2
    body.append(
        f'<path d="M{_num(zero)} {_num(legend_h)}V{_num(axis_y)}" stroke="#9aa5b1" fill="none"/>'
    )
    ticks = [(low_value, _value_label(low_value, percent))] if low_value < 0 else []
    ticks += [(0.0, "0"), (top_value, _value_label(top_value, percent))]
    for value, text in ticks:
        body.append(_text(x_of(value), axis_y + 14, text, "middle", ' fill="#7b8794"'))
    return _svg(width, height, label, body)


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot."""

    label: str
    effect: float | None
    low: float | None
    high: float | None
    highlight: bool = False
    tip: str = ""


def forest(items: Sequence[Interval], *, label: str, plot_width: int = 380) -> Markup:
    """Effects with 95% intervals on a shared axis with a zero line (highlighted = confirmed)."""
    finite = [v for it in items for v in (it.effect, it.low, it.high) if _ok(v)]
    lo_axis = math.floor(min([0.0, *finite]) * 10) / 10
    hi_axis = math.ceil(max([0.0, *finite]) * 10) / 10 or 1.0
    span = (hi_axis - lo_axis) or 1.0
    left = min(max((len(it.label) for it in items), default=4), 34) * CHAR_W + 12
    row_h = 22
    width = left + plot_width + 60
    height = row_h * len(items) + 30

    def x_of(v: float) -> float:
        return left + (v - lo_axis) / span * plot_width

    body = [
        f'<path d="M{_num(x_of(0))} 0V{_num(row_h * len(items) + 4)}" stroke="#9aa5b1" '
        f'stroke-dasharray="3 3" fill="none"/>'
    ]
    for i, it in enumerate(items):
        y = i * row_h + row_h / 2
        colour = "#d64545" if it.highlight else "#7b8794"
        body.append(
            f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" font-size="{FONT}" text-anchor="end">'
            f"<title>{escape(it.label)}</title>{escape(_cut(it.label, 34))}</text>"
        )
        tip = f"<title>{escape(it.tip)}</title>" if it.tip else ""
        if _ok(it.low) and _ok(it.high):
            body.append(
                f'<path d="M{_num(x_of(it.low))} {_num(y)}H{_num(x_of(it.high))}" '
                f'stroke="{colour}" stroke-width="2" fill="none">{tip}</path>'
            )
        if _ok(it.effect):
            body.append(
                f'<circle cx="{_num(x_of(it.effect))}" cy="{_num(y)}" r="5" fill="{colour}">'
                f"{tip}</circle>"
            )
            body.append(_text(left + plot_width + 8, y + 4, f"{it.effect:+.2f}"))
    axis_y = row_h * len(items) + 18
    for v in (lo_axis, 0.0, hi_axis):
        body.append(_text(x_of(v), axis_y, f"{v:+.1f}" if v else "0", "middle", ' fill="#7b8794"'))
    return _svg(width, height, label, body)
