"""`python -m bench search [--rows N] [--queries Q] [--database-url URL]`: name search at scale.

Loads N synthetic persons through person_bulk_create, then times ``person_find`` (limit 20) over Q queries
in a mix of spellings (Cyrillic full and short, initials, Latin ICAO / WP:RUS / BGN, MRZ, given-first),
and the same code path (``selectors.person_find_with``) over a plaintext shadow built in this bench
database only: a table of plaintext terms and a table of plaintext names. The ratio prices encryption.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from bench.import_bench import person_rows, regions_create
from bench.people_common import actor_and_team, environment
from bench.util import percentile, row

ORIGIN = "b" * 64


def _shadow_models() -> tuple[Any, Any]:
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

    with connection.schema_editor() as editor:
        editor.create_model(ShadowTerm)
        editor.create_model(ShadowName)
    return ShadowTerm, ShadowName


def _shadow_fill(n: int, seed: int, term_model: Any, name_model: Any) -> None:
    import json

    from django.db import transaction

    from kartoteka.lib import names
    from kartoteka.people.models import Record

    ids = Record.objects.filter(origin_file=ORIGIN).order_by("origin_row").values_list("origin_row", "id")
    terms: list[Any] = []
    plain: list[Any] = []

    def flush() -> None:
        with transaction.atomic():
            term_model.objects.bulk_create(terms)
            name_model.objects.bulk_create(plain)
        terms.clear()
        plain.clear()

    for (origin_row, record_id), data in zip(
        ids.iterator(chunk_size=5000), person_rows(n, seed), strict=True
    ):
        assert origin_row is not None
        found = names.record_terms(data.full_name, data.aliases)
        terms += [term_model(term=t, record_id=record_id) for t in found]
        plain.append(
            name_model(
                record_id=record_id,
                full_name=data.full_name,
                aliases=json.dumps(list(data.aliases), ensure_ascii=False) if data.aliases else "",
                birth_date=data.birth_date.to_edtf() if data.birth_date else "",
            )
        )
        if len(plain) >= 5000:
            flush()
    flush()


def _shadow_index(term_model: Any, name_model: Any) -> Any:
    from kartoteka.core import sealing
    from kartoteka.people.selectors import Candidate, TermIndex

    def candidates(record_ids: list[Any]) -> list[Candidate]:
        rows = name_model.objects.filter(record_id__in=record_ids).select_related("record__team")
        return [
            Candidate(
                r.record_id,
                r.record.person_id,
                r.record.team.name,
                r.full_name,
                tuple(sealing.json_list(r.aliases)),
                r.birth_date,
            )
            for r in rows
        ]

    return TermIndex(
        values=list, postings=lambda v: term_model.objects.filter(term__in=v), candidates=candidates
    )


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


def _time(fn: Any, queries: list[str]) -> tuple[list[float], int]:
    samples, returned = [], 0
    for q in queries:
        t0 = time.perf_counter()
        hits = fn(q)
        samples.append((time.perf_counter() - t0) * 1000)
        returned += len(hits)
    return samples, returned


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench search")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to run on (default SQLite)")
    args = parser.parse_args(argv)
    with environment(args.database_url) as _env:
        from dataclasses import replace

        from django.db import connection

        from kartoteka.people import selectors
        from kartoteka.people.services import person_bulk_create

        actor, team = actor_and_team()
        regions_create()
        rows = (
            replace(d, origin_file=ORIGIN, origin_row=i)
            for i, d in enumerate(person_rows(args.rows, args.seed))
        )
        t0 = time.perf_counter()
        created = person_bulk_create(actor=actor, team=team, rows=rows)
        print(f"loaded {created:,} persons in {time.perf_counter() - t0:.0f} s on {connection.vendor}")
        term_model, name_model = _shadow_models()
        _shadow_fill(args.rows, args.seed, term_model, name_model)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        shadow = _shadow_index(term_model, name_model)
        queries = _queries(args.rows, args.seed, args.queries)

        def real(q: str) -> list[Any]:
            return selectors.person_find(user=actor, query=q, limit=20)

        def plain(q: str) -> list[Any]:
            return selectors.person_find_with(shadow, user=actor, query=q, limit=20)

        for q in queries[:20]:  # warm caches and connections
            real(q)
            plain(q)
        agreement = sum(
            [h.person_id for h in real(q)] == [h.person_id for h in plain(q)] for q in queries[:50]
        )
        blind, returned = _time(real, queries)
        shadow_ms, shadow_returned = _time(plain, queries)
        print(f"person_find over {len(queries)} queries (limit 20), {returned / len(queries):.1f} hits/query")
        p50, p95 = percentile(blind, 50), percentile(blind, 95)
        s50, s95 = percentile(shadow_ms, 50), percentile(shadow_ms, 95)
        row("p50, blind index + decryption", p50, "ms")
        row("p95, blind index + decryption", p95, "ms")
        row("p50, plaintext shadow", s50, "ms", f"{shadow_returned / len(queries):.1f} hits/query")
        row("p95, plaintext shadow", s95, "ms", f"ratio p95 ×{p95 / s95:.2f}")
        row("same hits as the shadow (first 50 queries)", agreement, "/50")
        row(
            "load average (1 min) at the end",
            os.getloadavg()[0],
            "",
            "2 cores; above ~2.5 the machine is shared",
        )
    return 0
