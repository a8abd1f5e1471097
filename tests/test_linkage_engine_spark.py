"""The same linkage model on Splink's Spark backend (local mode): 10,000 records, the same pairs as DuckDB."""

from __future__ import annotations

import random
import sys
import uuid
from pathlib import Path

import pytest

from kartoteka.linkage.engine import ACCEPT, OpenedRecord, cluster, model_train, predict, prepare_records
from kartoteka.linkage.engine.backends import java_available
from kartoteka.linkage.types import PairScore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.linkage_bench import birth_text, cluster_pairs, score, truth_pairs, typo
from bench.people_common import NameGenerator


def _sample(n: int, seed: int) -> tuple[list[OpenedRecord], dict[uuid.UUID, int]]:
    """n records of n/2 persons, each reported twice (the second with typos, partial dates)."""
    rng, gen = random.Random(seed), NameGenerator(seed)
    records, entity = [], {}
    for person in range(n // 2):
        name = gen.one()
        y, m, d = name.birth_year, rng.randint(1, 12), rng.randint(1, 28)
        for copy in range(2):
            rid = uuid.UUID(int=rng.getrandbits(128))
            text = typo(name.full_name, rng) if copy and rng.random() < 0.2 else name.full_name
            records.append(
                OpenedRecord(
                    rid, text, birth_date=birth_text(y, m, d, rng) if copy else f"{y:04d}-{m:02d}-{d:02d}"
                )
            )
            entity[rid] = person
    return records, entity


def test_it_links_ten_thousand_records_on_spark_as_on_duckdb() -> None:
    if not java_available():
        print("skipped: `java` is not on PATH, so Spark cannot start")
        pytest.skip("java is missing")
    from kartoteka.linkage.engine.backends import spark_session
    from kartoteka.linkage.engine.model import spark_backend

    records, entity = _sample(10_000, seed=5)
    df = prepare_records(records)
    model = model_train(df)
    on_duckdb = {(p.record_a_id, p.record_b_id): p.match_probability for p in predict(df, None, model)}
    with spark_session() as session:
        on_spark = {
            (p.record_a_id, p.record_b_id): p.match_probability
            for p in predict(df, None, model, engine="spark", backend=spark_backend(session))
        }
    # Spark's Jaro-Winkler (Splink's Scala UDF) and DuckDB's differ in the last digits: a pair sitting on the
    # review cut may fall on either side. Everything else must agree.
    differ = on_spark.keys() ^ on_duckdb.keys()
    assert len(differ) <= len(on_duckdb) // 1000
    common = on_spark.keys() & on_duckdb.keys()
    assert sum(abs(on_spark[k] - on_duckdb[k]) > 0.01 for k in common) <= len(common) // 1000
    truth = truth_pairs(entity)
    f1_spark = score(cluster_pairs(cluster(_scores(on_spark), ACCEPT)), truth).f1
    f1_duckdb = score(cluster_pairs(cluster(_scores(on_duckdb), ACCEPT)), truth).f1
    assert f1_spark >= 0.9 and abs(f1_spark - f1_duckdb) < 0.005


def _scores(found: dict[tuple[uuid.UUID, uuid.UUID], float]) -> list[PairScore]:
    return [PairScore(a, b, p, 0.0, {}) for (a, b), p in found.items()]
