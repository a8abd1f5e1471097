"""The charts without a database: the page's pygal charts are accessible, script-free, in the viewer's language
and palette, say when there is no data, and come from the same specs (numbers, descriptions) as the PDF's
matplotlib charts."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree

import pytest

from kartoteka.reports import charts, page_charts, pdf_charts
from kartoteka.reports.charts import CLASS_COLOURS, OKABE_ITO, OTHER, Lang

SVG = "{http://www.w3.org/2000/svg}"
CATEGORIES = [f"cat{i}" for i in range(10)]
MONTHS = [date(2024, m, 1) for m in range(1, 13)]


def _specs(lang: Lang) -> dict[str, charts.Spec]:
    rows = [(m, c, 10 * (i + 1) + j) for j, m in enumerate(MONTHS) for i, c in enumerate(CATEGORIES)]
    return {
        "bars": charts.bars([("Москва", 40), ("Свердловская область", 7)], title="B", lang=lang, xlabel="x"),
        "months": charts.stacked_months(
            rows, labels={c: c.upper() for c in CATEGORIES}, title="M", lang=lang
        ),
        "groups": charts.stacked_groups(
            [("2024Q1", {"kept": 3, "broken": 5}), ("2024Q2", {"broken": 1})],
            order=["kept", "broken"],
            labels={"kept": "выполнено", "broken": "нарушено"},
            colours={"kept": OKABE_ITO[2], "broken": OKABE_ITO[5]},
            title="G",
            lang=lang,
        ),
        "offsets": charts.visit_offsets([(k, 20 + k) for k in range(-8, 8)], title="O", lang=lang),
        "tiles": charts.tile_map({"RU-MOW": 50, "RU-SVE": 9, "UA-43": 1}, names={}, title="T", lang=lang),
    }


def _root(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_it_gives_every_page_chart_a_title_and_description_its_aria_attributes_name(lang: Lang) -> None:
    for kind, spec in _specs(lang).items():
        chart = page_charts.draw(spec)
        root = _root(chart.svg)
        assert root.get("role") == "img", kind
        titles = root.findall(f"{SVG}title")
        descs = root.findall(f"{SVG}desc")
        assert len(titles) == 1 and len(descs) == 1, kind  # tooltips' titles sit deeper, never on the root
        assert titles[0].get("id") == root.get("aria-labelledby") and titles[0].text == spec.title, kind
        assert descs[0].get("id") == root.get("aria-describedby") and descs[0].text == spec.desc, kind
        assert (chart.title, chart.desc) == (spec.title, spec.desc)


def test_it_writes_no_script_and_no_generator_comment_into_page_charts() -> None:
    for lang in ("ru", "en"):
        for kind, spec in _specs(lang).items():
            svg = page_charts.draw(spec).svg
            assert "<script" not in svg and "window.pygal" not in svg, kind
            assert "<!--" not in svg, kind  # pygal's comment carries today's date


def test_it_draws_the_same_markup_for_the_same_numbers_and_distinct_ids_per_chart() -> None:
    specs = _specs("ru")
    first = {kind: page_charts.draw(spec).svg for kind, spec in specs.items()}
    page_charts.draw.cache_clear()  # drawn again, not taken from the per-process cache
    assert first == {kind: page_charts.draw(spec).svg for kind, spec in specs.items()}
    ids = [_root(svg).get("id") for svg in first.values()]
    assert len(set(ids)) == len(ids)  # pygal scopes each chart's <style> by this id: no clashes on a page


def test_it_labels_page_charts_in_russian_or_english() -> None:
    ru = {kind: page_charts.draw(spec).svg for kind, spec in _specs("ru").items()}
    en = {kind: page_charts.draw(spec).svg for kind, spec in _specs("en").items()}
    assert "прочее" in ru["months"] and "other" in en["months"] and "прочее" not in en["months"]
    assert "инциденты (по категориям)" in ru["months"] and "incidents (by category)" in en["months"]
    assert "недели до визита" in ru["offsets"] and "weeks before the visit" in en["offsets"]
    assert "Оккупированные регионы" in ru["tiles"] and "Occupied regions of Ukraine" in en["tiles"]
    assert "нет" in ru["tiles"] and "none" in en["tiles"]
    assert "Свердловская область" in ru["bars"]


def test_it_colours_page_charts_with_okabe_ito_and_the_tile_map_with_cividis() -> None:
    svgs = {kind: page_charts.draw(spec).svg.lower() for kind, spec in _specs("ru").items()}
    months = _specs("ru")["months"]
    assert isinstance(months, charts.Months)
    # the seven largest categories by Okabe–Ito colour, the rest as grey "other"
    assert [s.colour for s in months.series] == [*OKABE_ITO[:7], OTHER]
    for colour in (*OKABE_ITO[:7], OTHER):
        assert f"fill:{colour.lower()}" in svgs["months"]
    assert f"fill:{OKABE_ITO[4].lower()}" in svgs["bars"]  # the default bar colour
    assert (
        f"fill:{OKABE_ITO[2].lower()}" in svgs["groups"] and f"fill:{OKABE_ITO[5].lower()}" in svgs["groups"]
    )
    assert (
        f"fill:{OKABE_ITO[4].lower()}" in svgs["offsets"]
        and f"fill:{OKABE_ITO[5].lower()}" in svgs["offsets"]
    )
    assert all(f"fill:{c.lower()}" in svgs["tiles"] for c in CLASS_COLOURS)


def test_it_keeps_every_count_when_folding_small_categories_into_other() -> None:
    spec = _specs("en")["months"]
    assert isinstance(spec, charts.Months)
    assert spec.months == tuple(f"{m:%Y-%m}" for m in MONTHS)
    per_month = [sum(10 * (i + 1) + j for i in range(len(CATEGORIES))) for j in range(len(MONTHS))]
    assert [sum(s.values[j] for s in spec.series) for j in range(len(MONTHS))] == per_month
    assert spec.series[-1].name == "other" and spec.series[-1].values[0] == 10 + 20 + 30  # cat0..cat2


def test_it_says_when_there_is_no_data() -> None:
    for lang, text in (("ru", "Нет данных при этих фильтрах"), ("en", "No data for these filters")):
        empty = [
            charts.bars([], title="B", lang=lang, xlabel="x"),
            charts.stacked_months([], labels={}, title="M", lang=lang),
            charts.stacked_groups([("2024Q1", {})], order=["kept"], labels={}, title="G", lang=lang),
            charts.visit_offsets([(k, 0) for k in range(-8, 8)], title="O", lang=lang),
        ]
        for spec in empty:
            svg = page_charts.draw(spec).svg
            assert re.search(rf'<text [^>]*class="no_data"[^>]*>{text}</text>', svg), type(spec).__name__
    pdf_empty = charts.stacked_groups(
        [("k", {})], order=["kept"], labels={}, title="G", lang="ru", empty="мало"
    )
    assert not pdf_empty.series and pdf_empty.empty == "мало"


def test_it_draws_pdf_charts_from_the_same_specs_with_text_as_paths() -> None:
    specs = _specs("ru")
    for kind in ("bars", "groups", "tiles"):
        spec = specs[kind]
        assert isinstance(spec, charts.Bars | charts.Groups | charts.Tiles)
        chart = pdf_charts.draw(spec)
        root = _root(chart.svg)
        assert (chart.title, chart.desc) == (spec.title, spec.desc)
        assert root.get("aria-labelledby") == charts.chart_ids(spec.title, spec.desc)[0]
        assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
        assert not re.search(r"<text\b", chart.svg), kind  # fpdf2 needs no font inside the SVG
    assert OKABE_ITO[4].lower() in pdf_charts.draw(specs["bars"]).svg.lower()  # as an attribute, not a sheet


def test_it_colours_each_tile_by_its_class_and_names_its_count_without_script() -> None:
    spec = charts.tile_map(
        {"RU-MOW": 50, "RU-SVE": 9}, names={"RU-MOW": "Москва"}, title="T", lang="ru", suppressed={"RU-SPE"}
    )
    svg = page_charts.tiles(spec).svg
    groups = dict(re.findall(r'<g class="([A-Z]{2}-[A-Z0-9]+) tile map-element ([^"]*)"', svg))
    legend = [text for _face, text in spec.legend]
    assert legend[0] == "нет" and legend[-1] == "— скрыто (малое число)"
    assert groups["RU-MOW"].startswith(f"color-{legend.index('41–50')} ")  # the top class
    assert groups["RU-SVE"].startswith(f"color-{legend.index('1–10')} ")
    assert groups["RU-TY"].startswith("color-0 ")  # none
    assert groups["RU-SPE"].startswith(f"color-{len(legend) - 1} ")  # hidden
    assert "<title>Москва: 50</title>" in svg and "<title>RU-SPE: —</title>" in svg  # name, else code
