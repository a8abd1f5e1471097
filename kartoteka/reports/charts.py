"""What each dashboard and report chart shows, with no drawing library: its numbers, series, top-N and
"other", labels in Russian or English, colours and accessible description. Two renderers draw these specs:

- :mod:`kartoteka.reports.page_charts` (pygal) for the dashboard page. A page of ~15 charts is drawn on the
  first view of each filter combination, inside the request; pygal builds the SVG tree directly and takes
  a few ms per bar chart where matplotlib took ~80–430 ms per chart (see docs/benchmarks.md, Dashboard).
- :mod:`kartoteka.reports.pdf_charts` (matplotlib) for the PDF report. fpdf2's SVG renderer does not apply
  CSS stylesheets, and pygal styles everything through a ``<style>`` sheet, so its charts would lose their
  colours in the PDF; matplotlib writes presentation attributes and turns text into paths (no font look-up
  inside an SVG embedded in a PDF). The PDF is drawn once per report, so its cost does not matter.

Both renderers give every chart an accessible name and description (``<title>``/``<desc>`` referenced by
``aria-labelledby``/``aria-describedby``, ids from :func:`chart_ids`) and use the Okabe–Ito palette, which
stays distinguishable for the common forms of colour blindness; the tile map's classes are cividis
(designed for colour-vision deficiency).
"""

from __future__ import annotations

import csv
import math
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

Lang = Literal["ru", "en"]

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
OTHER = "#999999"
TILES_FILE = Path(__file__).resolve().parent.parent / "data" / "region-tiles.csv"
MAX_SERIES = 7  # categories drawn by colour; the rest are summed as "other"
# Five classes of cividis (designed for colour-vision deficiency), dark = few, light = many.
CLASS_COLOURS = ("#00224e", "#3d4d6f", "#7c7b78", "#bcaf6f", "#fee838")
NO_INCIDENTS = "#ffffff"
HIDDEN = "#dddddd"


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str  # markup, safe to inline (built by a library; only our title/desc inserted, escaped)
    title: str
    desc: str


def t(lang: Lang, en: str, ru: str) -> str:
    return ru if lang == "ru" else en


def chart_ids(title: str, desc: str) -> tuple[str, str]:
    """Ids of a chart's <title> and <desc>: stable (the same chart gives the same markup) and distinct per
    chart, so a page of inlined SVGs has no clashing ids."""
    uid = uuid.uuid5(uuid.NAMESPACE_URL, title + desc).hex[:10]
    return f"t{uid}", f"d{uid}"


def no_data(lang: Lang) -> str:
    return t(lang, "No data for these filters", "Нет данных при этих фильтрах")


def _short(label: str, limit: int = 42) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _fmt_desc(lang: Lang, items: Sequence[tuple[str, int]], limit: int = 12) -> str:
    shown = "; ".join(f"{label}: {n}" for label, n in items[:limit])
    more = len(items) - limit
    if more > 0:
        shown += t(lang, f"; and {more} more", f"; и ещё {more}")
    return shown or t(lang, "no data", "нет данных")


# --- the specs: what a renderer draws ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    values: tuple[int, ...]  # one per category of the chart


@dataclass(frozen=True, slots=True)
class Bars:
    """Horizontal bars, largest first, each labelled with its count."""

    title: str
    desc: str
    labels: tuple[str, ...]
    values: tuple[int, ...]
    xlabel: str
    colour: str
    empty: str  # shown instead of bars when there are none


@dataclass(frozen=True, slots=True)
class Months:
    """Incidents per month, stacked by category (series in the order drawn, bottom first)."""

    title: str
    desc: str
    months: tuple[str, ...]  # YYYY-MM
    series: tuple[Series, ...]
    ylabel: str
    empty: str


@dataclass(frozen=True, slots=True)
class Groups:
    """Horizontal stacked bars: one bar per group (first at the top), one segment per series."""

    title: str
    desc: str
    groups: tuple[str, ...]
    series: tuple[Series, ...]
    empty: str


@dataclass(frozen=True, slots=True)
class Offsets:
    """Incidents by week relative to visits: weeks before in one colour, from the visit's week on in
    another, the visit's week marked."""

    title: str
    desc: str
    weeks: tuple[int, ...]
    values: tuple[int, ...]
    before: str  # colour of the weeks before the visit
    after: str
    before_name: str
    after_name: str
    xlabel: str
    ylabel: str
    empty: str


