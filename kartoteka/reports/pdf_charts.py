"""The PDF report's charts, drawn by matplotlib (Agg/SVG backends, no pyplot global state) from the specs of
:mod:`kartoteka.reports.charts`.

Why not the page's renderer (pygal): fpdf2's SVG renderer does not apply CSS stylesheets, and pygal styles
every element through a ``<style>`` sheet, so its charts would lose their colours and fonts in the PDF (a
pygal bar chart embedded by fpdf2 2.8 comes out as one black rectangle).
matplotlib writes presentation attributes and turns text into paths (``svg.fonttype = "path"``), so the PDF
needs no font look-up inside an SVG. It is slow (≈ 80–250 ms a chart) but the PDF is drawn once per
report, never inside a dashboard request. Only the kinds of chart the report prints are drawn here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: no display, no GUI toolkit

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from kartoteka.reports.charts import Bars, Chart, Groups, Tiles, chart_ids


def _rc() -> Any:  # matplotlib's stubs type the keys as one long Literal
    return {
        "svg.fonttype": "path",
        "svg.hashsalt": "kartoteka",  # stable ids: the same data gives byte-identical charts
        "font.family": "DejaVu Sans",  # ships inside matplotlib, has Cyrillic
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def _finish(fig: Figure, title: str, desc: str) -> Chart:
    buffer = io.StringIO()
    with rc_context(_rc()):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    raw = buffer.getvalue()
    markup = raw[raw.index("<svg") :]
    tid, did = chart_ids(title, desc)
    opening = _SVG_OPEN.search(markup)
    assert opening is not None
    head = opening.group(0)[:-1] + f' role="img" aria-labelledby="{tid}" aria-describedby="{did}">'
    accessible = f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>'
    return Chart(head + accessible + markup[opening.end() :], title, desc)


def _figure(width: float, height: float) -> Figure:
    with rc_context(_rc()):
        return Figure(figsize=(width, height), layout=None)


def _margins(fig: Figure, labels: Sequence[str], *, width: float, right: float = 0.97) -> None:
    """Room on the left for the longest category label (no layout engine: it costs more than the chart)."""
    longest = max((len(label) for label in labels), default=4)
    left = min(0.5, 0.04 + longest * 0.075 / width)
    fig.subplots_adjust(left=left, right=right, top=0.9, bottom=0.12)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_axis_off()


def draw(spec: Bars | Groups | Tiles) -> Chart:
    match spec:
        case Bars():
            return bars(spec)
        case Groups():
            return groups(spec)
        case Tiles():
            return tiles(spec)


def bars(spec: Bars) -> Chart:
    height = 0.9 + 0.3 * max(3, len(spec.labels))
    fig = _figure(7.2, height)
    labels = list(spec.labels[::-1])  # matplotlib draws the first bar at the bottom
    _margins(fig, labels, width=7.2)
    fig.subplots_adjust(bottom=0.45 / height + 0.05, top=1 - 0.35 / height)
    with rc_context(_rc()):
        ax = fig.add_subplot()
        if not spec.values:
            _empty(ax, spec.empty)
        else:
            drawn = ax.barh(labels, list(spec.values[::-1]), color=spec.colour)
            ax.bar_label(drawn, padding=3)
            ax.set_xlabel(spec.xlabel)
            ax.margins(x=0.12)
        ax.set_title(spec.title, loc="left")
    return _finish(fig, spec.title, spec.desc)


def groups(spec: Groups) -> Chart:
    height = 1.0 + 0.32 * max(4, len(spec.groups))
    fig = _figure(8.4, height)
    _margins(fig, spec.groups, width=8.4, right=0.74)
    fig.subplots_adjust(bottom=0.3 / height + 0.03, top=1 - 0.35 / height)
    with rc_context(_rc()):
        ax = fig.add_subplot()
        if not spec.series:
            _empty(ax, spec.empty)
        else:
            names = list(spec.groups[::-1])
            left = [0] * len(names)
            for s in spec.series:
                values = list(s.values[::-1])
                ax.barh(names, values, left=left, color=s.colour, label=s.name)
                left = [a + b for a, b in zip(left, values, strict=True)]
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
            ax.margins(x=0.05)
        ax.set_title(spec.title, loc="left")
    return _finish(fig, spec.title, spec.desc)


def tiles(spec: Tiles) -> Chart:
    fig = _figure(9.0, 5.6)
    with rc_context(_rc()):
        grid = fig.add_gridspec(1, 2, width_ratios=[19, 4.5], left=0.01, right=0.99, top=0.9, bottom=0.02)
        ax_ru = fig.add_subplot(grid[0, 0])
        ax_ua = fig.add_subplot(grid[0, 1])
        for ax, panel, caption in (
            (ax_ru, spec.russia, spec.russia_caption),
            (ax_ua, spec.ukraine, spec.ukraine_caption),
        ):
            for tile in panel:
                r, c = tile.row, tile.col
                ax.add_patch(
                    Rectangle((c, -r), 0.94, 0.94, facecolor=tile.face, edgecolor="#555555", linewidth=0.6)
                )
                ax.text(c + 0.47, -r + 0.62, tile.label, ha="center", va="center", fontsize=6, color=tile.ink)
                ax.text(c + 0.47, -r + 0.28, tile.shown, ha="center", va="center", fontsize=6, color=tile.ink)
            cols = max(x.col for x in panel) + 1
            rows = max(x.row for x in panel) + 1
            ax.set_xlim(-0.1, max(cols, 4) + 0.1)
            ax.set_ylim(-max(rows, 10) + 0.85, 1.1)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(caption, fontsize=8, loc="left")
        ax_ua.legend(
            [Rectangle((0, 0), 1, 1, facecolor=face, edgecolor="#555555") for face, _text in spec.legend],
            [text for _face, text in spec.legend],
            title=spec.legend_title,
            loc="lower left",
            fontsize=7,
            title_fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.0, 0.0),
        )
        fig.suptitle(spec.title, x=0.01, ha="left")
    return _finish(fig, spec.title, spec.desc)
