"""The dashboard's figures as charts plus their numbers, in one language, drawn for the page (pygal, see
:mod:`kartoteka.reports.page_charts`); what each chart shows is specified in :mod:`kartoteka.reports.charts`,
which the PDF's matplotlib renderer reads too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from kartoteka.lib import vocab
from kartoteka.registry import selectors as registry
from kartoteka.reports import charts, page_charts
from kartoteka.reports.charts import OKABE_ITO, Chart, Lang, t
from kartoteka.reports.selectors import Dashboard, ledger_status_order

LEDGER_LABELS: dict[str, tuple[str, str]] = {  # status -> (en, ru)
    "kept": ("kept", "выполнено"),
    "partly_kept": ("partly kept", "выполнено частично"),
    "broken": ("broken", "нарушено"),
    "overdue": ("overdue", "просрочено"),
    "beyond_the_law": ("beyond the law", "вне закона"),
    "pending": ("pending", "срок не наступил"),
    "not_applicable": ("not applicable", "неприменимо"),
    "unknown": ("unknown", "неизвестно"),
}
# Okabe–Ito, chosen so "kept" and "broken" differ in hue and in lightness.
LEDGER_COLOURS = {
    "kept": OKABE_ITO[2], "partly_kept": OKABE_ITO[3], "broken": OKABE_ITO[5], "overdue": OKABE_ITO[0],
    "beyond_the_law": OKABE_ITO[6], "pending": OKABE_ITO[1], "not_applicable": "#bbbbbb", "unknown": "#888888",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    title: str
    chart: Chart
    rows: tuple[tuple[str, str, int], ...]  # code, label, count (the chart's numbers, as a table)


def vlabel(name: str, code: str, lang: Lang) -> str:
    if not code:
        return t(lang, "not recorded", "не указано")
    try:
        return vocab.label(name, code, lang)
    except (KeyError, vocab.UnknownTermError):
        return code


@lru_cache(maxsize=2)
def _region_names(lang: Lang) -> dict[str, str]:
    return {r.code: (r.name_en if lang == "en" else r.name_ru) for r in registry.region_list()}


def region_name(code: str, lang: Lang) -> str:
    return _region_names(lang).get(code, code) if code else t(lang, "not recorded", "не указано")


def _facility_names() -> dict[str, str]:
    return {str(f.id): f.key for f in registry.facility_list()}


def figures(d: Dashboard, *, lang: Lang) -> dict[str, Figure]:
    """Every chart of the dashboard, keyed; the same numbers the selectors returned, nothing else."""
    out: dict[str, Figure] = {}

    def add(key: str, title: str, spec: charts.Spec, rows: list[tuple[str, str, int]]) -> None:
        out[key] = Figure(key, title, page_charts.draw(spec), tuple(rows))

    def add_term_bars(
        key: str, vocab_name: str, counts: Sequence[tuple[str, int]], title: str, xlabel: str, colour: str
    ) -> None:
        rows = [(code, vlabel(vocab_name, code, lang), n) for code, n in counts]
        spec = charts.bars(
            [(label, n) for _c, label, n in rows], title=title, lang=lang, xlabel=xlabel, colour=colour
        )
        add(key, title, spec, rows)

    cat_labels = {code: vlabel("incident_category", code, lang) for _m, code, _n in d.incidents_by_month}
    title = t(lang, "Incidents per month, by category", "Инциденты по месяцам и категориям")
    monthly: dict[str, int] = {}
    for m, _c, n in d.incidents_by_month:
        monthly[f"{m:%Y-%m}"] = monthly.get(f"{m:%Y-%m}", 0) + n
    add(
        "incidents_by_month",
        title,
        charts.stacked_months(d.incidents_by_month, labels=cat_labels, title=title, lang=lang),
        [(m, m, n) for m, n in monthly.items()],
    )
    region_rows = [(code, region_name(code, lang), n) for code, n in d.incidents_by_region]
    title = t(lang, "Incidents by region (tile map)", "Инциденты по регионам (плиточная карта)")
    add(
        "tile_map",
        title,
        charts.tile_map(dict(d.incidents_by_region), names=_region_names(lang), title=title, lang=lang),
        region_rows,
    )
    title = t(
        lang,
        f"Regions with most incidents (top {len(region_rows[:10])})",
        "Регионы с наибольшим числом инцидентов",
    )
    top_regions = [(label, n) for _c, label, n in region_rows[:10]]
    add(
        "incidents_by_region",
        title,
        charts.bars(top_regions, title=title, lang=lang, xlabel=t(lang, "incidents", "инциденты")),
        region_rows[:10],
    )
    names = _facility_names()
    fac_rows = [(str(fid), names.get(str(fid), str(fid)), n) for fid, n in d.incidents_by_facility]
    title = t(lang, "Facilities with most incidents", "Учреждения с наибольшим числом инцидентов")
    add(
        "incidents_by_facility",
        title,
        charts.bars(
            [(label, n) for _c, label, n in fac_rows],
            title=title,
            lang=lang,
            xlabel=t(lang, "incidents", "инциденты"),
            colour=OKABE_ITO[5],
        ),
        fac_rows,
    )
    add_term_bars(
        "verification_mix",
        "verification",
        d.verification_mix,
        t(lang, "Verification of incidents", "Проверка сведений об инцидентах"),
        t(lang, "incidents", "инциденты"),
        OKABE_ITO[2],
    )

    # recruitment
    recruiters = sorted({rec for _q, rec, _n in d.recruitment_by_wave})
    waves: dict[str, dict[str, int]] = {}
    for q, rec, n in d.recruitment_by_wave:
        waves.setdefault(q, {})[rec] = n
    title = t(
        lang,
        "Recruitment by wave (quarter signed) and recruiter",
        "Вербовка по волнам (квартал подписания) и вербовщикам",
    )
    rec_labels = {r: vlabel("recruiter", r, lang) for r in recruiters}
    add(
        "recruitment_by_wave",
        title,
        charts.stacked_groups(
            sorted(waves.items()),
            order=recruiters,
            labels=rec_labels,
            title=title,
            lang=lang,
        ),
        [(q, q, sum(c.values())) for q, c in sorted(waves.items())],
    )
    add_term_bars(
        "recruitment_by_recruiter",
        "recruiter",
        d.recruitment_by_recruiter,
        t(lang, "Recruitment by recruiter", "Вербовка по вербовщикам"),
        t(lang, "recruitments", "вербовки"),
        OKABE_ITO[4],
    )
    regime_rows = [
        (code, code or t(lang, "not determined", "не определён"), n) for code, n in d.recruitment_by_regime
    ]
    title = t(lang, "Recruitment by legal regime", "Вербовка по правовым режимам")
    add(
        "recruitment_by_regime",
        title,
        charts.bars(
            [(label, n) for _c, label, n in regime_rows],
            title=title,
            lang=lang,
            xlabel=t(lang, "recruitments", "вербовки"),
            colour=OKABE_ITO[6],
        ),
        regime_rows,
    )

    # the ledger
    statuses = ledger_status_order(s for rows in d.ledger_by.values() for _k, c in rows for s in c)
    status_labels = {s: t(lang, *LEDGER_LABELS.get(s, (s, s))) for s in statuses}
    for by, (en, ru), vname in (
        (
            "kind",
            ("Promises by kind: kept, broken, overdue", "Обещания по видам: выполнено, нарушено, просрочено"),
            "promise_kind",
        ),
        ("regime", ("Promises by legal regime", "Обещания по правовым режимам"), ""),
        ("year", ("Promises by year due", "Обещания по году исполнения"), ""),
    ):
        groups = [
            ((vlabel(vname, key, lang) if vname and key != "unknown" else key), counts)
            for key, counts in d.ledger_by.get(by, ())
        ]
        title = t(lang, en, ru)
        add(
            f"ledger_by_{by}",
            title,
            charts.stacked_groups(
                groups,
                order=statuses,
                labels=status_labels,
                colours=LEDGER_COLOURS,
                title=title,
                lang=lang,
            ),
            [
                (key, label, sum(c.values()))
                for (key, _c), (label, c) in zip(d.ledger_by.get(by, ()), groups, strict=True)
            ],
        )

    # persons
    add_term_bars(
        "persons_by_status",
        "person_status",
        d.persons_by_status,
        t(lang, "Persons by status", "Люди по статусу"),
        t(lang, "persons", "люди"),
        OKABE_ITO[0],
    )

    # visits
    title = t(
        lang,
        "Incidents around recruitment visits, by week (all facilities)",
        "Инциденты вокруг визитов вербовщиков, по неделям (все учреждения)",
    )
    add(
        "visits",
        title,
        charts.visit_offsets(d.visits.by_offset, title=title, lang=lang),
        [(str(k), str(k), n) for k, n in d.visits.by_offset],
    )
    return out


def status_labels(lang: Lang) -> Mapping[str, str]:
    return {s: t(lang, *pair) for s, pair in LEDGER_LABELS.items()}
