"""The published report as a PDF (fpdf2): headline figures, charts, disclosure-protected tables, the ledger,
a methodology section and the data version. Whole quarters only.

Every number that could point at a few people goes through kartoteka.lib.disclosure first: the tables are
region × quarter counts of distinct documented victims and of incidents (each quarter protected on its own,
so overlapping reports cannot be differenced), and promise kind × ledger status; the charts are drawn from
the published (protected) values only, suppressed cells shown as "—". Headline figures are totals over the
whole period and all regions.

Fonts: DejaVu Sans, shipped inside matplotlib's package (Cyrillic), embedded as TrueType subsets.
"""

from __future__ import annotations

import dataclasses
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import matplotlib
from django.db import connection
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from kartoteka.casework.models import Incident
from kartoteka.estimation.selectors import published_estimates
from kartoteka.law.services import regimes_current
from kartoteka.lib import audit, disclosure
from kartoteka.registry.models import Region
from kartoteka.reports import charts, pdf_charts
from kartoteka.reports.charts import Lang, t
from kartoteka.reports.figures import LEDGER_COLOURS, region_name, status_labels, vlabel
from kartoteka.reports.selectors import (
    WHOLE_INSTALLATION,
    Filters,
    ledger_figures,
    ledger_status_order,
    person_count,
    recruitment_count,
)
from kartoteka.reports.services import summaries_ensure

K = 5
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
UNKNOWN_REGION = "—"


@dataclass(frozen=True, slots=True)
class Tables:
    quarters: list[str]
    victims: disclosure.ProtectedTable
    incidents: disclosure.ProtectedTable
    regions: disclosure.ProtectedTable  # incidents per region over the whole period (the map)
    ledger: disclosure.ProtectedTable
    incidents_total: int
    victims_total: int


def tables_build(*, period_from: str, period_to: str, today: date) -> Tables:
    """The report's tables for whole quarters, protected (k = 5)."""
    quarters = disclosure.quarters_between(period_from, period_to)
    start, end = disclosure.quarter_bounds(quarters[0])[0], disclosure.quarter_bounds(quarters[-1])[1]
    incidents = Incident.objects.filter(date_start__gte=start, date_start__lte=end).values_list(
        "id", "region_id", "facility__region_id", "date_start"
    )
    inc_pairs: dict[tuple[str, str], set[object]] = defaultdict(set)
    for iid, reg, fac_reg, day in incidents:
        inc_pairs[(reg or fac_reg or UNKNOWN_REGION, disclosure.quarter_of(day))].add(iid)
    through = Incident.victims.through
    victims = through.objects.filter(
        incident__date_start__gte=start, incident__date_start__lte=end
    ).values_list("person_id", "incident__region_id", "incident__facility__region_id", "incident__date_start")
    vic_pairs: dict[tuple[str, str], set[object]] = defaultdict(set)
    all_victims: set[object] = set()
    for pid, reg, fac_reg, day in victims:
        vic_pairs[(reg or fac_reg or UNKNOWN_REGION, disclosure.quarter_of(day))].add(pid)
        all_victims.add(pid)
    # A fixed row set (every region, whatever the period): rows that come and go with the period would
    # let two reports be differenced.
    rows = sorted({*Region.objects.values_list("code", flat=True), UNKNOWN_REGION})
    inc_table = disclosure.counts_from_pairs(inc_pairs, rows, quarters)
    vic_table = disclosure.counts_from_pairs(vic_pairs, rows, quarters)
    f = Filters(date_from=start, date_to=end)
    by_kind = ledger_figures(f, today=today)["kind"]
    statuses = ledger_status_order(s for _k, c in by_kind for s in c)
    ledger_table = disclosure.Table(
        [k for k, _c in by_kind], statuses, {(k, s): n for k, c in by_kind for s, n in c.items()}
    )
    incidents_protected = disclosure.protect(inc_table, k=K, by_column=True)
    return Tables(
        quarters=quarters,
        victims=disclosure.protect(vic_table, k=K, by_column=True),
        incidents=incidents_protected,
        regions=_regions_for_map(inc_table, incidents_protected),
        ledger=disclosure.protect(ledger_table, k=K),
        incidents_total=sum(len(ids) for ids in inc_pairs.values()),
        victims_total=len(all_victims),
    )


