"""The dashboard: every figure recomputed independently in plain Python over the same rows and compared; the
"visible to you" counts against the access gates; aggregates only for analysts and outsiders; charts as
accessible SVG; the tile layout; freshness of the summaries."""

from __future__ import annotations

import csv
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, Team, User
from kartoteka.accounts.testing import login_verified
from kartoteka.casework.models import Incident, IncidentCategory, Recruitment, RecruitmentVisit
from kartoteka.demo import generate
from kartoteka.law.models import LedgerLine
from kartoteka.law.services import ledger_recompute, regimes_current
from kartoteka.people.models import Person
from kartoteka.reports import charts, page_charts, pdf_charts, selectors, services
from kartoteka.reports.models import SummaryState
from kartoteka.reports.selectors import Filters
from kartoteka.testing.factories import user_make

TODAY = datetime.now(UTC).date()  # the day the summaries judge overdue lines on
DATA = Path(__file__).resolve().parent.parent / "kartoteka" / "data"


@pytest.fixture(scope="module")
def demo_db(django_db_setup: None, django_db_blocker: Any, key_agent: Path) -> Iterator[None]:
    """The demo (60 persons) loaded once for the module, inside a transaction rolled back at its end; each
    test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        generate.demo_load(persons=60, seed=5)
        ledger_recompute(actor=None, person_ids=[str(p) for p in Person.objects.values_list("id", flat=True)])
        services.summaries_refresh()
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_db: None, db: None) -> dict[str, User]:
    return {u.username: u for u in User.objects.all()}


# --- the independent computation: plain Python over model rows ------------------------------------------


def _month(d: date | None) -> date | None:
    return None if d is None else d.replace(day=1)


def _in(f: Filters, month: date | None) -> bool:
    if f.month_from is not None and (month is None or month < f.month_from):
        return False
    return not (f.month_to is not None and (month is None or month > f.month_to))


def _incidents(f: Filters) -> list[tuple[Incident, list[str]]]:
    cats: dict[uuid.UUID, list[str]] = defaultdict(list)
    for c in IncidentCategory.objects.all():
        cats[c.incident_id].append(c.code)
    out = []
    for i in Incident.objects.select_related("facility"):
        region = i.region_id or (i.facility.region_id if i.facility else "") or ""
        ftype = i.facility.type if i.facility else ""
        if not _in(f, _month(i.date_start)):
            continue
        if (f.region and region != f.region) or (f.facility_type and ftype != f.facility_type):
            continue
        if f.verification and i.verification != f.verification:
            continue
        if f.category and f.category not in cats[i.id]:
            continue
        i.reg = region  # type: ignore[attr-defined]
        out.append((i, cats[i.id]))
    return out


def _expected(f: Filters) -> dict[str, object]:
    inc = _incidents(f)
    by_month: Counter[tuple[date, str]] = Counter()
    for i, cs in inc:
        if i.date_start is None:
            continue
        for c in cs:
            if not f.category or c == f.category:
                by_month[(_month(i.date_start), c)] += 1  # type: ignore[index]
    recs = []
    for r in Recruitment.objects.select_related("facility", "person"):
        if not _in(f, _month(r.signed_start)):
            continue
        if f.region and (r.facility.region_id if r.facility else "") != f.region:
            continue
        if f.facility_type and (r.facility.type if r.facility else "") != f.facility_type:
            continue
        if f.recruiter and r.recruiter != f.recruiter:
            continue
        recs.append(r)
    recruitment_ids = {r.id for r in recruitment_regimes()}
    regime_of: dict[uuid.UUID, str] = {}
    for line in LedgerLine.objects.filter(regime_id__in=recruitment_ids).order_by("regime_id"):
        if line.recruitment_id is not None:
            regime_of.setdefault(line.recruitment_id, line.regime_id)
    ledger: dict[str, defaultdict[str, Counter[str]]] = {
        k: defaultdict(Counter) for k in ("kind", "regime", "year")
    }
    for line in LedgerLine.objects.select_related("recruitment__facility"):
        rec = line.recruitment
        if not _in(f, _month(line.due_start)):
            continue
        if f.region and (rec.facility.region_id if rec and rec.facility else "") != f.region:
            continue
        if f.facility_type and (rec.facility.type if rec and rec.facility else "") != f.facility_type:
            continue
        if f.recruiter and (rec.recruiter if rec else "") != f.recruiter:
            continue
        status = line.status
        if status == "pending" and line.due_end is not None and line.due_end < TODAY:
            status = "overdue"
        ledger["kind"][line.kind][status] += 1
        ledger["regime"][line.regime_id or "unknown"][status] += 1
        ledger["year"][str(line.due_start.year) if line.due_start else "unknown"][status] += 1
    persons = [p for p in Person.objects.all() if not f.region or p.home_region_id == f.region]
    waves: Counter[tuple[str, str]] = Counter()
    for r in recs:
        if r.signed_start is not None:
            waves[(f"{r.signed_start.year}Q{(r.signed_start.month - 1) // 3 + 1}", r.recruiter)] += 1
    return {
        "incidents": len(inc),
        "incidents_by_month": sorted((m, c, n) for (m, c), n in by_month.items()),
        "incidents_by_region": Counter(i.reg for i, _c in inc),  # type: ignore[attr-defined]
        "incidents_by_facility": Counter(i.facility_id for i, _c in inc if i.facility_id),
        "verification_mix": Counter(i.verification for i, _c in inc),
        "recruitments": len(recs),
        "recruitment_by_recruiter": Counter(r.recruiter for r in recs),
        "recruitment_by_regime": Counter(regime_of.get(r.id, "") for r in recs),
        "recruitment_by_wave": sorted((q, rec, n) for (q, rec), n in waves.items()),
        "ledger": {by: {k: dict(c) for k, c in groups.items()} for by, groups in ledger.items()},
        "persons": len(persons),
        "persons_by_status": Counter(p.status for p in persons),
        "visits": _expected_visits(f),
    }


def recruitment_regimes() -> tuple[object, ...]:
    return regimes_current().recruitment


def _expected_visits(f: Filters) -> tuple[dict[int, int], dict[uuid.UUID, tuple[int, int, int]]]:
    offsets: Counter[int] = Counter()
    per: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0, 0])
    incidents = [
        (i.facility_id, i.date_start) for i in Incident.objects.all() if i.facility_id and i.date_start
    ]
    for v in RecruitmentVisit.objects.select_related("facility"):
        if v.date_start is None or not _in(f, _month(v.date_start)):
            continue
        if (f.region and v.facility.region_id != f.region) or (
            f.facility_type and v.facility.type != f.facility_type
        ):
            continue
        if f.recruiter and v.recruiter != f.recruiter:
            continue
        monday = v.date_start - timedelta(days=v.date_start.weekday())
        per[v.facility_id][0] += 1
        for fac, day in incidents:
            if fac != v.facility_id:
                continue
            k = ((day - timedelta(days=day.weekday())) - monday).days // 7
            if -8 <= k < 8:
                offsets[k] += 1
                per[fac][1 if k < 0 else 2] += 1
    return {k: offsets[k] for k in range(-8, 8)}, {fac: (a, b, c) for fac, (a, b, c) in per.items()}


def _compare(d: selectors.Dashboard, want: dict[str, object]) -> None:
    assert d.incidents.total == want["incidents"]
    assert sorted(d.incidents_by_month) == want["incidents_by_month"]
    assert dict(d.incidents_by_region) == dict(want["incidents_by_region"].items())  # type: ignore[attr-defined]
    top = Counter(want["incidents_by_facility"]).most_common()  # type: ignore[arg-type]
    assert [n for _f, n in d.incidents_by_facility] == [n for _f, n in top][: selectors.TOP_N]
    assert all(dict(top)[fid] == n for fid, n in d.incidents_by_facility)
    assert dict(d.verification_mix) == dict(want["verification_mix"])  # type: ignore[call-overload]
    assert d.recruitments.total == want["recruitments"]
    assert dict(d.recruitment_by_recruiter) == dict(want["recruitment_by_recruiter"])  # type: ignore[call-overload]
    assert dict(d.recruitment_by_regime) == dict(want["recruitment_by_regime"])  # type: ignore[call-overload]
    assert list(d.recruitment_by_wave) == want["recruitment_by_wave"]
    got_ledger = {by: {k: dict(c) for k, c in rows} for by, rows in d.ledger_by.items()}
    assert got_ledger == want["ledger"]
    assert d.ledger.total == sum(sum(c.values()) for c in want["ledger"]["kind"].values())  # type: ignore[index]
    assert d.persons.total == want["persons"]
    assert dict(d.persons_by_status) == dict(want["persons_by_status"])  # type: ignore[call-overload]
    offsets, per = want["visits"]  # type: ignore[misc]
    assert dict(d.visits.by_offset) == offsets
    assert {r.facility: (r.visits, r.before, r.after) for r in d.visits.per_facility} == per
    assert d.visits.visits.total == sum(v[0] for v in per.values())


def _filter_sets() -> list[Filters]:
    top_region = Counter(
        (i.region_id or (i.facility.region_id if i.facility else ""))
        for i in Incident.objects.select_related("facility")
    ).most_common(1)[0][0]
    category = IncidentCategory.objects.values_list("code", flat=True).first()
    return [
        Filters(),
        Filters(date_from=date(2023, 1, 1), date_to=date(2023, 12, 31)),
        Filters(region=top_region),
        Filters(category=category, verification="unverified"),
        Filters(facility_type="ik", recruiter="mod_storm_v"),
        Filters(date_from=date(2022, 9, 15), date_to=date(2024, 6, 3), region=top_region, recruiter="wagner"),
    ]


@pytest.mark.django_db
def test_it_computes_every_figure_as_plain_python_over_the_same_rows(demo: dict[str, User]) -> None:
    assert Incident.objects.exists() and LedgerLine.objects.exists() and RecruitmentVisit.objects.exists()
    for f in _filter_sets():
        d = selectors.dashboard(user=demo["demo-admin"], filters=f, today=TODAY)
        _compare(d, _expected(f))
    unfiltered = selectors.dashboard(user=None, filters=Filters(), today=TODAY)
    assert unfiltered.incidents.total == Incident.objects.count() > 0
    assert unfiltered.persons.total == Person.objects.count() == 60
    assert sum(n for _k, n in unfiltered.visits.by_offset) > 0  # the demo places incidents around visits


def _visible_incidents(user: User, f: Filters) -> int:
    ids = set(access.incident_list_for_user(user).values_list("id", flat=True))
    return sum(1 for i, _c in _incidents(f) if i.id in ids)


@pytest.mark.django_db
def test_it_counts_what_each_viewer_may_open_through_the_access_gates(demo: dict[str, User]) -> None:
    caseworker = demo["demo-caseworker"]  # one team of three
    lawyer = demo["demo-lawyer"]  # no team: sees only the cases shared with them
    for user in (caseworker, lawyer, demo["demo-admin"]):
        for f in _filter_sets()[:4]:
            d = selectors.dashboard(user=user, filters=f, today=TODAY)
            assert d.incidents.visible == _visible_incidents(user, f)
            persons = set(access.person_list_for_user(user).values_list("id", flat=True))
            want_persons = Person.objects.filter(id__in=persons)
            if f.region:
                want_persons = want_persons.filter(home_region_id=f.region)
            assert d.persons.visible == want_persons.count()
            lines = LedgerLine.objects.filter(person_id__in=persons)
            assert d.ledger.visible == sum(1 for line in lines if _in(f, _month(line.due_start))) or f.region
    d = selectors.dashboard(user=lawyer, filters=Filters(), today=TODAY)
    assert 0 < d.persons.visible < d.persons.total  # shared cases' persons, not the teams' others

    client = Client()
    login_verified(client, caseworker)
    page = unescape(client.get(reverse("reports:dashboard")).content.decode())
    full = selectors.dashboard(user=caseworker, filters=Filters(), today=TODAY)
    assert full.incidents.partial
    assert f"{full.incidents.visible} из {full.incidents.total} доступны вам" in page
    assert 'href="/casework/incidents/?' in page  # staff who may open the list get links


@pytest.mark.django_db
def test_it_shows_analysts_and_outsiders_aggregates_and_never_an_identity(
    demo: dict[str, User], reference_dir: Path
) -> None:
    outsider_team = Team.objects.create(name="Посторонние")
    outsider = user_make("dash-outsider", teams=(outsider_team,))
    analyst = demo["demo-analyst"]
    assert analyst.role == Role.ANALYST
    plan = generate.plan_build(
        persons=60, seed=5, facilities=generate.registry_selectors.facility_list(confidence="synthetic"),
        district_of=generate.region_districts(),
    )  # fmt: skip
    surnames = {p.full_name.split()[0] for p in plan.persons}
    for user in (analyst, outsider):
        client = Client()
        login_verified(client, user)
        response = client.get(reverse("reports:dashboard"))
        assert response.status_code == 200
        page = unescape(response.content.decode())
        assert "Инциденты" in page and "<svg" in page
        found = [s for s in surnames if re.search(rf"\b{re.escape(s)}\b", page)]
        assert not found, f"a name reached the dashboard: {found}"
        assert "/people/" not in page.split("<main", 1)[1].split("</main>", 1)[0].replace(
            'href="/people/"', ""
        )
        assert 'href="/casework/incidents/?' not in page  # nothing to open: no links to lists
    d = selectors.dashboard(user=outsider, filters=Filters(), today=TODAY)
    assert d.incidents.visible == 0 < d.incidents.total


@pytest.mark.django_db
def test_it_draws_accessible_svg_charts_in_both_languages(demo: dict[str, User]) -> None:
    client = Client()
    login_verified(client, demo["demo-coordinator"])
    for lang, word in (("ru", "Инциденты по месяцам"), ("en", "Incidents per month")):
        client.cookies["django_language"] = lang
        page = client.get(reverse("reports:dashboard"), HTTP_ACCEPT_LANGUAGE=lang).content.decode()
        # each figure's chart (the tile map's own layer is an <svg> inside it)
        svgs = re.findall(r'<figure class="chart" id="fig-[a-z_]+">\s*(<svg\b[^>]*>)', page)
        assert len(svgs) == page.count('<figure class="chart"') >= 12
        for opening in svgs:
            assert 'role="img"' in opening and "aria-labelledby" in opening and "aria-describedby" in opening
        assert unescape(page).count("<title id=") == len(svgs) and page.count("<desc id=") == len(svgs)
        assert word in unescape(page)
        assert "<script" not in page.split("<main", 1)[1]
        assert charts.OKABE_ITO[4].lower() in page.lower()  # Okabe–Ito blue in the bars


@pytest.mark.django_db
def test_it_filters_through_a_plain_get_form_and_says_what_is_wrong(demo: dict[str, User]) -> None:
    client = Client()
    login_verified(client, demo["demo-admin"])
    page = unescape(
        client.get(
            reverse("reports:dashboard"), {"date_from": "2023-01", "date_to": "2023-03"}
        ).content.decode()
    )
    d = selectors.dashboard(
        user=None, filters=Filters(date_from=date(2023, 1, 1), date_to=date(2023, 3, 31)), today=TODAY
    )
    assert f'Инциденты\n  <span class="count">· {d.incidents.total}</span>' in page
    bad = client.get(reverse("reports:dashboard"), {"date_from": "тридцатое февраля", "region": "XX-NOPE"})
    assert bad.status_code == 200
    assert 'role="alert"' in bad.content.decode()


@pytest.mark.django_db
def test_it_rebuilds_the_summaries_once_the_audit_chain_has_moved(demo: dict[str, User]) -> None:
    assert services.summaries_fresh()
    admin = demo["demo-admin"]
    from kartoteka.casework import services as casework
    from kartoteka.lib.partialdate import parse

    before = selectors.dashboard(user=None, filters=Filters(), today=TODAY).incidents.total
    casework.incident_create(
        actor=admin, team=Team.objects.get(name=generate.TEAM_NAMES[0]), facility_id=None, date=parse("2024-02-10"),
        categories=["beating"], verification="unverified",
    )  # fmt: skip
    assert not services.summaries_fresh()
    assert services.summaries_ensure()
    after = selectors.dashboard(user=None, filters=Filters(), today=TODAY).incidents.total
    assert after == before + 1 == Incident.objects.count()
    state = SummaryState.objects.get(id=1)
    # a large installation leaves the rebuild to the worker and says so
    casework.incident_create(
        actor=admin, team=Team.objects.get(name=generate.TEAM_NAMES[0]), facility_id=None, date=parse("2024-03-10"),
        categories=["beating"], verification="unverified",
    )  # fmt: skip
    assert services.summaries_ensure(inline_limit=state.size - 1) is False
    assert SummaryState.objects.get(id=1).queued


def test_it_lays_out_one_tile_per_region_with_occupied_ukraine_apart() -> None:
    with (DATA / "regions.csv").open(encoding="utf-8") as handle:
        regions = {
            r["code"]: r["status"]
            for r in csv.DictReader(line for line in handle if not line.startswith("#"))
        }
    layout = charts.tile_layout()
    assert set(layout) == set(regions)
    ru = [rc for code, rc in layout.items() if regions[code] == "ru"]
    ua = [rc for code, rc in layout.items() if regions[code] == "ua_occupied"]
    assert len(set(ru)) == len(ru) == 83 and len(set(ua)) == len(ua) == 6
    assert all(code.startswith("UA-") for code, status in regions.items() if status == "ua_occupied")
    spec = charts.tile_map({"RU-SVE": 3, "UA-43": 2}, names={}, title="Карта", lang="ru")
    for drawn in (page_charts.tiles(spec), pdf_charts.tiles(spec)):
        assert drawn.title == "Карта" and drawn.desc == spec.desc
    svg = page_charts.tiles(spec).svg
    assert "UA-43" in svg and "Оккупированные регионы" in svg
    assert len(re.findall(r'class="[^"]*\bmap-element\b', svg)) == len(layout)  # one tile per region


@pytest.mark.django_db
def test_it_keeps_drawn_charts_on_disk_and_counts_each_viewer_afresh(demo: dict[str, User]) -> None:
    from kartoteka.reports import drawn

    build = drawn.build_of(SummaryState.objects.get(id=1))
    assert build is not None
    drawn.predraw(today=TODAY)  # the worker's pre-draw: the default view, ru and en (an earlier test's
    assert drawn.predraw(today=TODAY) == 0  # view of this same build may have kept one already)
    for lang in drawn.LANGS:
        kept = drawn.page_load(build, Filters(), lang)
        assert kept is not None
        fresh = drawn.page_draw(selectors.dashboard(user=None, filters=Filters(), today=TODAY), lang=lang)
        assert kept == fresh  # the same charts and numbers as drawing anew
    files = list((drawn.root() / build).glob("*.json"))
    assert len(files) >= 2
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    # aggregates only: no person, incident or user id, no team
    for pid in Person.objects.values_list("id", flat=True):
        assert str(pid) not in text and pid.hex not in text
    for iid in Incident.objects.values_list("id", flat=True)[:50]:
        assert str(iid) not in text
    for team in Team.objects.all():
        assert str(team.id) not in text and team.name not in text

    caseworker, lawyer = demo["demo-caseworker"], demo["demo-lawyer"]
    pages = {}
    for user in (caseworker, lawyer):
        client = Client()
        login_verified(client, user)
        pages[user.username] = unescape(client.get(reverse("reports:dashboard")).content.decode())
        full = selectors.dashboard(user=user, filters=Filters(), today=TODAY)  # counted, not kept
        assert f"{full.persons.visible} из {full.persons.total} доступны вам" in pages[user.username]
    charts_of = [re.findall(r"<svg\b.*?</svg>", page, flags=re.S) for page in pages.values()]
    assert charts_of[0] == charts_of[1] and len(charts_of[0]) >= 12  # the same drawn charts for both