@dataclass(frozen=True, slots=True)
class Tile:
    code: str
    row: int
    col: int
    label: str  # RU codes without "RU-", UA codes whole
    name: str
    shown: str  # the count, "" for none, "—" when suppressed
    face: str
    ink: str  # text colour readable on the face


@dataclass(frozen=True, slots=True)
class Tiles:
    """Russia's regions as equal tiles coloured by class, the occupied regions of Ukraine in a panel of
    their own."""

    title: str
    desc: str
    russia: tuple[Tile, ...]
    ukraine: tuple[Tile, ...]
    russia_caption: str
    ukraine_caption: str
    legend: tuple[tuple[str, str], ...]  # (face colour, text)
    legend_title: str


Spec = Bars | Months | Groups | Offsets | Tiles


# --- the builders: from the selectors' numbers to a spec -------------------------------------------------


def bars(
    items: Sequence[tuple[str, int]], *, title: str, lang: Lang, xlabel: str, colour: str = OKABE_ITO[4]
) -> Bars:
    return Bars(
        title=title,
        desc=_fmt_desc(lang, list(items)),
        labels=tuple(_short(label) for label, _n in items),
        values=tuple(n for _label, n in items),
        xlabel=xlabel,
        colour=colour,
        empty=no_data(lang),
    )


def stacked_months(
    rows: Sequence[tuple[date, str, int]], *, labels: Mapping[str, str], title: str, lang: Lang
) -> Months:
    """The MAX_SERIES most frequent categories by colour, the rest summed as "other"."""
    totals: Counter[str] = Counter()
    for _m, cat, n in rows:
        totals[cat] += n
    top = [c for c, _n in totals.most_common(MAX_SERIES)]
    months = sorted({m for m, _c, _n in rows})
    values: dict[str, list[int]] = {c: [0] * len(months) for c in [*top, "__other"]}
    index = {m: i for i, m in enumerate(months)}
    per_month = [0] * len(months)
    for m, cat, n in rows:
        values[cat if cat in top else "__other"][index[m]] += n
        per_month[index[m]] += n
    series = tuple(
        Series(
            t(lang, "other", "прочее") if cat == "__other" else _short(labels.get(cat, cat), 38),
            OTHER if cat == "__other" else OKABE_ITO[i % len(OKABE_ITO)],
            tuple(vs),
        )
        for i, (cat, vs) in enumerate(values.items())
        if any(vs)
    )
    names = [f"{m:%Y-%m}" for m in months]
    desc = t(lang, "Per month, all categories together: ", "По месяцам, все категории вместе: ")
    desc += _fmt_desc(lang, list(zip(names, per_month, strict=True)), limit=36)
    desc += (
        ". "
        + t(lang, "Categories: ", "Категории: ")
        + _fmt_desc(lang, [(labels.get(c, c), n) for c, n in totals.most_common()])
    )
    return Months(
        title=title,
        desc=desc,
        months=tuple(names),
        series=series,
        ylabel=t(lang, "incidents (by category)", "инциденты (по категориям)"),
        empty=no_data(lang),
    )


def stacked_groups(
    groups: Sequence[tuple[str, Mapping[str, int]]],
    *,
    order: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str] | None = None,
    title: str,
    lang: Lang,
    empty: str | None = None,
) -> Groups:
    """One bar per group (e.g. a quarter, a promise kind), one segment per key in ``order`` (e.g. ledger
    status, recruiter); keys without any count are left out."""
    series = []
    for i, key in enumerate(order):
        values = tuple(counts.get(key, 0) for _g, counts in groups)
        if any(values):
            colour = (colours or {}).get(key, OKABE_ITO[i % len(OKABE_ITO)])
            series.append(Series(labels.get(key, key), colour, values))
    desc = "; ".join(
        f"{g}: " + ", ".join(f"{labels.get(k, k)} {counts[k]}" for k in order if counts.get(k))
        for g, counts in groups
    )
    return Groups(
        title=title,
        desc=desc or t(lang, "no data", "нет данных"),
        groups=tuple(_short(g) for g, _c in groups),
        series=tuple(series),
        empty=empty or no_data(lang),
    )


