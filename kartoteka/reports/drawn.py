"""The dashboard's drawn figures, kept on disk per summary build, filters and language.

Drawing the ~15 charts of a page takes pygal a few hundred ms (matplotlib, before FORMAT 2, took a second
or more), while what they show changes only when the summaries are rebuilt. The drawn page (charts, their
tables of numbers, the visits table) is the same for every viewer: aggregates over all teams, no identity,
no viewer-specific count (what each viewer may open is counted per request, see
:func:`kartoteka.reports.selectors.dashboard_counts`). It holds what the summary tables in the database
already hold, as counts and registry names (regions, facility keys), so it may sit beside the database in
the data directory, where every web and worker process finds it.

Files live under ``DATA_DIR/cache/dashboard/<build>/``, one JSON file per filters and language, written
atomically; a new build's directory replaces the old ones. The worker pre-draws the default view in both
languages after each rebuild, so the common first view never waits for drawing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings

from kartoteka.reports import figures
from kartoteka.reports.charts import Chart, Lang
from kartoteka.reports.models import SummaryState
from kartoteka.reports.selectors import Dashboard, Filters

LANGS: tuple[Lang, ...] = ("ru", "en")
FORMAT = 2  # bump when Page's shape or the charts' drawing changes: old files are then ignored (2: pygal)


@dataclass(frozen=True, slots=True)
class Page:
    figures: dict[str, figures.Figure]
    visit_rows: tuple[tuple[str, int, int, int], ...]  # facility id, visits, incidents before, after
    visits_before: int
    visits_after: int
    undated_incidents: int


def root() -> Path:
    return Path(settings.DATA_DIR) / "cache" / "dashboard"


def build_of(state: SummaryState | None) -> str | None:
    """The summary build a drawn page belongs to; None before the first build (nothing is kept then)."""
    if state is None or state.built_at is None:
        return None
    return f"{state.audit_seq}-{state.built_at:%Y%m%dT%H%M%S%f}-{state.size}"


def _path(build: str, f: Filters, lang: Lang) -> Path:
    key = hashlib.sha256(f"{FORMAT}|{lang}|{f!r}".encode()).hexdigest()[:32]
    return root() / build / f"{key}.json"


def page_draw(d: Dashboard, *, lang: Lang) -> Page:
    return Page(
        figures=figures.figures(d, lang=lang),
        visit_rows=tuple((str(r.facility), r.visits, r.before, r.after) for r in d.visits.per_facility),
        visits_before=d.visits.before,
        visits_after=d.visits.after,
        undated_incidents=d.undated_incidents,
    )


def _encode(page: Page) -> str:
    figs = [
        {"key": fig.key, "title": fig.title, "svg": fig.chart.svg, "chart_title": fig.chart.title,
         "desc": fig.chart.desc, "rows": fig.rows}
        for fig in page.figures.values()
    ]  # fmt: skip
    return json.dumps({
        "figures": figs, "visit_rows": page.visit_rows, "visits_before": page.visits_before,
        "visits_after": page.visits_after, "undated_incidents": page.undated_incidents,
    }, ensure_ascii=False)  # fmt: skip


def _decode(text: str) -> Page:
    raw: dict[str, Any] = json.loads(text)
    figs = {
        f["key"]: figures.Figure(
            f["key"], f["title"], Chart(f["svg"], f["chart_title"], f["desc"]),
            tuple((str(c), str(label), int(n)) for c, label, n in f["rows"]),
        )
        for f in raw["figures"]
    }  # fmt: skip
    return Page(
        figures=figs,
        visit_rows=tuple((str(f), int(v), int(b), int(a)) for f, v, b, a in raw["visit_rows"]),
        visits_before=int(raw["visits_before"]),
        visits_after=int(raw["visits_after"]),
        undated_incidents=int(raw["undated_incidents"]),
    )


def page_load(build: str | None, f: Filters, lang: Lang) -> Page | None:
    if build is None:
        return None
    try:
        return _decode(_path(build, f, lang).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):  # not drawn yet, or a file from another format
        return None


def page_store(build: str | None, f: Filters, lang: Lang, page: Page) -> None:
    """Keep a drawn page; a failure to write only means the next view draws again."""
    if build is None:
        return
    path = _path(build, f, lang)
    with contextlib.suppress(OSError):
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _prune(keep=build)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".draw-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(_encode(page))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _prune(*, keep: str) -> None:
    """Drop the pages of earlier builds (their numbers are no longer the current ones)."""
    for child in root().iterdir():
        if child.name != keep and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)


def predraw(*, today: date, filters: Filters | None = None) -> int:
    """Draw a view (default: no filters) in every language for the current build; the worker calls this
    after each rebuild. Returns the number of pages drawn."""
    from kartoteka.reports.selectors import WHOLE_INSTALLATION, dashboard

    build = build_of(SummaryState.objects.filter(id=1).first())
    f = filters or Filters()
    if build is None:
        return 0
    d = dashboard(user=WHOLE_INSTALLATION, filters=f, today=today)
    drawn = 0
    for lang in LANGS:
        if page_load(build, f, lang) is None:
            page_store(build, f, lang, page_draw(d, lang=lang))
            drawn += 1
    return drawn
