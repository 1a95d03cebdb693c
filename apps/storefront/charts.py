"""Charts drawn on the server as inline SVG: the geometry is computed here, the templates only
write it out as <rect>, <polyline> and <text> with presentation attributes. No script and no
style attribute, so the strict CSP holds; colours come from the stylesheet's classes.

Every chart is a picture of numbers the page also shows as a table: it is never the only way
to read them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

# The drawing area in SVG units; the stylesheet scales the picture to its column.
WIDTH = 480
HEIGHT = 180
LEFT = 40  # room for the value labels
RIGHT = 8
TOP = 12
BOTTOM = 26  # room for the date labels
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BAR_GAP = 0.2  # share of a day's slot left empty between bars


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # shown by browsers on hover


@dataclass(frozen=True)
class GridLine:
    y: float
    label: str


@dataclass(frozen=True)
class DateLabel:
    x: float
    label: str
    anchor: str  # text-anchor: start, middle or end


@dataclass
class DayChart:
    """Bars (or a line) of one figure per day, on a scale that starts at zero."""

    kind: str  # "bars" or "line"
    top: int  # the value at the top of the scale
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    value_label_x: int = LEFT - 6
    plot_right: int = WIDTH - RIGHT
    baseline: float = TOP + PLOT_HEIGHT
    label_y: float = HEIGHT - 8
    bars: list[Bar] = field(default_factory=list)
    overlay: list[Bar] = field(default_factory=list)  # a second figure drawn inside the bars
    points: str = ""  # the polyline of a line chart
    area: str = ""  # the polygon under it
    grid: list[GridLine] = field(default_factory=list)
    dates: list[DateLabel] = field(default_factory=list)


def nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (and at least 1), so
    the scale's labels are round numbers."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def _y(value: float, top: int) -> float:
    return round(TOP + PLOT_HEIGHT * (1 - value / top), 2)


def _grid(top: int) -> list[GridLine]:
    values = [0, top // 2, top] if top % 2 == 0 and top >= 2 else [0, top]
    return [GridLine(y=_y(value, top), label=f"{value:,}") for value in values]


def _dates(days: Sequence[date]) -> list[DateLabel]:
    if not days:
        return []
    slot = PLOT_WIDTH / len(days)
    labels = [DateLabel(x=LEFT, label=_short(days[0]), anchor="start")]
    if len(days) > 2:
        middle = len(days) // 2
        labels.append(DateLabel(x=round(LEFT + slot * (middle + 0.5), 2), label=_short(days[middle]), anchor="middle"))
    if len(days) > 1:
        labels.append(DateLabel(x=LEFT + PLOT_WIDTH, label=_short(days[-1]), anchor="end"))
    return labels


def _short(day: date) -> str:
    return f"{day.day} {day:%b}"


def _bars(days: Sequence[date], values: Sequence[int], top: int, unit: str) -> list[Bar]:
    slot = PLOT_WIDTH / max(len(days), 1)
    width = round(max(slot * (1 - BAR_GAP), 1.0), 2)
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        if not value:
            continue
        y = _y(value, top)
        bars.append(
            Bar(
                x=round(LEFT + slot * index + (slot - width) / 2, 2),
                y=y,
                width=width,
                height=round(TOP + PLOT_HEIGHT - y, 2),
                title=f"{_short(day)}: {value:,} {unit}",
            )
        )
    return bars


def bar_chart(
    days: Sequence[date], values: Sequence[int], *, unit: str, overlay: Sequence[int] = (), overlay_unit: str = ""
) -> DayChart:
    """One bar per day; `overlay` (a part of each value, e.g. the subscriptions that followed a
    trial) is drawn as a second, darker bar inside the first."""
    top = nice_top(max(values, default=0))
    chart = DayChart(kind="bars", top=top, grid=_grid(top), dates=_dates(days))
    chart.bars = _bars(days, values, top, unit)
    if overlay:
        chart.overlay = _bars(days, overlay, top, overlay_unit)
    return chart


def line_chart(days: Sequence[date], values: Sequence[int], *, unit: str) -> DayChart:
    """A step line of a level held from day to day (e.g. active deployments at each day's end),
    with the area under it shaded, and an invisible bar per day that carries the hover text."""
    top = nice_top(max(values, default=0))
    chart = DayChart(kind="line", top=top, grid=_grid(top), dates=_dates(days))
    if not days:
        return chart
    slot = PLOT_WIDTH / len(days)
    points: list[tuple[float, float]] = []
    for index, value in enumerate(values):
        y = _y(value, top)
        points += [(round(LEFT + slot * index, 2), y), (round(LEFT + slot * (index + 1), 2), y)]
    chart.points = " ".join(f"{x},{y}" for x, y in points)
    baseline = TOP + PLOT_HEIGHT
    chart.area = " ".join(f"{x},{y}" for x, y in [(LEFT, baseline), *points, (LEFT + PLOT_WIDTH, baseline)])
    chart.bars = [
        Bar(
            x=round(LEFT + slot * index, 2),
            y=TOP,
            width=round(slot, 2),
            height=PLOT_HEIGHT,
            title=f"{_short(day)}: {value:,} {unit}",
        )
        for index, (day, value) in enumerate(zip(days, values, strict=True))
    ]
    return chart