def visit_offsets(by_offset: Sequence[tuple[int, int]], *, title: str, lang: Lang) -> Offsets:
    before = sum(n for k, n in by_offset if k < 0)
    after = sum(n for k, n in by_offset if k >= 0)
    desc = t(
        lang,
        f"Incidents in the 8 weeks before visits: {before}; from the visit's week on, 8 weeks: {after}. ",
        f"Инцидентов за 8 недель до визитов: {before}; с недели визита, 8 недель: {after}. ",
    ) + _fmt_desc(lang, [(str(k), n) for k, n in by_offset], limit=16)
    return Offsets(
        title=title,
        desc=desc,
        weeks=tuple(k for k, _n in by_offset),
        values=tuple(n for _k, n in by_offset),
        before=OKABE_ITO[4],
        after=OKABE_ITO[5],
        before_name=t(lang, "weeks before the visit", "недели до визита"),
        after_name=t(lang, "from the visit's week on", "с недели визита"),
        xlabel=t(
            lang,
            "weeks relative to the visit (0 = week of the visit)",
            "недели относительно визита (0 — неделя визита)",
        ),
        ylabel=t(lang, "incidents", "инциденты"),
        empty=no_data(lang),
    )


# --- the tile map -----------------------------------------------------------------------------------------


def _classes(peak: int) -> list[int]:
    """Class edges 0 < e1 < … ≤ peak (at most five classes of equal width, whole numbers)."""
    if peak <= 0:
        return [0]
    width = max(1, math.ceil(peak / len(CLASS_COLOURS)))
    edges = [*list(range(0, peak, width)), peak]
    return sorted(set(edges))


def _class_of(n: int, edges: list[int]) -> int:
    if n <= 0:
        return -1
    for i in range(len(edges) - 1):
        if n <= edges[i + 1]:
            return i
    return len(edges) - 2


@lru_cache(maxsize=1)
def tile_layout() -> dict[str, tuple[int, int]]:
    """region code -> (row, col) from data/region-tiles.csv (our own layout, see the file's header)."""
    with TILES_FILE.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {r["code"]: (int(r["row"]), int(r["col"])) for r in rows}


def tile_map(
    counts: Mapping[str, int],
    *,
    names: Mapping[str, str],
    title: str,
    lang: Lang,
    suppressed: frozenset[str] | set[str] = frozenset(),
) -> Tiles:
    """Incidents per region in at most five classes of equal width (cividis; white = none); a suppressed
    region (published as "—") is grey and counted as hidden."""
    layout = tile_layout()
    edges = _classes(max([counts.get(c, 0) for c in layout] + [0]))
    tiles: list[Tile] = []
    for code, (r, c) in layout.items():
        n = counts.get(code, 0)
        cls = _class_of(n, edges)
        face = NO_INCIDENTS if cls < 0 else CLASS_COLOURS[cls]
        shown = str(n) if n else ""
        if code in suppressed:  # drawn like no data, labelled as hidden
            face, cls, shown = HIDDEN, -1, "—"
        ink = "#ffffff" if 0 <= cls <= 1 else "#000000"
        label = code if code.startswith("UA-") else code.removeprefix("RU-")
        tiles.append(Tile(code, r, c, label, names.get(code, code), shown, face, ink))
    legend = [(NO_INCIDENTS, t(lang, "none", "нет"))]
    for i in range(len(edges) - 1):
        lo, hi = edges[i] + 1, edges[i + 1]
        legend.append((CLASS_COLOURS[i], f"{lo}–{hi}" if hi > lo else f"{hi}"))
    if suppressed:
        legend.append((HIDDEN, t(lang, "— hidden (small count)", "— скрыто (малое число)")))
    listed = sorted(
        ((names.get(c, c), counts.get(c, 0)) for c in layout if counts.get(c, 0)), key=lambda x: -x[1]
    )
    desc = t(
        lang,
        "Tile map: one equal square per region, coloured by incidents in five classes (lighter = more). ",
        "Плиточная карта: один одинаковый квадрат на регион, цвет — число инцидентов, "
        "пять классов (светлее — больше). ",
    ) + _fmt_desc(lang, listed, limit=20)
    return Tiles(
        title=title,
        desc=desc,
        russia=tuple(x for x in tiles if x.code.startswith("RU-")),
        ukraine=tuple(x for x in tiles if x.code.startswith("UA-")),
        russia_caption=t(lang, "Russia (ISO 3166-2:RU)", "Россия (ISO 3166-2:RU)"),
        ukraine_caption=t(
            lang, "Occupied regions of Ukraine\n(UA codes)", "Оккупированные регионы\nУкраины (коды UA)"
        ),
        legend=tuple(legend),
        legend_title=t(lang, "incidents", "инциденты"),
    )
