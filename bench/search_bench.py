"""`python -m bench search [--rows N] [--queries Q] [--database-url URL | --reuse DIR]`: name search at scale.

Loads N synthetic persons through person_bulk_create, then times ``person_find`` (limit 20) over Q queries
in a mix of spellings (Cyrillic full and short, initials, Latin ICAO / WP:RUS / BGN, MRZ, given-first),
and the same code path (``selectors.person_find_with``) over a plaintext shadow built in this bench
database only: a table of plaintext terms and a table of plaintext names. The ratio prices encryption.

``--reuse DIR`` (SQLite only) keeps the data dir, keys and demo key under DIR: the first run loads and
fills the shadow and writes a marker, later runs with the same rows and seed go straight to the queries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from bench.import_bench import person_rows, regions_create
from bench.people_common import actor_and_team, environment, kept_environment
from bench.util import percentile, row

ORIGIN = "b" * 64
LIMIT = 20  # results a search asks for, as the target states it


def _shadow_models(*, create: bool = True) -> tuple[Any, Any]:
    from django.db import connection, models

    from kartoteka.people.models import Record

    class ShadowTerm(models.Model):
        term = models.CharField(max_length=80)
        record = models.ForeignKey(Record, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")

        class Meta:
            app_label = "people"
            db_table = "bench_shadow_term"
            indexes = [models.Index(fields=["term", "record"])]

    class ShadowName(models.Model):
        record = models.OneToOneField(
            Record, on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
        )
        full_name = models.TextField()
        aliases = models.TextField(default="")
        birth_date = models.CharField(max_length=40, default="")

        class Meta:
            app_label = "people"
            db_table = "bench_shadow_name"

    if create:
        with connection.schema_editor() as editor:
            editor.create_model(ShadowTerm)
            editor.create_model(ShadowName)
    return ShadowTerm, ShadowName


def _shadow_fill(n: int, seed: int, term_model: Any, name_model: Any) -> None:
    """The plaintext shadow of the loaded rows, by plain ``executemany`` (model instances for four
    million term rows took longer than the load itself)."""
    import json

    from django.db import connection, transaction

    from kartoteka.lib import names
    from kartoteka.people.models import Record

    record_field = Record._meta.pk
    assert record_field is not None
    q = connection.ops.quote_name
    insert_term = f"INSERT INTO {q(term_model._meta.db_table)} (term, record_id) VALUES (%s, %s)"
    insert_name = (
        f"INSERT INTO {q(name_model._meta.db_table)} (record_id, full_name, aliases, birth_date) "
        "VALUES (%s, %s, %s, %s)"
    )
    ids = Record.objects.filter(origin_file=ORIGIN).order_by("origin_row").values_list("origin_row", "id")
    terms: list[tuple[str, Any]] = []
    plain: list[tuple[Any, str, str, str]] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert_term, terms)
            cursor.executemany(insert_name, plain)
        terms.clear()
        plain.clear()

    for (origin_row, record_id), data in zip(
        ids.iterator(chunk_size=5000), person_rows(n, seed), strict=True
    ):
        assert origin_row is not None
        rid = record_field.get_db_prep_value(record_id, connection)
        terms += [(t, rid) for t in names.record_terms(data.full_name, data.aliases)]
        aliases = json.dumps(list(data.aliases), ensure_ascii=False) if data.aliases else ""
        plain.append((rid, data.full_name, aliases, data.birth_date.to_edtf() if data.birth_date else ""))
        if len(plain) >= 20_000:
            flush()
    flush()


def _shadow_index(term_model: Any, name_model: Any) -> Any:
    from kartoteka.core import sealing
    from kartoteka.people.selectors import Candidate, TermIndex

    def candidates(ids: list[Any]) -> list[Candidate]:
        rows = name_model.objects.filter(record_id__in=ids).values_list(
            "record_id", "record__person_id", "record__team__name", "full_name", "aliases", "birth_date"
        )
        return [
            Candidate(rid, pid, team, full, tuple(sealing.json_list(aliases)), born)
            for rid, pid, team, full, aliases, born in rows
        ]

    return TermIndex(values=list, postings=term_model, candidates=candidates)


def _queries(n_rows: int, seed: int, count: int) -> list[str]:
    from kartoteka.lib import names

    rng = random.Random(seed + 1)
    wanted = sorted(rng.sample(range(n_rows), min(count, n_rows)))
    picked: list[str] = []
    j = 0
    for i, data in enumerate(person_rows(n_rows, seed)):
        if j < len(wanted) and i == wanted[j]:
            picked.append(data.full_name)
            j += 1
        if j == len(wanted):
            break
    out = []
    for k, full in enumerate(picked):
        surname, given, patronymic = full.split(" ")
        forms = names.display_forms(full)
        choice = k % 8
        if choice == 0:
            out.append(full)
        elif choice == 1:
            out.append(f"{given} {surname}")
        elif choice == 2:
            out.append(f"{surname} {given[0]}. {patronymic[0]}.")
        elif choice == 3:
            out.append(forms["icao_9303"])
        elif choice == 4:
            out.append(forms["wp_rus"])
        elif choice == 5:
            out.append(forms.get("icao_9303_mrz", forms["bgn_pcgn"]))
        elif choice == 6:
            out.append(" ".join(forms["bgn_pcgn"].split(" ")[:2]))
        else:
            out.append(f"{surname}, {given} {patronymic}".replace("е", "ё", 1) if "е" in surname else full)
    return out


def _time(fn: Any, queries: list[str]) -> tuple[list[float], list[float], list[int]]:
    """Wall and CPU (this process; the agent's is not included) per query, in ms, and the hits of each."""
    samples, cpu, returned = [], [], []
    for q in queries:
        c0, t0 = time.process_time(), time.perf_counter()
        hits = fn(q)
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        returned.append(len(hits))
    return samples, cpu, returned


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench search")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to run on (default SQLite)")
    parser.add_argument(
        "--reuse", type=Path, default=None, metavar="DIR", help="keep the loaded SQLite database in DIR"
    )
    args = parser.parse_args(argv)
    if args.reuse is not None and args.database_url:
        parser.error("--reuse keeps a SQLite database; it does not combine with --database-url")
    env = kept_environment(args.reuse) if args.reuse is not None else environment(args.database_url)
    with env:
        return _run(args)


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The actor and the shadow models: loaded now, or found in a reused database loaded before."""

    from django.db import connection

    from kartoteka.accounts.models import User
    from kartoteka.people.services import person_bulk_create

    marker = args.reuse / "search-loaded.json" if args.reuse is not None else None
    wanted = {"rows": args.rows, "seed": args.seed}
    if marker is not None and marker.exists():
        if json.loads(marker.read_text()) != wanted:
            raise SystemExit(f"{args.reuse} holds {marker.read_text()}, not {wanted}: use another directory")
        print(f"reusing {args.rows:,} persons in {args.reuse}")
        return (User.objects.get(username="bench"), *_shadow_models(create=False))
    if marker is not None and User.objects.filter(username="bench").exists():
        raise SystemExit(f"{args.reuse} holds a load that did not finish: remove it and run again")
    actor, team = actor_and_team()
    regions_create()
    rows = (
        d._replace(origin_file=ORIGIN, origin_row=i) for i, d in enumerate(person_rows(args.rows, args.seed))
    )
    t0 = time.perf_counter()
    created = person_bulk_create(actor=actor, team=team, rows=rows)
    print(f"loaded {created:,} persons in {time.perf_counter() - t0:.0f} s on {connection.vendor}")
    term_model, name_model = _shadow_models()
    _shadow_fill(args.rows, args.seed, term_model, name_model)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    if marker is not None:
        marker.write_text(json.dumps(wanted))
    return actor, term_model, name_model


def _run(args: argparse.Namespace) -> int:
    from kartoteka.people import selectors

    actor, term_model, name_model = _load(args)
    shadow = _shadow_index(term_model, name_model)
    queries = _queries(args.rows, args.seed, args.queries)

    def real(q: str) -> list[Any]:
        return selectors.person_find(user=actor, query=q, limit=LIMIT)

    def plain(q: str) -> list[Any]:
        return selectors.person_find_with(shadow, user=actor, query=q, limit=LIMIT)

    for q in queries[:20]:  # warm caches and connections
        real(q)
        plain(q)
    agreement = sum([h.person_id for h in real(q)] == [h.person_id for h in plain(q)] for q in queries[:50])
    load_before = os.getloadavg()[0]
    blind, blind_cpu, returned = _time(real, queries)
    shadow_ms, shadow_cpu, shadow_returned = _time(plain, queries)
    print(
        f"person_find over {len(queries)} queries (limit {LIMIT}), {sum(returned) / len(queries):.1f} hits/query"
    )
    p50, p95 = percentile(blind, 50), percentile(blind, 95)
    # Rare names match fewer than LIMIT persons; the queries that fill the page are timed apart as well.
    full = [ms for ms, n in zip(blind, returned, strict=True) if n == LIMIT]
    s50, s95 = percentile(shadow_ms, 50), percentile(shadow_ms, 95)
    row("p50, blind index + decryption", p50, "ms")
    row("p95, blind index + decryption", p95, "ms")
    row(
        "p99, blind index + decryption",
        percentile(blind, 99),
        "ms",
        f"shadow {percentile(shadow_ms, 99):.2f} ms",
    )
    if full:
        row(
            f"p95, blind, queries returning {LIMIT} results",
            percentile(full, 95),
            "ms",
            f"{len(full)} queries",
        )
    row("p50, plaintext shadow", s50, "ms", f"{sum(shadow_returned) / len(queries):.1f} hits/query")
    row("p95, plaintext shadow", s95, "ms", f"ratio p95 ×{p95 / s95:.2f}")
    row(
        "CPU p50 / p95, blind (searching process)",
        percentile(blind_cpu, 50),
        "ms",
        f"{percentile(blind_cpu, 95):.2f} ms",
    )
    row("CPU p50 / p95, shadow", percentile(shadow_cpu, 50), "ms", f"{percentile(shadow_cpu, 95):.2f} ms")
    row("same hits as the shadow (first 50 queries)", agreement, "/50")
    row("load average (1 min) before the timed queries", load_before, "")
    row(
        "load average (1 min) at the end",
        os.getloadavg()[0],
        "",
        "2 cores; above ~2.5 the machine is shared",
    )
    return 0
