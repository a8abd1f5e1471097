"""Charts drawn on the server by matplotlib (Agg/SVG backends, no pyplot global state), as SVG markup.

Every chart gets an accessible name and description (``<title>``/``<desc>`` referenced by
``aria-labelledby``/``aria-describedby``), labels in Russian or English, and the Okabe–Ito palette, which
stays distinguishable for the common forms of colour blindness; sequential scales use cividis (designed
for colour-vision deficiency). Page charts keep their text as text (selectable, read by screen readers);
PDF charts turn text into paths, so the PDF needs no font lookup inside an SVG.
"""

from __future__ import annotations

import csv
import io
import math
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: no display, no GUI toolkit

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

Lang = Literal["ru", "en"]

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
OTHER = "#999999"
TILES_FILE = Path(__file__).resolve().parent.parent / "data" / "region-tiles.csv"
MAX_SERIES = 7  # categories drawn by colour; the rest are summed as "other"


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str  # markup, safe to inline (built by matplotlib; only our title/desc inserted, escaped)
    title: str
    desc: str


def _rc(text_as_paths: bool) -> Any:  # matplotlib's stubs type the keys as one long Literal
    return {
        "svg.fonttype": "path" if text_as_paths else "none",
        "svg.hashsalt": "kartoteka",  # stable ids: the same data gives byte-identical charts
        "font.family": "DejaVu Sans",  # ships inside matplotlib, has Cyrillic
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def _finish(fig: Figure, title: str, desc: str, *, text_as_paths: bool) -> Chart:
    buffer = io.StringIO()
    with rc_context(_rc(text_as_paths)):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    raw = buffer.getvalue()
    markup = raw[raw.index("<svg") :]
    uid = uuid.uuid5(uuid.NAMESPACE_URL, title + desc).hex[:10]
    opening = _SVG_OPEN.search(markup)
    assert opening is not None
    head = opening.group(0)[:-1] + f' role="img" aria-labelledby="t{uid}" aria-describedby="d{uid}">'
    accessible = f'<title id="t{uid}">{escape(title)}</title><desc id="d{uid}">{escape(desc)}</desc>'
    return Chart(head + accessible + markup[opening.end() :], title, desc)


def _figure(width: float, height: float) -> Figure:
    with rc_context(_rc(False)):
        return Figure(figsize=(width, height), layout=None)


def _short(label: str, limit: int = 42) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _margins(fig: Figure, labels: Sequence[str], *, width: float, right: float = 0.97) -> None:
    """Room on the left for the longest category label (no layout engine: it costs more than the chart)."""
    longest = max((len(label) for label in labels), default=4)
    left = min(0.5, 0.04 + longest * 0.075 / width)
    fig.subplots_adjust(left=left, right=right, top=0.9, bottom=0.12)


def _empty(ax: object, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")  # type: ignore[attr-defined]
    ax.set_axis_off()  # type: ignore[attr-defined]


def t(lang: Lang, en: str, ru: str) -> str:
    return ru if lang == "ru" else en


def _fmt_desc(lang: Lang, items: Sequence[tuple[str, int]], limit: int = 12) -> str:
    shown = "; ".join(f"{label}: {n}" for label, n in items[:limit])
    more = len(items) - limit
    if more > 0:
        shown += t(lang, f"; and {more} more", f"; и ещё {more}")
    return shown or t(lang, "no data", "нет данных")


def bars(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    lang: Lang,
    xlabel: str,
    text_as_paths: bool = False,
    colour: str = OKABE_ITO[4],
) -> Chart:
    """Horizontal bars, largest at the top, each labelled with its count."""
    height = 0.9 + 0.3 * max(3, len(items))
    fig = _figure(7.2, height)
    labels = [_short(label) for label, _n in items][::-1]
    _margins(fig, labels, width=7.2)
    fig.subplots_adjust(bottom=0.45 / height + 0.05, top=1 - 0.35 / height)
    with rc_context(_rc(text_as_paths)):
        ax = fig.add_subplot()
        if not items:
            _empty(ax, t(lang, "No data for these filters", "Нет данных при этих фильтрах"))
        else:
            values = [n for _label, n in items][::-1]
            drawn = ax.barh(labels, values, color=colour)
            ax.bar_label(drawn, padding=3)
            ax.set_xlabel(xlabel)
            ax.margins(x=0.12)
        ax.set_title(title, loc="left")
    return _finish(fig, title, _fmt_desc(lang, list(items)), text_as_paths=text_as_paths)


def stacked_months(
    rows: Sequence[tuple[date, str, int]],
    *,
    labels: Mapping[str, str],
    title: str,
    lang: Lang,
    text_as_paths: bool = False,
) -> Chart:
    """Incidents per month, stacked by category (the MAX_SERIES most frequent; the rest as "other")."""
    totals: Counter[str] = Counter()
    for _m, cat, n in rows:
        totals[cat] += n
    top = [c for c, _n in totals.most_common(MAX_SERIES)]
    months = sorted({m for m, _c, _n in rows})
    series: dict[str, list[int]] = {c: [0] * len(months) for c in [*top, "__other"]}
    index = {m: i for i, m in enumerate(months)}
    for m, cat, n in rows:
        series[cat if cat in top else "__other"][index[m]] += n
    fig = _figure(8.4, 3.8)
    fig.subplots_adjust(left=0.08, right=0.66, top=0.9, bottom=0.2)
    with rc_context(_rc(text_as_paths)):
        ax = fig.add_subplot()
        if not months:
            _empty(ax, t(lang, "No data for these filters", "Нет данных при этих фильтрах"))
        else:
            x = list(range(len(months)))
            bottom = [0] * len(months)
            for i, (cat, values) in enumerate(series.items()):
                if not any(values):
                    continue
                name = t(lang, "other", "прочее") if cat == "__other" else _short(labels.get(cat, cat), 38)
                colour = OTHER if cat == "__other" else OKABE_ITO[i % len(OKABE_ITO)]
                ax.bar(x, values, bottom=bottom, color=colour, label=name, width=0.85)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            step = max(1, len(months) // 12)
            ax.set_xticks(x[::step], [f"{m:%Y-%m}" for m in months][::step], rotation=45, ha="right")
            ax.set_ylabel(t(lang, "incidents (by category)", "инциденты (по категориям)"))
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title(title, loc="left")
    per_month = [(f"{m:%Y-%m}", sum(n for mm, _c, n in rows if mm == m)) for m in months]
    desc = t(lang, "Per month, all categories together: ", "По месяцам, все категории вместе: ")
    desc += _fmt_desc(lang, per_month, limit=36)
    desc += (
        ". "
        + t(lang, "Categories: ", "Категории: ")
        + _fmt_desc(lang, [(labels.get(c, c), n) for c, n in totals.most_common()])
    )
    return _finish(fig, title, desc, text_as_paths=text_as_paths)


def stacked_groups(
    groups: Sequence[tuple[str, Mapping[str, int]]],
    *,
    order: Sequence[str],
    labels: Mapping[str, str],
    colours: Mapping[str, str] | None = None,
    title: str,
    lang: Lang,
    text_as_paths: bool = False,
    empty: str | None = None,
) -> Chart:
    """Horizontal stacked bars: one bar per group, one segment per key (e.g. ledger status, recruiter)."""
    height = 1.0 + 0.32 * max(4, len(groups))
    fig = _figure(8.4, height)
    _margins(fig, [_short(g) for g, _c in groups], width=8.4, right=0.74)
    fig.subplots_adjust(bottom=0.3 / height + 0.03, top=1 - 0.35 / height)
    with rc_context(_rc(text_as_paths)):
        ax = fig.add_subplot()
        if not any(v for _g, counts in groups for v in counts.values()):
            _empty(ax, empty or t(lang, "No data for these filters", "Нет данных при этих фильтрах"))
        else:
            names = [_short(g) for g, _c in groups][::-1]
            left = [0] * len(groups)
            for i, key in enumerate(order):
                values = [counts.get(key, 0) for _g, counts in groups][::-1]
                if not any(values):
                    continue
                colour = (colours or {}).get(key, OKABE_ITO[i % len(OKABE_ITO)])
                ax.barh(names, values, left=left, color=colour, label=labels.get(key, key))
                left = [a + b for a, b in zip(left, values, strict=True)]
            if any(left):
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
            ax.margins(x=0.05)
        ax.set_title(title, loc="left")
    desc = "; ".join(
        f"{g}: " + ", ".join(f"{labels.get(k, k)} {counts[k]}" for k in order if counts.get(k))
        for g, counts in groups
    )
    return _finish(fig, title, desc or t(lang, "no data", "нет данных"), text_as_paths=text_as_paths)


def visit_offsets(
    by_offset: Sequence[tuple[int, int]], *, title: str, lang: Lang, text_as_paths: bool = False
) -> Chart:
    """Incidents by week relative to recruitment visits, summed across visits: before in blue, after in
    vermillion, the visit's week marked."""
    fig = _figure(7.2, 3.0)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.18)
    with rc_context(_rc(text_as_paths)):
        ax = fig.add_subplot()
        ks = [k for k, _n in by_offset]
        ns = [n for _k, n in by_offset]
        colours = [OKABE_ITO[4] if k < 0 else OKABE_ITO[5] for k in ks]
        drawn = ax.bar(ks, ns, color=colours, width=0.8)
        ax.bar_label(drawn, padding=2, fontsize=7)
        ax.axvline(-0.5, color="#000000", linestyle="--", linewidth=1)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel(
            t(
                lang,
                "weeks relative to the visit (0 = week of the visit)",
                "недели относительно визита (0 — неделя визита)",
            )
        )
        ax.set_ylabel(t(lang, "incidents", "инциденты"))
        ax.set_title(title, loc="left")
    before = sum(n for k, n in by_offset if k < 0)
    after = sum(n for k, n in by_offset if k >= 0)
    desc = t(
        lang,
        f"Incidents in the 8 weeks before visits: {before}; from the visit's week on, 8 weeks: {after}. ",
        f"Инцидентов за 8 недель до визитов: {before}; с недели визита, 8 недель: {after}. ",
    ) + _fmt_desc(lang, [(str(k), n) for k, n in by_offset], limit=16)
    return _finish(fig, title, desc, text_as_paths=text_as_paths)


# --- the tile map -----------------------------------------------------------------------------------------


# Five classes of cividis (designed for colour-vision deficiency), dark = few, light = many.
CLASS_COLOURS = ("#00224e", "#3d4d6f", "#7c7b78", "#bcaf6f", "#fee838")


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
    text_as_paths: bool = False,
) -> Chart:
    """Russia's regions as equal tiles coloured by incidents (cividis; white = none), and the occupied
    regions of Ukraine under their UA codes in a panel of their own."""
    layout = tile_layout()
    russia = {c: rc for c, rc in layout.items() if c.startswith("RU-")}
    ukraine = {c: rc for c, rc in layout.items() if c.startswith("UA-")}
    edges = _classes(max([counts.get(c, 0) for c in layout] + [0]))
    fig = _figure(9.0, 5.6)
    with rc_context(_rc(text_as_paths)):
        grid = fig.add_gridspec(1, 2, width_ratios=[19, 4.5], left=0.01, right=0.99, top=0.9, bottom=0.02)
        ax_ru = fig.add_subplot(grid[0, 0])
        ax_ua = fig.add_subplot(grid[0, 1])
        for ax, tiles, caption in (
            (ax_ru, russia, t(lang, "Russia (ISO 3166-2:RU)", "Россия (ISO 3166-2:RU)")),
            (
                ax_ua,
                ukraine,
                t(
                    lang,
                    "Occupied regions of Ukraine\n(UA codes)",
                    "Оккупированные регионы\nУкраины (коды UA)",
                ),
            ),
        ):
            for code, (r, c) in tiles.items():
                n = counts.get(code, 0)
                cls = _class_of(n, edges)
                face = "#ffffff" if cls < 0 else CLASS_COLOURS[cls]
                if code in suppressed:  # published as "—": drawn like no data, labelled as hidden
                    face, n, cls = "#dddddd", 0, -1
                ax.add_patch(
                    Rectangle((c, -r), 0.94, 0.94, facecolor=face, edgecolor="#555555", linewidth=0.6)
                )
                ink = "#ffffff" if 0 <= cls <= 1 else "#000000"
                label = code if code.startswith("UA-") else code[3:]
                ax.text(c + 0.47, -r + 0.62, label, ha="center", va="center", fontsize=6, color=ink)
                shown = "—" if code in suppressed else (str(n) if n else "")
                ax.text(c + 0.47, -r + 0.28, shown, ha="center", va="center", fontsize=6, color=ink)
            cols = max(c for _r, c in tiles.values()) + 1
            rows = max(r for r, _c in tiles.values()) + 1
            ax.set_xlim(-0.1, max(cols, 4) + 0.1)
            ax.set_ylim(-max(rows, 10) + 0.85, 1.1)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(caption, fontsize=8, loc="left")
        handles = [Rectangle((0, 0), 1, 1, facecolor="#ffffff", edgecolor="#555555")]
        names_ = [t(lang, "none", "нет")]
        for i in range(len(edges) - 1):
            lo, hi = edges[i] + 1, edges[i + 1]
            handles.append(Rectangle((0, 0), 1, 1, facecolor=CLASS_COLOURS[i], edgecolor="#555555"))
            names_.append(f"{lo}–{hi}" if hi > lo else f"{hi}")
        if suppressed:
            handles.append(Rectangle((0, 0), 1, 1, facecolor="#dddddd", edgecolor="#555555"))
            names_.append(t(lang, "— hidden (small count)", "— скрыто (малое число)"))
        ax_ua.legend(
            handles,
            names_,
            title=t(lang, "incidents", "инциденты"),
            loc="lower left",
            fontsize=7,
            title_fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.0, 0.0),
        )
        fig.suptitle(title, x=0.01, ha="left")
    listed = sorted(
        ((names.get(c, c), counts.get(c, 0)) for c in layout if counts.get(c, 0)), key=lambda x: -x[1]
    )
    desc = t(
        lang,
        "Tile map: one equal square per region, coloured by incidents in five classes (lighter = more). ",
        "Плиточная карта: один одинаковый квадрат на регион, цвет — число инцидентов, "
        "пять классов (светлее — больше). ",
    ) + _fmt_desc(lang, listed, limit=20)
    return _finish(fig, title, desc, text_as_paths=text_as_paths)
