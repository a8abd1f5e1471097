"""The dashboard page's charts, drawn by pygal from the specs of :mod:`kartoteka.reports.charts`.

Why a second renderer beside :mod:`kartoteka.reports.pdf_charts` (matplotlib): the page draws ~15 charts on
the first view of every filter combination, inside the request, and matplotlib's artist and text layout
cost ~80–430 ms a chart on our 2-core machine (a page 1–2.5 s). pygal builds the SVG tree directly: a few
ms per bar chart, a page in well under the 500 ms page budget (docs/benchmarks.md, Dashboard). pygal styles
its elements through a ``<style>`` sheet scoped to the chart's id, which browsers apply but fpdf2 does not,
so the PDF keeps matplotlib. What each chart shows (series, top-N and "other", labels, colours,
descriptions) comes from the shared specs; only drawing is here.

Every chart is server-rendered SVG readable with JavaScript off: pygal's script element is dropped (``js``
empty, and its inline config script removed), its chart id is derived from the chart's content so the same
numbers give the same markup, and the root gets ``role="img"`` with ``aria-labelledby``/
``aria-describedby`` pointing at our ``<title>``/``<desc>`` (ids from :func:`charts.chart_ids`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from xml.etree import ElementTree

import pygal
from pygal.etree import etree
from pygal.graph.map import BaseMap
from pygal.style import Style
from pygal.util import decorate

from kartoteka.reports.charts import (
    CLASS_COLOURS,
    Bars,
    Chart,
    Groups,
    Months,
    Offsets,
    Spec,
    Tiles,
    chart_ids,
    tile_layout,
)

# pygal writes lxml trees whenever lxml is importable; our filter and tile layer are xml.etree elements.
etree.to_etree()

FONT = "'DejaVu Sans', 'Noto Sans', 'Liberation Sans', Arial, sans-serif"  # Cyrillic in each
WIDTH = 760


def _style(colours: tuple[str, ...], **extra: Any) -> Style:
    # opacity 1: the palette's own colours, not pygal's default washed-out ones
    return Style(
        colors=colours, background="#ffffff", plot_background="#ffffff", foreground="#333333",
        foreground_strong="#000000", foreground_subtle="#cccccc", opacity="1", opacity_hover="1",
        transition="0ms", font_family=FONT, title_font_size=15, label_font_size=11,
        major_label_font_size=11, value_font_size=11, legend_font_size=11, tooltip_font_size=11,
        no_data_font_size=16, **extra,
    )  # fmt: skip


def _accessible(title: str, desc: str) -> Callable[[Any], Any]:
    """pygal's xml filter: our <title>/<desc> with ids the root's aria attributes point at; no <script>, no
    generator comments (they carry the date, and the same numbers should give the same markup)."""
    tid, did = chart_ids(title, desc)

    def apply(root: Any) -> Any:
        for child in list(root):
            if child.tag is ElementTree.Comment:
                root.remove(child)
        for defs in root.findall("defs"):
            for script in defs.findall("script"):
                defs.remove(script)
        heading = root.find("title")
        assert heading is not None  # pygal always writes one
        heading.set("id", tid)
        heading.text = title
        description = ElementTree.Element("desc", id=did)
        description.text = desc
        root.insert(list(root).index(heading) + 1, description)
        root.set("role", "img")
        root.set("aria-labelledby", tid)
        root.set("aria-describedby", did)
        root.set("style", "max-width: 100%; height: auto")
        return root

    return apply


def _render(chart: Any, title: str, desc: str) -> Chart:
    chart.uuid = _scope(title, desc).removeprefix("#chart-")  # its sheet's scope: distinct per chart, stable
    chart.add_xml_filter(_accessible(title, desc))
    return Chart(chart.render(is_unicode=True), title, desc)


def _config(title: str, empty: str, *, height: int, drawn: bool = True, **extra: Any) -> dict[str, Any]:
    """pygal's options shared by every chart; an empty chart (``drawn`` false) says so without axes."""
    bare = {} if drawn else {
        "show_x_labels": False, "show_y_labels": False, "show_x_guides": False, "show_y_guides": False,
        "x_title": None, "y_title": None, "show_legend": False,
    }  # fmt: skip
    return {
        "title": title, "no_data_text": empty, "js": [], "disable_xml_declaration": True,
        "explicit_size": True, "width": WIDTH, "height": height, "truncate_label": 48,
        "truncate_legend": 40, **extra, **bare,
    }  # fmt: skip


def _scope(title: str, desc: str) -> str:
    """The CSS scope pygal gives a chart's sheet: ``#chart-<uuid>``; see :func:`_render`."""
    return "#chart-" + chart_ids(title, desc)[0][1:]


