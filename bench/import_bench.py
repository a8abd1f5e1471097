"""`python -m bench import [--rows N] [--database-url URL]`: the person_bulk_create service path.

Times the real service (validation, sealing through a real key agent, blind indexes, raw inserts, one
audit entry per batch) over N synthetic persons streamed from a generator, and prints persons/s and the
peak RSS of this process and of the agent. For information it also times raw ``sqlite3.executemany`` of
the same rows, unencrypted and unindexed, into a plain table, and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.people_common import NameGenerator, actor_and_team, environment, process_cpu_s, process_hwm_mb
from bench.util import peak_rss_mb, row

REGIONS = ("RU-MOS", "RU-SVE", "RU-KEM", "RU-IRK", "RU-KDA", "RU-ROS", "RU-BA", "RU-TA")


def person_rows(n: int, seed: int) -> Iterator[Any]:
    """N synthetic PersonInput rows, deterministic by seed (repeated birth dates share one PartialDate)."""
    from kartoteka.lib.partialdate import PartialDate
    from kartoteka.people.services import PersonInput

    gen = NameGenerator(seed)
    dates: dict[tuple[int, int], PartialDate] = {}
    for i in range(n):
        surname, given, patronymic, male, year = gen.parts()
        month = 0 if i % 4 else 1 + i % 12
        born = dates.get((year, month))
        if born is None:
            born = dates[year, month] = PartialDate.of(year, month) if month else PartialDate.of(year)
        yield PersonInput(
            full_name=f"{surname} {given} {patronymic}",
            aliases=(f"{given} {surname}",) if i % 10 == 0 else (),
            birth_date=born,
            sex="m" if male else "f",
            home_region_code=REGIONS[i % len(REGIONS)] if i % 3 else None,
            articles=("105.1",) if i % 7 == 0 else (),
            sentence_months=12 * (1 + i % 20) if i % 2 else None,
            status="recruited" if i % 5 == 0 else "unknown",
        )


def regions_create() -> None:
    from kartoteka.registry.models import Region

    for code in REGIONS:
        Region.objects.get_or_create(code=code, defaults={"name_ru": code, "name_en": code, "status": "ru"})


def raw_sqlite(path: Path, n: int, seed: int, batch: int) -> float:
    """Persons/s of the same rows, plaintext, into one plain table with executemany (no crypto, no index)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE person (id TEXT PRIMARY KEY, team TEXT, full_name TEXT, aliases TEXT, birth_date TEXT, "
        "sex TEXT, region TEXT, articles TEXT, sentence_months INTEGER, status TEXT)"
    )
    import json
    import uuid

    t0 = time.perf_counter()
    buf: list[tuple[object, ...]] = []
    team = uuid.uuid4().hex
    for data in person_rows(n, seed):
        buf.append(
            (
                uuid.uuid4().hex, team, data.full_name, json.dumps(list(data.aliases), ensure_ascii=False),
                data.birth_date.to_edtf() if data.birth_date else None, data.sex, data.home_region_code,
                json.dumps(list(data.articles)), data.sentence_months, data.status,
            )
        )  # fmt: skip
        if len(buf) >= batch:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO person VALUES (?,?,?,?,?,?,?,?,?,?)", buf)
            conn.execute("COMMIT")
            buf.clear()
    if buf:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO person VALUES (?,?,?,?,?,?,?,?,?,?)", buf)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return n / elapsed


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have exited (the import's sealing helper)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to run on (default SQLite)")
    args = parser.parse_args(argv)
    with environment(args.database_url) as env:
        from django.db import connection

        from kartoteka.people.models import NameTerm, Person, Record
        from kartoteka.people.services import person_bulk_create

        actor, team = actor_and_team()
        regions_create()
        helper0, children_rss0 = _children_cpu_s(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cpu0, agent0, t0 = time.process_time(), process_cpu_s(env.agent_proc.pid), time.perf_counter()
        created = person_bulk_create(
            actor=actor, team=team, rows=person_rows(args.rows, args.seed), batch_size=args.batch
        )
        elapsed = time.perf_counter() - t0
        cpu, agent_cpu = time.process_time() - cpu0, process_cpu_s(env.agent_proc.pid) - agent0
        helper_cpu = _children_cpu_s() - helper0  # the sealing helper has exited; the agent still runs
        rate = created / elapsed
        agent_mb = process_hwm_mb(env.agent_proc.pid)
        print(f"person_bulk_create: {created:,} persons on {connection.vendor}, batches of {args.batch}")
        row("persons/s (service path: seal, index, audit)", rate, "/s", f"{elapsed:.1f} s")
        row("CPU per person, this process", cpu / max(created, 1) * 1e6, "µs")
        row("CPU per person, sealing helper process", helper_cpu / max(created, 1) * 1e6, "µs")
        row("CPU per person, key agent", agent_cpu / max(created, 1) * 1e6, "µs")
        row("CPU per person, all three", (cpu + helper_cpu + agent_cpu) / max(created, 1) * 1e6, "µs")
        row("peak RSS, this process", peak_rss_mb(), "MB")
        row("peak RSS, key agent", agent_mb, "MB")
        children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        row(
            "peak RSS, sealing helper",
            children_rss / 1024,
            "MB",
            "at most (the largest exited child)" if children_rss == children_rss0 else "",
        )
        row("name terms per person", NameTerm.objects.count() / max(created, 1), "")
        row(
            "load average (1 min) at the end",
            os.getloadavg()[0],
            "",
            "2 cores; above ~2.5 the machine is shared",
        )
        assert Person.objects.count() == created == Record.objects.count()
        raw = raw_sqlite(env.tmp / "raw.sqlite3", args.rows, args.seed, args.batch)
        row("raw sqlite3.executemany, plaintext (info)", raw, "/s", f"×{raw / rate:.1f} the service path")
    return 0
