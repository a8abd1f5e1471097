"""`python -m bench dashboard [--incidents N] [--persons P] [--database-url URL] [--repeat R] [--keep DIR]
[--generate-only]`: the dashboard at scale (default 1,000,000 incidents and 200,000 persons), on SQLite or on
PostgreSQL.

``--keep DIR`` (e.g. /var/tmp/kartoteka-dash) keeps the generated database between runs and reuses it when
it holds the same sizes: the SQLite file under DIR, or a PostgreSQL database named after the sizes (not
dropped; ``DROP DATABASE`` it by hand). Generation takes minutes per database; with ``--generate-only`` a
run stops after it, so the timed run can follow under the benchmark lock. Every run migrates and rebuilds
the summaries (the rebuild is timed).

1. Bulk-generates synthetic rows on a throw-away database: persons (team, status, home region), one
   recruitment each, three ledger lines each, recruitment visits, and incidents with 1–2 categories each.
   Incidents are sealed models, but the dashboard reads only their coded columns (team, facility, region,
   dates, verification, categories): rows are inserted with those columns, no sealed text, and a
   placeholder wrapped key (nothing here decrypts), exactly as `bench ledger` does.
2. Rebuilds the summary tables (timed: the worker's job after writes).
3. Over 20 fixed filter combinations, each run R times as a team member whose teams own a third of the
   data: every dashboard query's p50/p95 (target p95 ≤ 100 ms) and the whole page through Django's test
   client (target ≤ 500 ms server time): the first view of each combination after a rebuild (the default
   view pre-drawn as the worker does, the others drawing their charts) and repeated views (charts kept on
   disk per summary build, filters and language: only the viewer's counts are queried).
4. Baseline, measured in the same run: the same figures counted straight from the source tables (the
   incidents-by-month-and-category and by-region group-bys without summaries).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.people_common import _url, environment
from bench.util import percentile, row

QUERY_TARGET_MS = 100.0
PAGE_TARGET_MS = 500.0
START = date(2022, 7, 1)
DAYS = 1100
BATCH = 20_000
CATEGORIES = (
    "parcels_blocked", "heating_cut", "clothes_confiscated", "visits_banned", "calls_cut", "beating",
    "punishment_cell", "threat_new_charges", "threat_extremism", "investigator_deception",
    "lawyer_calls_denied", "recruitment_pressure",
)  # fmt: skip
VERIFICATION = ("unverified", "corroborated", "verified", "disputed")
RECRUITERS = ("wagner", "mod_storm_z", "mod_storm_v", "pretrial_contract")
STATUSES = ("in_custody", "recruited", "at_front", "wounded", "missing", "killed", "returned", "unknown")
KINDS = ("monthly_pay", "signup_bonus", "pardon")
LEDGER = ("kept", "partly_kept", "broken", "pending", "beyond_the_law", "overdue")


def _ids(n: int) -> list[uuid.UUID]:
    from kartoteka.core.fields import new_id

    return [new_id() for _ in range(n)]


def _insert(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    from django.db import connection, transaction

    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    with transaction.atomic(), connection.cursor() as cur:
        for start in range(0, len(rows), BATCH):
            cur.executemany(sql, rows[start : start + BATCH])


def _uuid(value: uuid.UUID) -> Any:
    from django.db import connection

    return value if connection.vendor == "postgresql" else value.hex


def generate(n_incidents: int, n_persons: int, rng: random.Random) -> dict[str, Any]:
    """Synthetic rows; returns the teams and the viewer."""
    from kartoteka.accounts.models import Membership, Role, Team, User
    from kartoteka.registry import services as registry
    from kartoteka.registry.models import Facility

    registry.reference_load()
    teams = [Team.objects.create(name=f"Бенч {i}") for i in range(3)]
    viewer = User.objects.create_user(
        username="bench-viewer", password=uuid.uuid4().hex, role=Role.COORDINATOR
    )
    Membership.objects.create(user=viewer, team=teams[0])
    facilities = list(Facility.objects.values_list("id", "region_id"))
    team_ids = [t.id for t in teams]
    # As organisations work (and the demo does): each team documents its own regions.
    regions = sorted({r for _f, r in facilities})
    team_of = {r: team_ids[i % len(team_ids)] for i, r in enumerate(regions)}
    now = "2025-06-01 00:00:00+00:00"
    u = _uuid

    t0 = time.perf_counter()
    persons = _ids(n_persons)
    _insert(
        "people_person", ("id", "team_id", "status", "sex", "home_region_id", "created_at"),
        [(u(p), u(team_of[reg]), rng.choice(STATUSES), "m", reg, now)
         for p, reg in ((p, rng.choice(facilities)[1]) for p in persons)],
    )  # fmt: skip
    recruitments = _ids(n_persons)
    rec_rows = []
    for p, r in zip(persons, recruitments, strict=True):
        day = START + timedelta(days=rng.randrange(DAYS))
        fac = rng.choice(facilities)[0]
        rec_rows.append(
            (u(r), u(p), rng.choice(RECRUITERS), day.isoformat(), day, day, u(fac), "convicted", "", "")
        )
    _insert(
        "casework_recruitment",
        ("id", "person_id", "recruiter", "signed_edtf", "signed_start", "signed_end", "facility_id", "legal_status",
         "unit", "stated_regime"),
        rec_rows,
    )  # fmt: skip
    line_rows = []
    for p, r in zip(persons, recruitments, strict=True):
        for seq, kind in enumerate(KINDS):
            due = START + timedelta(days=rng.randrange(DAYS))
            line_rows.append((
                u(uuid.uuid4()), u(p), u(r), kind, seq, rng.choice(LEDGER), due.isoformat(), due, due,
                "RUB", rng.choice(("storm-v-270fz-2023", "fz64-2024", "wagner-2022")), "v", "x", "[]", "", "[]",
                False, now,
            ))  # fmt: skip
    _insert(
        "law_ledgerline",
        ("id", "person_id", "recruitment_id", "kind", "seq", "status", "due_edtf", "due_start", "due_end",
         "currency", "regime_id", "regime_version", "regime_set", "provisions", "confidence", "missing_facts",
         "legal_question", "computed_at"),
        line_rows,
    )  # fmt: skip
    print(f"  persons, recruitments, {len(line_rows)} ledger lines: {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    visit_rows = []
    for _ in range(3000):
        fac = rng.choice(facilities)[0]
        day = START + timedelta(days=rng.randrange(DAYS))
        region = dict(facilities)[fac]
        visit_rows.append(
            (u(uuid.uuid4()), u(team_of[region]), u(fac), rng.choice(RECRUITERS), day.isoformat(), day, day)
        )
    _insert(
        "casework_recruitmentvisit",
        ("id", "team_id", "facility_id", "recruiter", "date_edtf", "date_start", "date_end"),
        visit_rows,
    )  # fmt: skip
    placeholder = b"\x00" * 16
    for start in range(0, n_incidents, 100_000):
        count = min(100_000, n_incidents - start)
        incidents = _ids(count)
        inc_rows = []
        cat_rows = []
        for i in incidents:
            fac, region = rng.choice(facilities)
            day = START + timedelta(days=rng.randrange(DAYS))
            inc_rows.append((
                u(i), u(team_of[region]), u(fac), region, day.isoformat(), day, day, None,
                rng.choices(VERIFICATION, weights=(5, 3, 2, 1))[0], placeholder, now,
            ))  # fmt: skip
            for code in rng.sample(CATEGORIES, rng.choice((1, 1, 2))):
                cat_rows.append((u(i), code))
        _insert(
            "casework_incident",
            ("id", "team_id", "facility_id", "region_id", "date_edtf", "date_start", "date_end", "victim_count",
             "verification", "wrapped_key", "created_at"),
            inc_rows,
        )  # fmt: skip
        _insert("casework_incidentcategory", ("incident_id", "code"), cat_rows)
    print(f"  {n_incidents} incidents with categories, 3000 visits: {time.perf_counter() - t0:.1f} s")
    _analyze()
    return {"viewer": viewer, "teams": teams}


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE")


@contextlib.contextmanager
def kept_environment(database_url: str | None, keep: Path, sizes: dict[str, int]) -> Iterator[bool]:
    """Like :func:`environment`, on a database kept under ``keep`` between runs; yields whether it already
    holds generated data of these sizes. Keys and the agent are throw-away (nothing here decrypts)."""
    keep.mkdir(parents=True, exist_ok=True)
    vendor = "postgresql" if database_url else "sqlite"
    marker = keep / f"{vendor}-{sizes['incidents']}-{sizes['persons']}.json"
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kartoteka-bench-")))
        os.environ.setdefault("KARTOTEKA_SECRET_KEY", secrets.token_hex(32))
        os.environ["DJANGO_SETTINGS_MODULE"] = "kartoteka.testing.settings"
        os.environ["KARTOTEKA_KEYS_DIR"] = str(tmp / "keys")  # never the shell's installation keys
        os.environ.pop("KARTOTEKA_AGENT_SOCKET", None)
        if database_url:
            from psycopg import sql

            from kartoteka.testing import postgres

            os.environ["KARTOTEKA_TEST_DATABASE_URL"] = database_url
            name = f"kartoteka_bench_dashboard_{sizes['incidents']}_{sizes['persons']}"
            with postgres.admin_connect() as admin:
                if not marker.exists():  # none yet, or a generation that did not finish: start afresh
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                    )
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            os.environ["DATABASE_URL"] = _url(postgres.dsn_for(name))
        else:
            os.environ.pop("DATABASE_URL", None)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from kartoteka.lib import agent, keys

        # The test settings put the data dir (and so the SQLite file) in a per-process temporary directory:
        # point the database and the audit head file at the kept directory before anything connects.
        if not database_url:
            database = keep / "kartoteka.sqlite3"
            if not marker.exists():
                for stale in (database, keep / "kartoteka.sqlite3-wal", keep / "kartoteka.sqlite3-shm"):
                    stale.unlink(missing_ok=True)
            settings.DATABASES["default"]["NAME"] = str(database)
        settings.AUDIT_HEAD_FILE = keep / f"{vendor}-audit-head"
        demo_key = tmp / "demo.key"
        keys.init(settings.KEYS_DIR, None, demo_key_file=demo_key)
        proc = agent.spawn(settings.KEYS_DIR, settings.AGENT_SOCKET, demo_key_file=demo_key)
        try:
            call_command("migrate", verbosity=0)
            yield marker.exists()
            if not marker.exists():
                marker.write_text(json.dumps(sizes))
        finally:
            from django.db import connections

            connections.close_all()
            agent.stop(settings.AGENT_SOCKET)
            proc.wait(timeout=10)


def scene_load() -> dict[str, Any]:
    """The viewer and teams of a kept database."""
    from kartoteka.accounts.models import Team, User

    return {
        "viewer": User.objects.get(username="bench-viewer"),
        "teams": list(Team.objects.filter(name__startswith="Бенч ").order_by("name")),
    }


def combinations(rng: random.Random) -> list[Any]:
    """20 fixed filter combinations (the same in every run: a seeded generator)."""
    from kartoteka.registry.models import Region
    from kartoteka.reports.selectors import Filters

    regions = sorted(Region.objects.filter(status="ru").values_list("code", flat=True))
    out = [Filters()]
    while len(out) < 20:
        y0 = rng.choice((2022, 2023, 2024))
        span = rng.choice((None, 3, 12))
        date_from = date(y0, rng.randrange(1, 13), 1) if span else None
        date_to = (date_from + timedelta(days=31 * span)) if date_from and span else None
        out.append(
            Filters(
                date_from=date_from,
                date_to=date_to,
                region=rng.choice((None, None, rng.choice(regions))),
                facility_type=rng.choice((None, None, "ik", "sizo")),
                recruiter=rng.choice((None, None, *RECRUITERS)),
                category=rng.choice((None, None, *CATEGORIES[:4])),
                verification=rng.choice((None, None, "verified", "unverified")),
            )
        )
    return out


def _query_string(f: Any) -> dict[str, str]:
    q = {}
    for name in ("region", "facility_type", "recruiter", "category", "verification"):
        if getattr(f, name):
            q[name] = getattr(f, name)
    if f.date_from:
        q["date_from"] = f"{f.date_from:%Y-%m}"
    if f.date_to:
        q["date_to"] = f"{f.date_to:%Y-%m}"
    return q


def _baseline(filters: list[Any]) -> float:
    """p95 of the two heaviest figures counted straight from the source tables (no summaries)."""
    from django.db.models import Count, F
    from django.db.models.functions import Coalesce, TruncMonth

    from kartoteka.casework.models import Incident, IncidentCategory

    samples = []
    for f in filters[:5]:
        t0 = time.perf_counter()
        qs = IncidentCategory.objects.all()
        inc = Incident.objects.all()
        if f.month_from:
            qs = qs.filter(incident__date_start__gte=f.month_from)
            inc = inc.filter(date_start__gte=f.month_from)
        if f.region:
            qs = qs.filter(incident__region_id=f.region)
            inc = inc.filter(region_id=f.region)
        list(qs.annotate(m=TruncMonth("incident__date_start")).values("m", "code").annotate(n=Count("id")))
        list(
            inc.annotate(r=Coalesce(F("region_id"), F("facility__region_id")))
            .values("r")
            .annotate(n=Count("id"))
        )
        samples.append((time.perf_counter() - t0) * 1000)
    return percentile(samples, 95)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench dashboard")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--database-url", default=None, help="postgres://… (default: SQLite in a temp dir)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="keep and reuse the database under this dir")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="skip the minutes-long no-summary baseline"
    )
    parser.add_argument("--generate-only", action="store_true", help="stop after generating (with --keep)")
    args = parser.parse_args(argv)
    rng = random.Random(9)
    sizes = {"incidents": args.incidents, "persons": args.persons}
    if args.keep is None:
        env: Any = environment(args.database_url)
    else:
        env = kept_environment(args.database_url, args.keep, sizes)
    with env as reused:
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django.urls import reverse

        from kartoteka.accounts.testing import login_verified
        from kartoteka.reports import drawn, selectors, services

        print(f"dashboard bench on {connection.vendor}: {args.incidents} incidents, {args.persons} persons")
        if reused is True:
            print(f"  reusing the generated data under {args.keep}")
            scene = scene_load()
        else:
            scene = generate(args.incidents, args.persons, rng)
        if args.generate_only:
            return 0
        result = services.summaries_refresh()
        row("summary rebuild (all tables)", result.seconds, "s", f"{result.rows} summary rows")
        for name, seconds in result.per_table.items():
            row(f"  {name}", seconds, "s")
        t0 = time.perf_counter()
        pages = drawn.predraw(today=date.today())  # what the worker does after its rebuild
        row("pre-draw the default view (ru, en)", time.perf_counter() - t0, "s", f"{pages} pages")
        filters = combinations(random.Random(20))
        today = date(2025, 6, 1)
        per_query: dict[str, list[float]] = {}
        totals: list[float] = []
        for _ in range(args.repeat):
            for f in filters:
                t0 = time.perf_counter()
                d = selectors.dashboard(user=scene["viewer"], filters=f, today=today)
                totals.append((time.perf_counter() - t0) * 1000)
                for name, seconds in d.timings.items():
                    per_query.setdefault(name, []).append(seconds * 1000)
        worst = 0.0
        for name, samples in sorted(per_query.items()):
            p95 = percentile(samples, 95)
            worst = max(worst, p95)
            verdict = "ok" if p95 <= QUERY_TARGET_MS else "OVER"
            print(f"  query {name:<26} p50 {percentile(samples, 50):7.1f} ms   p95 {p95:7.1f} ms   {verdict}")
        row("all queries of one view, p95", percentile(totals, 95), "ms")
        if not args.skip_baseline:
            baseline = _baseline(filters)
            row("baseline: 2 figures from source tables, p95", baseline, "ms")
            summary_two = [
                a + b
                for a, b in zip(
                    per_query["incidents_by_month"], per_query["incidents_by_region"], strict=True
                )
            ]
            print(f"  same 2 figures from summaries: {percentile(summary_two, 95):.1f} ms p95 "
                  f"({baseline / max(percentile(summary_two, 95), 1e-6):.0f}× faster than the baseline)")  # fmt: skip

        setup_test_environment()  # the test client's host name, allowed
        client = Client()
        login_verified(client, scene["viewer"])
        url = reverse("reports:dashboard")
        # A serving process has rendered pages before: warm the shared templates (base, nav, forms) with
        # the report list, which draws no chart and fills no dashboard cache, so no combination is favoured.
        client.get(reverse("reports:list"))
        cold: list[float] = []
        warm: list[float] = []
        for f in filters:
            for i in range(args.repeat):
                t0 = time.perf_counter()
                response = client.get(url, _query_string(f))
                (cold if i == 0 else warm).append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"dashboard: HTTP {response.status_code}")
        p95_warm = percentile(warm, 95)
        p95_cold = percentile(cold, 95)
        ok_warm = "ok" if p95_warm <= PAGE_TARGET_MS else "OVER"
        ok_cold = "ok" if p95_cold <= PAGE_TARGET_MS else "OVER"
        print(f"  page, repeated view  p50 {percentile(warm, 50):7.1f} ms   p95 {p95_warm:7.1f} ms   {ok_warm}"
              "   (charts drawn before: the viewer's counts are queried)")  # fmt: skip
        print(f"  page, first view     p50 {percentile(cold, 50):7.1f} ms   p95 {p95_cold:7.1f} ms   {ok_cold}"
              "   (first view of each combination after a rebuild)")  # fmt: skip
        print(f"    of which the default view (pre-drawn) {cold[0]:.1f} ms; the 19 filtered ones, drawing their "
              f"charts: p50 {percentile(cold[1:], 50):.1f} ms, p95 {percentile(cold[1:], 95):.1f} ms")  # fmt: skip
        print(f"slowest query p95 {worst:.1f} ms ({worst / QUERY_TARGET_MS:.2f}× the target); page p95: "
              f"repeated {p95_warm:.1f} ms, first view {p95_cold:.1f} ms (target {PAGE_TARGET_MS:.0f} ms)")  # fmt: skip
    return 0