@lru_cache(maxsize=256)
def draw(spec: Spec) -> Chart:
    """The chart of a spec. Specs are frozen values holding every number and text drawn, so a chart a
    filter does not change (a filter on recruiter leaves the incident charts as they were) is drawn once
    per process: ~256 charts of 5–30 kB."""
    match spec:
        case Bars():
            return bars(spec)
        case Months():
            return months(spec)
        case Groups():
            return groups(spec)
        case Offsets():
            return offsets(spec)
        case Tiles():
            return tiles(spec)


def bars(spec: Bars) -> Chart:
    """Horizontal bars, largest at the top, each labelled with its count just past the bar's end."""
    past_end = (
        f"{_scope(spec.title, spec.desc)} .text-overlay text.value {{ text-anchor: start; fill: #000 }}"
    )
    chart = pygal.HorizontalBar(
        **_config(
            spec.title,
            spec.empty,
            height=110 + 26 * max(3, len(spec.labels)),
            drawn=bool(spec.values),
            style=_style((spec.colour,)),
            show_legend=False,
            print_values=True,
            print_values_position="top",
            css=["file://style.css", "file://graph.css", "inline:" + past_end],
            range=(0, max(spec.values, default=1) * 1.12),  # room for the count past the longest bar
            x_title=spec.xlabel,
            show_x_guides=False,
            show_y_guides=False,  # each bar carries its count
        )
    )
    chart.x_labels = list(spec.labels[::-1])  # pygal draws the first label at the bottom
    if spec.values:
        chart.add(spec.xlabel, list(spec.values[::-1]))
    return _render(chart, spec.title, spec.desc)


