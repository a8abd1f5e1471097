"""The linkage engine: features, the Splink model on the cross-script set, clusters, runs over the database,
and no plaintext on disk while it runs."""

from __future__ import annotations

import re
import secrets
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied

from kartoteka.linkage.engine import (
    ACCEPT,
    LinkModel,
    OpenedRecord,
    cluster,
    model_train,
    predict,
    prepare_records,
)
from kartoteka.linkage.engine.backends import duckdb_connection, duckdb_settings
from kartoteka.linkage.engine.features import birth_features
from kartoteka.linkage.types import PairScore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.linkage_bench import cluster_pairs, cross_script_set, score, truth_pairs


@pytest.fixture(scope="module")
def cross() -> tuple[object, list[PairScore], LinkModel]:
    data = cross_script_set(seed=11)
    df = prepare_records(data.records)
    model = model_train(df)
    return data, list(predict(df, None, model)), model


def test_it_keeps_birth_date_precision() -> None:
    day, month, year = birth_features("1985-03-12"), birth_features("1985-03"), birth_features("1985")
    assert (day.year, day.month, day.day, day.date) == (1985, 3, 12, "1985-03-12")
    assert (month.month, month.day, month.date) == (3, None, None)
    assert year.lo is not None and year.hi is not None and year.hi - year.lo == 364
    assert birth_features("не дата").lo is None


def test_it_gives_spellings_in_two_scripts_the_same_name_keys() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    df = prepare_records(
        [OpenedRecord(a, "Иванов Пётр Сергеевич", birth_date="1985"), OpenedRecord(b, "Pyotr S. Ivanov")]
    )
    assert df.loc[0, "surname"] == df.loc[1, "surname"]
    assert df.loc[0, "given"] == df.loc[1, "given"]
    assert df.loc[0, "patronymic_init"] == df.loc[1, "patronymic_init"] and df["patronymic"].isna()[1]
    assert df.loc[0, "sex"] == "m" and df.loc[0, "birth_year"] == 1985


def test_it_links_the_cross_script_set_with_high_f1(cross: tuple[object, list[PairScore], LinkModel]) -> None:
    data, pairs, model = cross
    s = score(cluster_pairs(cluster(pairs, model.accept_threshold)), truth_pairs(data.entity))  # type: ignore[attr-defined]
    assert s.precision >= 0.98 and s.recall >= 0.9 and s.f1 >= 0.95


def test_it_never_merges_a_hard_negative(cross: tuple[object, list[PairScore], LinkModel]) -> None:
    data, pairs, model = cross
    where = {rid: i for i, c in enumerate(cluster(pairs, model.accept_threshold)) for rid in c}
    merged = [(a, b) for a, b in data.hard_pairs if a in where and where[a] == where.get(b)]  # type: ignore[attr-defined]
    assert merged == []


def test_it_round_trips_the_model_as_versioned_json(cross: tuple[object, list[PairScore], LinkModel]) -> None:
    _, _, model = cross
    again = LinkModel.from_json(model.to_json())
    assert again.version == model.version and again.version.startswith("kartoteka-linkage-1:")
    assert (again.accept_threshold, again.review_threshold) == (0.95, 0.5)
    tampered = model.to_json().replace('"accept_threshold": 0.95', '"accept_threshold": 0.5')
    assert LinkModel.from_json(tampered).accept_threshold == 0.5  # thresholds are not the model's parameters
    broken, n = re.subn(r'"m_probability": [0-9.e-]+', '"m_probability": 0.123456', model.to_json(), count=1)
    assert n == 1
    with pytest.raises(ValueError, match="version"):
        LinkModel.from_json(broken)


def test_it_clusters_connected_pairs_above_the_threshold() -> None:
    a, b, c, d = sorted(uuid.uuid4() for _ in range(4))
    pairs = [PairScore(a, b, 0.99, 9.0, {}), PairScore(b, c, 0.97, 8.0, {}), PairScore(c, d, 0.6, 1.0, {})]
    assert cluster(pairs, ACCEPT) == [[a, b, c]]
    assert cluster(pairs, 0.5) == [[a, b, c, d]]