def _regions_for_map(
    table: disclosure.Table, quarterly: disclosure.ProtectedTable
) -> disclosure.ProtectedTable:
    """Incidents per region over the whole period, for the map: only the quarterly table's own row totals,
    which protect(by_column=True) publishes just for rows with no hidden quarter. A period total protected
    on its own could pass this report's audit and still be differenced against another report over an
    overlapping period (Q1–Q4 minus Q2–Q4 gives Q1), so none is ever computed here."""
    period = "period"
    published = {(r, period): quarterly.row_totals.get(r) for r in table.row_labels}
    return disclosure.ProtectedTable(
        table.row_labels,
        [period],
        K,
        published,
        dict(quarterly.row_totals),
        {period: None},
        None,
        by_column=True,
    )


def with_period_totals(
    quarterly: disclosure.ProtectedTable, regions: disclosure.ProtectedTable
) -> disclosure.ProtectedTable:
    """What a reader of the whole report knows: the quarterly table with the map's period totals as its row
    totals (each region's period total is the sum of its quarters), for the audit."""
    row_totals = {r: regions.published.get((r, "period")) for r in quarterly.row_labels}
    return dataclasses.replace(quarterly, row_totals=row_totals)


def data_version() -> tuple[str, dict[str, str]]:
    head = audit.head_read(connection)
    chain = "—" if head is None else f"seq {head.seq}, sha256 {head.entry_hash}"
    return chain, regimes_current().versions()