def months(spec: Months) -> Chart:
    """A stacked area, one filled band per category: 8 paths where stacked bars drew ~400 rectangles over
    three years (about five times pygal's time), with the same reading: the total per month and its mix."""
    chart = pygal.StackedLine(
        **_config(
            spec.title,
            spec.empty,
            height=420,
            drawn=bool(spec.series),
            style=_style(tuple(s.colour for s in spec.series) or ("#999999",)),
            fill=True,
            show_dots=False,
            legend_at_bottom=True,
            legend_at_bottom_columns=3,
            y_title=spec.ylabel,
            x_label_rotation=45,
            show_minor_x_labels=False,
            x_labels_major_every=max(1, len(spec.months) // 12),
        )
    )
    chart.x_labels = list(spec.months)
    for s in spec.series:
        chart.add(s.name, list(s.values))
    return _render(chart, spec.title, spec.desc)


def groups(spec: Groups) -> Chart:
    chart = pygal.HorizontalStackedBar(
        **_config(
            spec.title,
            spec.empty,
            height=150 + 28 * max(4, len(spec.groups)),
            drawn=bool(spec.series),
            style=_style(tuple(s.colour for s in spec.series) or ("#999999",)),
            legend_at_bottom=True,
            legend_at_bottom_columns=4,
        )
    )
    chart.x_labels = list(spec.groups[::-1])  # the first group at the top
    for s in spec.series:
        chart.add(s.name, list(s.values[::-1]))
    return _render(chart, spec.title, spec.desc)


def offsets(spec: Offsets) -> Chart:
    """Weeks before the visit in one colour, from the visit's week on in another: two series over the same
    weeks, each empty where the other is drawn, so the legend names both."""
    chart = pygal.StackedBar(
        **_config(
            spec.title,
            spec.empty,
            height=340,
            drawn=any(spec.values),
            style=_style((spec.before, spec.after)),
            print_values=True,
            print_values_position="top",
            print_zeroes=False,
            x_title=spec.xlabel,
            y_title=spec.ylabel,
            legend_at_bottom=True,
        )
    )
    chart.x_labels = [str(k) for k in spec.weeks]
    pairs = list(zip(spec.weeks, spec.values, strict=True))
    if any(spec.values):  # otherwise pygal says "no data"
        chart.add(spec.before_name, [n if k < 0 else None for k, n in pairs])
        chart.add(spec.after_name, [n if k >= 0 else None for k, n in pairs])
    return _render(chart, spec.title, spec.desc)


# --- the tile map -----------------------------------------------------------------------------------------

UNIT = 40  # one tile's cell in the layer's own units (pygal's sheet gives strokes 1 unit)
TILE = 38
GAP = 1.5  # cells between Russia and the occupied regions of Ukraine


@lru_cache(maxsize=4)
def _tile_layer(russia_caption: str, ukraine_caption: str) -> ElementTree.Element:
    """The layer pygal's map chart colours: one group per region (its square and code) and the two panels'
    captions. It depends on the layout alone, so it is built once per process and language; pygal's map
    charts take such a layer (its map plugins ship country outlines the same way) and colour each group by
    its series, here the class of its count."""
    layout = tile_layout()
    ru_cols = max(c for code, (_r, c) in layout.items() if code.startswith("RU-")) + 1
    rows = max(r for r, _c in layout.values()) + 1
    ua_left = (ru_cols + GAP) * UNIT
    width = ua_left + 4 * UNIT
    root = ElementTree.Element("svg", viewBox=f"-4 -40 {width + 8:g} {(rows + 1) * UNIT + 8:g}")
    root.set("font-size", "11")
    root.set("text-anchor", "middle")
    for x, caption in ((0.0, russia_caption), (ua_left, ukraine_caption)):
        for i, line in enumerate(caption.split("\n")):
            text = ElementTree.SubElement(root, "text", x=f"{x:g}", y=f"{-22 + 14 * i:g}", fill="#333333")
            text.set("text-anchor", "start")
            text.text = line
    for code, (r, c) in layout.items():
        ukraine = code.startswith("UA-")
        x = c * UNIT + (ua_left if ukraine else 0)
        y = r * UNIT + (10 if ukraine else 0)  # below the two-line caption
        group = ElementTree.SubElement(root, "g", {"class": f"{code} tile map-element"})
        ElementTree.SubElement(
            group, "rect", x=f"{x:g}", y=f"{y:g}", width=f"{TILE}", height=f"{TILE}", stroke="#555555"
        )
        label = ElementTree.SubElement(group, "text", {"class": "tile-code", "x": f"{x + TILE / 2:g}"})
        label.set("y", f"{y + TILE / 2 + 4:g}")
        label.text = code if ukraine else code.removeprefix("RU-")
    return root


class _TileMap(BaseMap):  # type: ignore[misc]  # pygal has no type hints
    """pygal's map chart over our tile layer: each class of counts is a series (its colour and legend)."""

    area_prefix = ""
    kind = "tile"

    def __init__(self, layer: ElementTree.Element, names: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = layer  # shared between charts: copied before colouring
        self.area_names = names

    def _value_format(self, value: Any) -> str:
        return str(self.area_names.get(value[0], value[0]))

    def _plot(self) -> None:
        """BaseMap's drawing, less what only its JavaScript reads, and with each region's group found in
        one index: BaseMap searches the whole layer once per region (~40 ms a map here). Every value of
        a series is 1, so BaseMap's opacity-by-value would be full anyway: each class keeps its colour."""
        layer = copy.deepcopy(self.layer)
        layer.set("width", str(self.view.width))
        layer.set("height", str(self.view.height))
        groups = {g.get("class", "").split(" ", 1)[0]: g for g in layer.iter("g")}
        for i, serie in enumerate(self.series):
            for j, (code, _one) in enumerate(serie.values):
                group = groups.get(code)
                if group is None:
                    continue
                group.set("class", f"{group.get('class')} color-{i} serie-{i} series")
                decorate(self.svg, group, serie.metadata.get(j))  # the tooltip: a <title>, no script
        self.nodes["plot"].append(layer)


def tiles(spec: Tiles) -> Chart:
    # a tile's code in white on the two dark classes, black elsewhere (pygal's sheet is scoped by chart id)
    scope = _scope(spec.title, spec.desc)
    ink_css = "".join(
        f"{scope} .color-{i} .tile-code {{ fill: {'#ffffff' if face in CLASS_COLOURS[:2] else '#000000'} }}"
        for i, (face, _text) in enumerate(spec.legend)
    )
    ink_css += f"{scope} .legends .legend rect {{ stroke: #555555; stroke-width: 1 }}"  # white "none" shows
    chart = _TileMap(
        _tile_layer(spec.russia_caption, spec.ukraine_caption),
        {x.code: x.name for x in (*spec.russia, *spec.ukraine)},
        **_config(
            spec.title,
            "",
            height=470,
            x_title=spec.legend_title,
            style=_style(tuple(face for face, _text in spec.legend)),
            legend_at_bottom=True,
            legend_at_bottom_columns=len(spec.legend),
            css=["file://style.css", "file://graph.css", "inline:" + ink_css],
        ),
    )
    by_face: dict[str, list[dict[str, Any]]] = {face: [] for face, _text in spec.legend}
    for x in (*spec.russia, *spec.ukraine):
        tip = f"{x.name}: {x.shown or '0'}"
        by_face.setdefault(x.face, []).append({"value": (x.code, 1), "tooltip": tip})
    for face, text in spec.legend:
        chart.add(text, by_face[face])
    return _render(chart, spec.title, spec.desc)