def test_it_runs_duckdb_without_any_spill_or_file_access() -> None:
    con = duckdb_connection()
    found = duckdb_settings(con)
    assert found["temp_directory"] == "" and found["max_temp_directory_size"] == "0 bytes"
    assert (
        found["enable_external_access"].lower() == "false" and found["lock_configuration"].lower() == "true"
    )
    with pytest.raises(Exception, match=r"(?i)lock|configuration"):
        con.execute("SET temp_directory = '/tmp/x'")


@pytest.mark.django_db
def test_it_dedupes_the_database_and_leaves_no_name_on_disk(agent_ready: Path) -> None:
    from kartoteka.lib.partialdate import PartialDate
    from kartoteka.linkage.engine import runs
    from kartoteka.linkage.models import CandidatePair, LinkRun
    from kartoteka.people.models import Record
    from kartoteka.people.services import PersonInput, person_bulk_create
    from kartoteka.testing import canary
    from kartoteka.testing.factories import cast_make

    cast = cast_make()
    surname = "Канарейкин" + "".join(secrets.choice("бвгджзклмнпрст") for _ in range(6))
    data = cross_script_set(seed=3)
    rows = [
        PersonInput(full_name=r.full_name, birth_date=_partial(r.birth_date), sex=r.sex)
        for r in data.records[:300]
    ]
    rows += [
        PersonInput(full_name=f"{surname} Пётр Сергеевич", birth_date=PartialDate.of(1981, 4, 9)),
        PersonInput(full_name=f"{surname} П. С.", birth_date=PartialDate.of(1981, 4, 9)),
    ]
    person_bulk_create(actor=cast.owner, team=cast.team, rows=rows)
    report = runs.dedupe(actor=cast.owner, team=cast.team)
    run = LinkRun.objects.get(pk=report.run_id)
    assert LinkModel.from_json(run.params["model"]).version == run.model_version == report.model_version
    assert CandidatePair.objects.filter(run=run).count() == report.pairs_stored > 0
    canaries = list(Record.objects.filter(team=cast.team).order_by("id"))
    ids = {r.id for r in canaries}
    assert any(len(ids & set(c)) >= 2 for c in report.clusters) or report.merge_events > 0
    findings = canary.scan([surname], [Path(settings.DATA_DIR)], include_processes=False)
    assert findings == []


def _partial(text: str) -> object:
    from kartoteka.lib.partialdate import parse

    return parse(text) if text else None


@pytest.mark.django_db
def test_it_links_an_external_list_against_the_database(agent_ready: Path, tmp_path: Path) -> None:
    from kartoteka.lib.partialdate import PartialDate
    from kartoteka.linkage.engine import runs
    from kartoteka.people.models import Record
    from kartoteka.people.services import PersonInput, person_bulk_create
    from kartoteka.testing.factories import cast_make

    cast = cast_make()
    data = cross_script_set(seed=5)
    rows = [PersonInput(full_name=r.full_name, birth_date=_partial(r.birth_date)) for r in data.records[:200]]
    rows.append(PersonInput(full_name="Сидоренко Аркадий Петрович", birth_date=PartialDate.of(1979, 5, 2)))
    person_bulk_create(actor=cast.owner, team=cast.team, rows=rows)
    listed = tmp_path / "list.csv"
    listed.write_text(
        "ФИО;Дата рождения\nSidorenko Arkadii Petrovich;02.05.1979\nНикто Никогдаев;01.01.1900\n",
        encoding="utf-8",
    )
    report, matches = runs.link_list(actor=cast.owner, team=cast.team, path=listed)
    opened = runs.records_open(Record.objects.filter(team=cast.team))
    sidorenko = {r.id for r in opened if r.full_name.startswith("Сидоренко")}
    assert report.run_id is not None
    assert [m.row for m in matches if m.status == "auto"] == [2]
    assert len(sidorenko) == 1 and {m.record_id for m in matches if m.row == 2} == sidorenko
    with pytest.raises(PermissionDenied):
        runs.link_list(actor=cast.outsider, team=cast.team, path=listed)