class _Doc(FPDF):
    def __init__(self, lang: Lang, footer_text: str) -> None:
        super().__init__(format="A4")
        self.lang = lang
        self.footer_text = footer_text
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_font("DejaVu", size=10)
        self.set_auto_page_break(True, margin=18)
        self.set_margins(16, 16, 16)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=7)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)

    def h1(self, text: str) -> None:
        self.set_font("DejaVu", "B", 16)
        self.multi_cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=10)

    def h2(self, text: str) -> None:
        if self.get_y() > 240:
            self.add_page()
        self.ln(3)
        self.set_font("DejaVu", "B", 12)
        self.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=10)

    def para(self, text: str, size: float = 9.5) -> None:
        self.set_font("DejaVu", size=size)
        self.multi_cell(0, 4.8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
        self.ln(1)
        self.set_font("DejaVu", size=10)

    def chart(self, chart: charts.Chart, width: float = 178) -> None:
        self.image(io.BytesIO(chart.svg.encode("utf-8")), w=width)
        self.ln(2)

    def grid_table(self, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
        self.set_font("DejaVu", size=7)
        with super().table(
            col_widths=widths, text_align="RIGHT", first_row_as_headings=True, line_height=4.2, padding=0.8
        ) as tab:
            for cells in [header, *rows]:
                row = tab.row()
                for i, value in enumerate(cells):
                    row.cell(value, align="LEFT" if i == 0 else "RIGHT")
        self.set_font("DejaVu", size=10)
        self.ln(2)


def _protected_rows(p: disclosure.ProtectedTable, label: Callable[[str], str]) -> list[list[str]]:
    rows = []
    for r in p.row_labels:
        if all(p.published.get((r, c)) == 0 for c in p.col_labels):
            continue  # a region with nothing in the period: the protection saw it, the reader needs no line
        cells = [disclosure.render(p.published.get((r, c))) for c in p.col_labels]
        rows.append([str(label(r)), *cells, disclosure.render(p.row_totals.get(r))])
    totals = [disclosure.render(p.col_totals.get(c)) for c in p.col_labels]
    rows.append(["Σ", *totals, disclosure.render(p.grand_total)])
    return rows


def _estimates_section(doc: _Doc, lg: Lang) -> None:
    """Estimates of the undocumented that a second staff member approved (never a draft one), with method
    and interval; over fewer than K documented people they are left out, as in the public data set."""
    estimates = [e for e in published_estimates() if e.n_observed >= K]
    if not estimates:
        return
    doc.h2(t(lg, "Estimated totals, the undocumented included", "Оценки общего числа, включая неучтённых"))
    doc.para(
        t(
            lg,
            "Multiple systems estimation over linked lists of one declared population and period; read the "
            "95% interval, not only the point. Each estimate was approved by a second staff member.",
            "Оценка по нескольким связанным спискам одной заявленной совокупности и периода; смотрите на 95% "
            "интервал, а не только на точку. Каждая оценка утверждена вторым сотрудником.",
        ),
        size=8.5,
    )
    header = [
        t(lg, "Population", "Совокупность"), t(lg, "Period", "Период"), t(lg, "Documented", "Учтено"),
        t(lg, "Estimate", "Оценка"), t(lg, "95% interval", "95% интервал"), t(lg, "Method", "Метод"),
    ]  # fmt: skip
    rows = [
        [
            e.population,
            e.period,
            str(e.n_observed),
            f"{e.estimate:.0f}",
            f"{e.lower:.0f}–{e.upper:.0f}",
            e.method,
        ]
        for e in estimates
    ]
    doc.grid_table(header, rows, [34, 26, 22, 22, 34, 40])


def _widths(first: float, n: int, total: float = 178) -> list[float]:
    rest = (total - first) / (n + 1)
    return [first] + [rest] * (n + 1)


def _headline(doc: _Doc, lang: Lang, items: list[tuple[str, int]]) -> None:
    doc.set_font("DejaVu", "B", 11)
    for label, n in items:
        doc.cell(120, 6.5, label)
        doc.cell(0, 6.5, f"{n}", new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="R")
    doc.set_font("DejaVu", size=10)


def report_pdf(
    *, period_from: str, period_to: str, lang: str, draft: bool = False, today: date | None = None
) -> bytes:
    """The report for the quarters period_from..period_to in Russian or English, as PDF bytes."""
    if lang not in ("ru", "en"):
        raise ValueError("lang: must be ru or en")
    lg: Lang = "ru" if lang == "ru" else "en"
    today = today or datetime.now(UTC).date()
    summaries_ensure()
    tables = tables_build(period_from=period_from, period_to=period_to, today=today)
    first, last = (
        disclosure.quarter_bounds(tables.quarters[0])[0],
        disclosure.quarter_bounds(tables.quarters[-1])[1],
    )
    f = Filters(date_from=first, date_to=last)
    chain, regimes = data_version()
    period = f"{tables.quarters[0]}–{tables.quarters[-1]}"
    doc = _Doc(lg, f"Kartoteka · {period}" + (" · " + t(lg, "DRAFT", "ЧЕРНОВИК") if draft else ""))
    doc.set_title(t(lg, "Kartoteka report", "Отчёт Картотеки") + f" {period}")
    doc.set_creator("Kartoteka")
    doc.add_page()
    doc.h1(
        t(lg, f"Report {period}", f"Отчёт за {period}") + (t(lg, " (DRAFT)", " (ЧЕРНОВИК)") if draft else "")
    )
    doc.para(
        t(
            lg,
            f"Documented pressure on prisoners and promises made at recruitment, {first:%d.%m.%Y}–{last:%d.%m.%Y}. "
            f"Prepared {today:%d.%m.%Y}.",
            f"Задокументированное давление на заключённых и обещания при вербовке, {first:%d.%m.%Y}–{last:%d.%m.%Y}. "
            f"Подготовлено {today:%d.%m.%Y}.",
        )
    )
    ledger_by_status: dict[str, int] = defaultdict(int)
    for _kind, counts in ledger_figures(f, today=today)["kind"]:
        for s, n in counts.items():
            ledger_by_status[s] += n
    doc.h2(t(lg, "Headline figures", "Основные цифры"))
    _headline(
        doc,
        lg,
        [
            (t(lg, "Incidents documented", "Задокументировано инцидентов"), tables.incidents_total),
            (t(lg, "Distinct documented victims", "Пострадавших (разных людей)"), tables.victims_total),
            (
                t(lg, "Recruitments signed in the period", "Вербовок за период"),
                recruitment_count(WHOLE_INSTALLATION, f).total,
            ),
            (t(lg, "Promises broken", "Обещаний нарушено"), ledger_by_status.get("broken", 0)),
            (t(lg, "Promises overdue", "Обещаний просрочено"), ledger_by_status.get("overdue", 0)),
            (t(lg, "Promises kept", "Обещаний выполнено"), ledger_by_status.get("kept", 0)),
            (
                t(lg, "Persons on file (all time)", "Людей в картотеке (за всё время)"),
                person_count(WHOLE_INSTALLATION, Filters()).total,
            ),
        ],
    )
    doc.para(
        t(
            lg,
            "Totals over the whole period and every region. Tables below suppress small counts; see Methodology.",
            "Итоги за весь период по всем регионам. В таблицах ниже малые числа скрыты; см. «Методика».",
        ),
        size=8,
    )

    # charts from published values only
    published = {r: tables.regions.published.get((r, "period")) for r in tables.regions.row_labels}
    region_totals = {r: v for r, v in published.items() if v is not None and r != UNKNOWN_REGION}
    suppressed_regions = {r for r, v in published.items() if v is None}
    names = {r: region_name(r, lg) for r in tables.incidents.row_labels}
    doc.h2(t(lg, "Incidents by region", "Инциденты по регионам"))
    doc.chart(
        pdf_charts.tiles(
            charts.tile_map(
                region_totals,
                names=names,
                suppressed=suppressed_regions,
                title=t(lg, f"Incidents by region, {period}", f"Инциденты по регионам, {period}"),
                lang=lg,
            )
        )
    )
    quarter_totals = [(q, v) for q, v in tables.incidents.col_totals.items() if v is not None]
    doc.chart(
        pdf_charts.bars(
            charts.bars(
                quarter_totals[::-1],
                title=t(lg, "Incidents per quarter", "Инциденты по кварталам"),
                lang=lg,
                xlabel=t(lg, "incidents", "инциденты"),
            )
        ),
        width=150,
    )

    doc.h2(t(lg, "Incidents by region and quarter", "Инциденты по регионам и кварталам"))
    header = [t(lg, "Region", "Регион"), *tables.quarters, "Σ"]
    doc.grid_table(
        header,
        _protected_rows(tables.incidents, lambda r: names.get(r, r)),
        _widths(62, len(tables.quarters)),
    )
    doc.h2(
        t(
            lg,
            "Documented victims by region and quarter (distinct persons)",
            "Пострадавшие по регионам и кварталам (разные люди)",
        )
    )
    doc.grid_table(
        header, _protected_rows(tables.victims, lambda r: names.get(r, r)), _widths(62, len(tables.quarters))
    )

    doc.h2(t(lg, "Promises: what was delivered", "Обещания: что выполнено"))
    slabels = status_labels(lg)
    ledger = tables.ledger
    groups = [
        (
            vlabel("promise_kind", k, lg),
            {s: v for s in ledger.col_labels if (v := ledger.published.get((k, s))) is not None},
        )
        for k in ledger.row_labels
    ]
    doc.chart(
        pdf_charts.groups(
            charts.stacked_groups(
                groups,
                order=ledger.col_labels,
                labels=slabels,
                colours=LEDGER_COLOURS,
                title=t(
                    lg,
                    "Ledger lines by promise kind and status",
                    "Строки реестра обещаний по видам и статусам",
                ),
                lang=lg,
                empty=t(lg, "Every cell is too small to publish", "Все ячейки слишком малы для публикации"),
            )
        )
    )
    lheader = [t(lg, "Promise kind", "Вид обещания"), *(slabels.get(s, s) for s in ledger.col_labels), "Σ"]
    doc.grid_table(
        lheader,
        _protected_rows(ledger, lambda k: vlabel("promise_kind", k, lg)),
        _widths(50, len(ledger.col_labels)),
    )

    _estimates_section(doc, lg)
    doc.h2(t(lg, "Methodology", "Методика"))
    for en, ru in METHODOLOGY:
        doc.para(t(lg, en, ru), size=8.5)
    doc.h2(t(lg, "Data version", "Версия данных"))
    doc.para(t(lg, f"Audit chain head: {chain}", f"Голова журнала аудита: {chain}"), size=8)
    doc.para(
        t(lg, "Legal regime files: ", "Файлы правовых режимов: ")
        + "; ".join(f"{rid} {version[:12]}" for rid, version in sorted(regimes.items())),
        size=8,
    )
    return bytes(doc.output())


METHODOLOGY: tuple[tuple[str, str], ...] = (
    (
        "Sources. Figures come from records that the organisation's teams documented: statements of prisoners, "
        "relatives and lawyers, lists, court records and press reports. Each incident is recorded with its "
        "sources; a person may appear in several sources and is counted once after record linkage.",
        "Источники. Цифры основаны на записях, которые задокументировали команды организации: рассказы "
        "заключённых, родственников и адвокатов, списки, судебные документы и публикации. Каждый инцидент "
        "записан со своими источниками; человек из нескольких источников после связывания записей "
        "учитывается один раз.",
    ),
    (
        "Verification levels. Unverified: one source, not yet checked. Corroborated: confirmed by an independent "
        "source. Verified: checked against documents or direct testimony. Disputed: sources contradict each other. "
        "Counts include every level unless a table says otherwise.",
        "Уровни проверки. Не проверено: один источник, проверка не проводилась. Подтверждено другими "
        "источниками: есть независимое подтверждение. Проверено: сверено с документами или прямыми "
        "показаниями. Оспаривается: источники противоречат друг другу. Если не сказано иное, учтены все уровни.",
    ),
    (
        "What the counts mean. They are what was documented, not how much happened: most pressure is never "
        "reported, and reporting depends on access to a facility, on relatives and on fear of reprisal. A rise "
        "may mean more documentation, not more pressure. Dates are the earliest possible day of a partly known "
        "date; an incident counts in the quarter that day falls in. Promises are judged against the legal "
        "regime in force at signing (the ledger): 'overdue' means the last possible day has passed without a "
        "recorded delivery.",
        "Что означают цифры. Это задокументированное, а не всё произошедшее: о большей части давления никто не "
        "сообщает, а сообщения зависят от доступа в учреждение, родственников и страха расправы. Рост может "
        "означать больше документирования, а не больше давления. Для неточно известной даты берётся самый ранний "
        "возможный день; инцидент относится к кварталу этого дня. Обещания сопоставлены с правовым режимом на "
        "дату подписания (реестр обещаний): «просрочено» — последний возможный срок прошёл, а исполнение не записано.",
    ),
    (
        "Disclosure control. Tables count distinct people (or incidents) per region and quarter; a count of 1 to "
        "4 could point at a person, so it is suppressed and shown as '—', together with enough other cells that "
        "no suppressed value can be worked out from the totals (checked by a linear-programming audit). Each "
        "quarter is protected on its own, and only whole quarters are published, so two reports cannot be "
        "subtracted to reveal a small count. Totals are true totals. Charts show published values only.",
        "Защита от раскрытия. Таблицы считают разных людей (или инциденты) по регионам и кварталам; число от 1 до "
        "4 может указать на человека, поэтому оно скрыто («—») вместе с такими другими ячейками, чтобы скрытое "
        "нельзя было вычислить из итогов (это проверяется линейным программированием). Каждый квартал защищён "
        "отдельно, публикуются только целые кварталы, поэтому вычитание двух отчётов не раскрывает малых чисел. "
        "Итоги — истинные. Графики показывают только опубликованные значения.",
    ),
    (
        "Regions. Russia's regions are shown under ISO 3166-2:RU codes; occupied regions of Ukraine under their "
        "Ukrainian UA codes, apart. The tile map gives every region one equal square; it is not a map of borders.",
        "Регионы. Регионы России показаны с кодами ISO 3166-2:RU; оккупированные регионы Украины — отдельно, с "
        "украинскими кодами UA. На плиточной карте у каждого региона один одинаковый квадрат; это не карта границ.",
    ),
)
