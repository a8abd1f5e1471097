"""Estimation as users reach it: the CLI over a table, declared lists over linked records, saving and a
second person's approval, the analyst page and the API."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from django.test import Client

from kartoteka import cli
from kartoteka.accounts.access import NotFound
from kartoteka.accounts.testing import login_verified
from kartoteka.audit.models import AuditEntry
from kartoteka.audit.services import chain_verify
from kartoteka.casework import services as casework
from kartoteka.estimation import selectors, services
from kartoteka.estimation.errors import EstimationError
from kartoteka.estimation.lcmcr import LCMCRSettings
from kartoteka.estimation.tables import PopulationMismatchError
from kartoteka.people import services as people
from kartoteka.testing.factories import cast_make

# Who is on which of lists A, B, C: history → number of persons (93 persons, 134 records).
DESIGN = {
    (1, 0, 0): 30,
    (0, 1, 0): 20,
    (0, 0, 1): 15,
    (1, 1, 0): 10,
    (1, 0, 1): 8,
    (0, 1, 1): 6,
    (1, 1, 1): 4,
}
FAST = LCMCRSettings(chains=2, iterations=400, max_iterations=800)

TABLE_CSV = "A,B,C,count\n" + "".join(f"{a},{b},{c},{n}\n" for (a, b, c), n in DESIGN.items())


def test_it_estimates_an_overlap_table_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "overlap.csv"
    path.write_text(TABLE_CSV, encoding="utf-8")
    args = ["estimate", "--table", str(path), "--population", "recruits", "--period", "2023"]
    assert cli.main([*args, "--iterations", "400", "--chains", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Оценка численности: ")
    assert "Людей хотя бы в одном списке: 93" in out
    assert "Оговорки:" in out


def test_it_refuses_a_table_without_a_declared_population(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "overlap.csv"
    path.write_text(TABLE_CSV, encoding="utf-8")
    assert cli.main(["estimate", "--table", str(path), "--period", "2023"]) == 1
    assert "--population" in capsys.readouterr().err


def test_it_names_the_bad_row_of_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "overlap.csv"
    path.write_text("A,B,count\n1,0,12\n1,2,5\n", encoding="utf-8")
    args = ["estimate", "--table", str(path), "--population", "recruits", "--period", "2023"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "row 3" in err or "строк" in err, err


def _lists(cast, populations=("recruits", "recruits", "recruits")):
    """Three sources as lists A, B, C, with persons on them as DESIGN says; returns declared list ids."""
    sources = [casework.source_create(actor=cast.owner, team=cast.team, kind="media") for _ in range(3)]
    counter = itertools.count()
    for history, n in DESIGN.items():
        for _ in range(n):
            on = [sources[j] for j in range(3) if history[j]]
            name = f"Тестов{next(counter)} Иван Петрович"
            person = people.person_create(
                actor=cast.owner, team=cast.team, data=people.PersonInput(full_name=name, source_id=on[0].id)
            )
            for src in on[1:]:
                people.record_add(
                    actor=cast.owner, person=person, data=people.PersonInput(full_name=name, source_id=src.id)
                )
    return [
        str(services.declared_list_create(
            actor=cast.owner, source_id=str(s.id), name=name, population=pop, period="2023"
        ).id)
        for s, name, pop in zip(sources, "ABC", populations, strict=True)
    ]  # fmt: skip


@pytest.mark.django_db
def test_it_builds_the_capture_table_from_linked_records(agent_ready):
    cast = cast_make()
    ids = _lists(cast)
    lists = selectors.lists_get(user=cast.analyst, list_ids=ids)
    built = selectors.list_table(user=cast.analyst, lists=lists)
    assert built.table is not None
    got = {
        tuple(int(v) for v in h): int(c)
        for h, c in zip(built.table.histories, built.table.counts, strict=True)
    }
    assert got == DESIGN
    assert built.records_counted == sum(n * sum(h) for h, n in DESIGN.items())
    result, _ = selectors.lists_estimate(user=cast.analyst, list_ids=ids, settings=FAST)
    assert result.n_observed == 93
    assert result.default.estimate >= 93


@pytest.mark.django_db
def test_it_refuses_to_mix_populations(agent_ready):
    cast = cast_make()
    ids = _lists(cast, populations=("recruits", "recruits", "dead"))
    with pytest.raises(PopulationMismatchError, match="different populations"):
        selectors.lists_estimate(user=cast.owner, list_ids=ids, settings=FAST)


@pytest.mark.django_db
def test_it_hides_declared_lists_from_outsiders(agent_ready):
    cast = cast_make()
    source = casework.source_create(actor=cast.owner, team=cast.team, kind="media")
    with pytest.raises(NotFound):
        services.declared_list_create(
            actor=cast.outsider, source_id=str(source.id), name="X", population="recruits", period="2023"
        )
    declared = services.declared_list_create(
        actor=cast.teammate, source_id=str(source.id), name="X", population="recruits", period="2023"
    )
    assert selectors.lists_get(user=cast.owner, list_ids=[str(declared.id)])[0] == declared
    with pytest.raises(NotFound):
        selectors.lists_get(user=cast.outsider, list_ids=[str(declared.id)])


@pytest.mark.django_db
def test_it_needs_a_second_person_to_approve_an_estimate(agent_ready):
    cast = cast_make()
    ids = _lists(cast)
    result, _ = selectors.lists_estimate(user=cast.analyst, list_ids=ids, settings=FAST)
    saved = services.estimate_save(actor=cast.analyst, team=cast.team, result=result)
    assert selectors.published_estimates() == []
    with pytest.raises(EstimationError, match="author"):
        services.estimate_approve(actor=cast.analyst, estimate_id=str(saved.id))
    with pytest.raises(EstimationError, match="only an admin"):
        services.estimate_approve(actor=cast.teammate, estimate_id=str(saved.id))  # a caseworker
    with pytest.raises(NotFound):
        services.estimate_approve(actor=cast.outsider, estimate_id=str(saved.id))
    from kartoteka.accounts.models import Role

    cast.owner.role = Role.COORDINATOR
    cast.owner.save()
    services.estimate_approve(actor=cast.owner, estimate_id=str(saved.id))
    assert [s.id for s in selectors.published_estimates()] == [saved.id]
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["estimation.save", "estimation.approve"]
    assert chain_verify().ok


@pytest.mark.django_db
def test_it_shows_the_estimate_on_the_analyst_page(agent_ready):
    cast = cast_make()
    client = Client()
    login_verified(client, cast.analyst)
    assert client.get("/estimation/").status_code == 200
    data = {"table": TABLE_CSV, "population": "recruits", "period": "2023"}
    page = client.post("/estimation/table/", data).content.decode()
    assert "Оценка численности" in page
    assert "Оговорки" in page
    bad = client.post("/estimation/table/", {**data, "table": "A,B,count\n1,1,x\n"})
    assert bad.status_code == 400
    assert "count" in bad.content.decode()


@pytest.mark.django_db
def test_it_estimates_over_the_api(agent_ready):
    cast = cast_make()
    client = Client()
    login_verified(client, cast.analyst)
    rows = [{"history": list(h), "count": n} for h, n in DESIGN.items()]
    body = {"lists": ["A", "B", "C"], "rows": rows, "population": "recruits", "period": "2023"}
    answer = client.post("/api/estimates/table", body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["n_observed"] == 93
    assert data["default"]["estimate"] >= 93
    assert {m["method"] for m in data["methods"]} >= {"lcmcr", "loglinear_stepwise_aic"}
    bad = client.post(
        "/api/estimates/table", {**body, "rows": [{"history": [1, 2, 0], "count": 3}]},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 422


def test_it_keeps_the_cli_defaults_in_step_with_the_sampler():
    from kartoteka.estimation import cli as estimation_cli

    assert LCMCRSettings.chains == estimation_cli.CHAINS_DEFAULT
    assert LCMCRSettings.iterations == estimation_cli.ITERATIONS_DEFAULT
