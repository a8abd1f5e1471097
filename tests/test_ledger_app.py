"""The ledger wired into the application: facts from the database, stored lines, recomputation (inline,
on commit and through the database task backend), regime overrides, the overdue queue and aggregates."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, Team, User
from kartoteka.accounts.services import share_grant
from kartoteka.audit.models import AuditEntry
from kartoteka.casework.models import Promise
from kartoteka.casework.services import (
    delivery_create,
    promise_create,
    recruitment_create,
    service_event_create,
)
from kartoteka.law import DEFAULT_DIRECTORY, Delivery, Facts, RegimeError, RegimeSet, ServiceEvent, evaluate
from kartoteka.law import Promise as EnginePromise
from kartoteka.law.facts import facts_for_person
from kartoteka.law.models import LedgerLine, RegimeOverride
from kartoteka.law.selectors import ledger_aggregates, ledger_for_person, overdue_queue
from kartoteka.law.services import (
    ledger_recompute,
    ledger_recompute_enqueue,
    regime_fingerprint,
    regime_override_install,
    regime_override_preview,
    regimes_current,
)
from kartoteka.law.tasks import ledger_recompute_task
from kartoteka.lib import crypto
from kartoteka.lib.partialdate import parse
from kartoteka.people.models import Person
from kartoteka.people.services import PersonInput, person_create, status_add
from kartoteka.registry.models import Facility, Region
from kartoteka.testing.factories import Cast, cast_make, user_make

AS_OF = date(2024, 5, 15)
PAYMENTS = "payments-decrees-2022-2025.toml"
MONTHLY = 'amount = 195000\ndue = "monthly"'


@pytest.fixture
def cast(agent_ready: Path, db: None) -> Cast:
    return cast_make()


@pytest.fixture
def commit_hooks(settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> Any:
    """Run on-commit hooks inside the test transaction. The audit head file follows commits too, and this
    transaction is rolled back: its head goes to a file of its own, not the one later tests verify against."""
    settings.AUDIT_HEAD_FILE = tmp_path / "audit-head"
    return django_capture_on_commit_callbacks


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return Path(settings.DATA_DIR)


def person_make(
    actor: User, team: Team, *, articles: tuple[str, ...] = (), region: str | None = None
) -> Person:
    return person_create(
        actor=actor,
        team=team,
        data=PersonInput(full_name="Синтетиков Тест Тестович", articles=articles, home_region_code=region),
    )


def scenario_14(actor: User, team: Team, *, facility: Facility | None = None) -> tuple[Person, Promise]:
    """Convict; Storm-V signed 2024-01-01; 204,000/month promised; missing from 2024-04-10; two payments."""
    person = person_make(actor, team)
    rec = recruitment_create(
        actor=actor,
        person=person,
        recruiter="mod_storm_v",
        signed=parse("2024-01-01"),
        legal_status="convicted",
        facility_id=facility.id if facility else None,
    )
    service_event_create(
        actor=actor, person=person, kind="missing", date=parse("2024-04-10"), recruitment_id=rec.id
    )
    pay = promise_create(
        actor=actor, person=person, kind="monthly_pay", amount=Decimal(204_000), condition="monthly",
        recruitment_id=rec.id,
    )  # fmt: skip
    delivery_create(
        actor=actor, promise=pay, outcome="delivered", amount=Decimal(204_000), date=parse("2024-02-05")
    )
    delivery_create(
        actor=actor, promise=pay, outcome="delivered", amount=Decimal(150_000), date=parse("2024-03-05")
    )
    return person, pay


def monthly(person: Person) -> list[LedgerLine]:
    return list(LedgerLine.objects.filter(person=person, kind="monthly_pay").order_by("seq"))


def worker_run() -> None:
    """`kartoteka worker --once`. The worker's close_old_connections would close the test's connection
    (autocommit is off inside the test transaction), so it is held off; everything else runs as deployed."""
    from django_tasks_db.management.commands import db_worker

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db_worker, "close_old_connections", lambda: None)
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)


def audit_details(action: str) -> list[dict[str, Any]]:
    rows = AuditEntry.objects.filter(action=action).order_by("seq").values_list("details", flat=True)
    return [json.loads(d) if d else {} for d in rows]


def region_make() -> Region:
    # The registry migration may already have loaded the real regions; either way the code exists after.
    return Region.objects.get_or_create(
        code="RU-SVE", defaults={"name_ru": "Синтетический", "name_en": "Synthetic", "status": "ru"}
    )[0]


def coordinator_make(team: Team) -> User:
    return user_make("coordinator", role=Role.COORDINATOR, teams=(team,))


# --- facts from the database reproduce the engine's scenario -------------------------------------------------


@pytest.mark.django_db
def test_it_reproduces_scenario_14_from_rows_written_through_the_services(cast: Cast) -> None:
    person, pay = scenario_14(cast.owner, cast.team)
    assert ledger_recompute(actor=cast.owner, person_ids=[person.id], as_of=AS_OF) == 1

    lines = monthly(person)
    assert [line.due_edtf for line in lines] == ["2024-02-01", "2024-03-01", "2024-04-01"]
    assert [line.status for line in lines] == ["kept", "partly_kept", "overdue"]
    assert [line.amount_missing for line in lines] == [Decimal(0), Decimal(54_000), Decimal(204_000)]
    assert {line.promise_id for line in lines} == {pay.id}
    assert all(line.regime_version and line.regime_set for line in lines)
    assert lines[0].provisions[0] == {
        "regime": "payments-decrees-2022-2025",
        "instrument": "mod-pay",
        "confidence": "C",
        "version": lines[0].regime_version,
    }
    assert lines[0].currency == "RUB" and lines[0].confidence == "CU" and lines[0].missing_facts == []
    # Every stored line matches the pure engine run on the same facts written by hand (the scenario table).
    by_hand = Facts(
        signed=parse("2024-01-01"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        events=(ServiceEvent("missing", parse("2024-04-10")),),
        promises=(EnginePromise(str(pay.id), "monthly_pay", Decimal(204_000), "monthly"),),
        deliveries=(
            Delivery(str(pay.id), "delivered", Decimal(204_000), parse("2024-02-05")),
            Delivery(str(pay.id), "delivered", Decimal(150_000), parse("2024-03-05")),
        ),
    )
    expected = evaluate(by_hand, as_of=AS_OF, regimes=RegimeSet.default())
    stored = LedgerLine.objects.filter(person=person).order_by("kind", "seq")
    assert sorted((x.kind, x.seq, x.status, x.due_edtf, x.amount_missing) for x in stored) == sorted(
        (x.kind, x.sequence, x.status.value, x.due.to_edtf() if x.due else "", x.amount_missing)
        for x in expected.lines
    )
    assert audit_details("ledger.recompute")[-1] == {
        "count": 1,
        "version": regime_fingerprint(regimes_current()),
    }


@pytest.mark.django_db
def test_it_builds_articles_statuses_and_custody_from_records_and_recruitment(cast: Cast) -> None:
    region = region_make()
    facility = Facility.objects.create(
        key="TEST-RU-SVE/IK-2", type="IK", number=2, administration="GUFSIN-RU-SVE", region=region,
        official_name="ФКУ ИК-2 (синтетическое)", regime="strict", confidence="synthetic",
    )  # fmt: skip
    person = person_make(cast.owner, cast.team, articles=("105.1", "228.4"))
    recruitment_create(
        actor=cast.owner,
        person=person,
        recruiter="mod_storm_v",
        signed=parse("2024-01-01"),
        facility_id=facility.id,
    )
    status_add(actor=cast.owner, person=person, status="killed", date=parse("2024-06-01"))
    (bundle,) = facts_for_person(person.id)
    assert bundle.facts.articles == ("105.1", "228.4")
    assert bundle.facts.in_custody_on_signing is True
    assert bundle.facts.legal_status == "convicted"
    assert [(s.status, s.date) for s in bundle.facts.status_history] == [("killed", parse("2024-06-01"))]


@pytest.mark.django_db
def test_it_gives_promises_without_a_recruitment_a_ledger_that_asks_for_the_signing_date(cast: Cast) -> None:
    person = person_make(cast.owner, cast.team)
    promise_create(actor=cast.owner, person=person, kind="pardon", condition="after_6_months")
    ledger_recompute(actor=None, person_ids=[person.id], as_of=AS_OF)
    line = LedgerLine.objects.get(person=person, kind="pardon")
    assert (line.kind, line.status, line.recruitment_id) == ("pardon", "unknown", None)
    assert "signing_date" in line.missing_facts


# --- recomputation on commit, through the database task backend ---------------------------------------------


@pytest.mark.django_db
def test_it_recomputes_after_each_write_through_the_task_worker(
    cast: Cast, commit_hooks: Callable[..., Any]
) -> None:
    with commit_hooks(execute=True):
        person, _ = scenario_14(cast.owner, cast.team)
    queued = DBTaskResult.objects.filter(task_path=ledger_recompute_task.module_path)
    assert queued.count() == 5  # recruitment, event, promise, two deliveries
    assert all(json.loads(json.dumps(t.args_kwargs))["args"] == [[str(person.id)]] for t in queued)
    assert not LedgerLine.objects.filter(person=person).exists()

    worker_run()

    assert {t.status for t in DBTaskResult.objects.all()} == {"SUCCESSFUL"}
    assert [line.status for line in monthly(person)] == ["kept", "partly_kept", "overdue"]
    assert audit_details("ledger.recompute")[-1]["count"] == 1
    assert AuditEntry.objects.filter(action="ledger.recompute", actor="system:ledger").count() == 5


@pytest.mark.django_db
def test_it_enqueues_nothing_for_a_write_that_rolls_back(
    cast: Cast, commit_hooks: Callable[..., Any]
) -> None:
    person = person_make(cast.owner, cast.team)
    with commit_hooks(execute=True), pytest.raises(ValueError, match="recruiter"):
        recruitment_create(actor=cast.owner, person=person, recruiter="no_such_recruiter", signed=None)
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_it_tells_whether_the_stored_lines_still_agree_with_the_facts(cast: Cast) -> None:
    person, pay = scenario_14(cast.owner, cast.team)
    ledger_recompute(actor=cast.owner, person_ids=[person.id])
    view = ledger_for_person(user=cast.teammate, person_id=person.id, lang="en")
    assert view.stored_current
    assert view.computed_at is not None
    third = [x for x in view.lines if x.kind == "monthly_pay"][2]
    assert third.status == "overdue"
    assert "2024-04-10" in third.explanation
    assert "Missing in action" in third.explanation
    ru = ledger_for_person(user=cast.teammate, person_id=person.id, lang="ru")
    assert [x.status for x in ru.lines] == [x.status for x in view.lines]
    assert ru.lines[0].explanation != view.lines[0].explanation

    delivery_create(
        actor=cast.owner, promise=pay, outcome="delivered", amount=Decimal(204_000), date=parse("2024-04-05")
    )
    assert not ledger_for_person(user=cast.owner, person_id=person.id).stored_current
    ledger_recompute(actor=cast.owner, person_ids=[person.id])
    assert ledger_for_person(user=cast.owner, person_id=person.id).stored_current


@pytest.mark.django_db
def test_it_refuses_a_ledger_or_a_recompute_to_those_who_may_not_see_the_person(cast: Cast) -> None:
    person, _ = scenario_14(cast.owner, cast.team)
    with pytest.raises(access.NotFound):
        ledger_for_person(user=cast.outsider, person_id=person.id)
    with pytest.raises(access.NotFound):
        ledger_recompute(actor=cast.outsider, person_ids=[person.id])
    with pytest.raises(access.NotFound):
        ledger_recompute(actor=cast.owner, person_ids=["not-an-id"])
    assert ledger_for_person(user=cast.analyst, person_id=person.id).lines  # codes only: analysts may read
    with pytest.raises(PermissionDenied):
        ledger_recompute_enqueue(actor=cast.owner, everything=True)


@pytest.mark.django_db
def test_it_enqueues_only_stale_ledgers_unless_asked_for_all(cast: Cast) -> None:
    first, _ = scenario_14(cast.owner, cast.team)
    scenario_14(cast.owner, cast.team)
    coordinator = coordinator_make(cast.team)
    assert ledger_recompute_enqueue(actor=coordinator).persons == 2  # facts, no lines yet
    ledger_recompute(actor=None, person_ids=[first.id])
    assert ledger_recompute_enqueue(actor=coordinator).persons == 1
    LedgerLine.objects.filter(person=first).update(regime_set="0" * 16)  # computed under other files
    assert ledger_recompute_enqueue(actor=coordinator).persons == 2
    everything = ledger_recompute_enqueue(actor=coordinator, everything=True, batch=1)
    assert (everything.persons, everything.tasks) == (2, 2)
    assert audit_details("ledger.recompute_request")[-1]["all"] is True


# --- regime overrides --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_changes_stored_amounts_and_version_when_an_override_changes_an_amount(
    cast: Cast, data_dir: Path
) -> None:
    person, _ = scenario_14(cast.owner, cast.team)
    ledger_recompute(actor=None, person_ids=[person.id], as_of=AS_OF)
    before = monthly(person)
    assert [x.amount_due for x in before] == [Decimal(204_000)] * 3
    packaged = (DEFAULT_DIRECTORY / PAYMENTS).read_bytes()
    assert {x.regime_version for x in before} == {crypto.digest(packaged).hex()}
    content = packaged.decode().replace(MONTHLY, MONTHLY.replace("195000", "250000")).encode()
    assert content != packaged
    coordinator = coordinator_make(cast.team)

    preview = regime_override_preview(actor=coordinator, filename=PAYMENTS, content=content, as_of=AS_OF)
    assert preview.persons_changed == 1
    assert [(c.person_id, c.lines_changed) for c in preview.changes] == [(person.id, 3)]
    assert regime_override_preview(actor=cast.lawyer, filename=PAYMENTS, content=content).changes == ()
    with pytest.raises(PermissionDenied):
        regime_override_preview(actor=cast.owner, filename=PAYMENTS, content=content)
    assert monthly(person)[0].amount_due == Decimal(204_000)  # a preview changes nothing

    installed = regime_override_install(actor=coordinator, filename=PAYMENTS, content=content)
    assert (data_dir / "regimes" / PAYMENTS).read_bytes() == content
    assert installed.persons_enqueued == 1
    assert RegimeOverride.objects.get().version == crypto.digest(content).hex()
    assert audit_details("regime.install")[-1]["regime"] == "payments-decrees-2022-2025"
    worker_run()

    after = monthly(person)
    assert [x.amount_due for x in after] == [Decimal(250_000)] * 3
    assert [x.status for x in after] == ["partly_kept", "partly_kept", "overdue"]
    assert [x.amount_missing for x in after] == [Decimal(46_000), Decimal(100_000), Decimal(250_000)]
    assert {x.regime_version for x in after} == {crypto.digest(content).hex()}
    assert after[0].regime_set != before[0].regime_set


@pytest.mark.django_db
def test_it_names_the_file_and_field_of_a_malformed_override_and_installs_nothing(
    cast: Cast, data_dir: Path
) -> None:
    coordinator = coordinator_make(cast.team)
    packaged = (DEFAULT_DIRECTORY / PAYMENTS).read_text()
    broken = packaged.replace('confidence = "C"', 'confidence = "X"', 1).encode()
    with pytest.raises(RegimeError) as caught:
        regime_override_install(actor=coordinator, filename=PAYMENTS, content=broken)
    assert str(caught.value).startswith(f"{PAYMENTS}: field 'regime.confidence'")
    with pytest.raises(RegimeError) as caught:
        regime_override_preview(actor=coordinator, filename="../etc/passwd", content=broken)
    assert caught.value.field == "(file name)"
    assert "passwd" not in str(caught.value)
    assert not (data_dir / "regimes" / PAYMENTS).exists()
    assert not RegimeOverride.objects.exists()


# --- the overdue queue ---------------------------------------------------------------------------------------


@dataclass
class Queue:
    a1: Person
    a2: Person
    b1: Person


def queue_world(cast: Cast) -> Queue:
    a1, _ = scenario_14(cast.owner, cast.team)
    a2, _ = scenario_14(cast.teammate, cast.team)
    b1, _ = scenario_14(cast.outsider, cast.other_team)
    share_grant(actor=cast.owner, object_type="person", object_id=a2.id, user=cast.lawyer)
    ledger_recompute(actor=None, person_ids=[a1.id, a2.id, b1.id], as_of=AS_OF)
    return Queue(a1, a2, b1)


def queued_persons(user: User, **filters: Any) -> set[Any]:
    return {item.person_id for item in overdue_queue(user=user, per_page=500, **filters).items}


@pytest.mark.django_db
def test_it_lists_in_the_overdue_queue_only_persons_the_user_may_see(cast: Cast) -> None:
    w = queue_world(cast)
    assert queued_persons(cast.owner) == {w.a1.id, w.a2.id}
    assert queued_persons(cast.teammate) == {w.a1.id, w.a2.id}
    assert queued_persons(cast.analyst) == {w.a1.id, w.a2.id}
    assert queued_persons(cast.outsider) == {w.b1.id}
    assert queued_persons(cast.lawyer) == {w.a2.id}
    page = overdue_queue(user=cast.owner)
    assert {item.status for item in page.items} <= {"overdue", "broken"}
    assert (
        page.total
        == LedgerLine.objects.filter(person__team=cast.team, status__in=["overdue", "broken"]).count()
    )
    assert queued_persons(cast.owner, team=cast.other_team.id) == set()
    assert queued_persons(cast.owner, regime="no-such-regime") == set()


@pytest.mark.django_db
def test_it_shows_a_pending_line_whose_day_passed_as_overdue(cast: Cast) -> None:
    person, _ = scenario_14(cast.owner, cast.team)
    ledger_recompute(actor=None, person_ids=[person.id], as_of=date(2024, 1, 1))  # the signing day
    pending = LedgerLine.objects.filter(person=person, status="pending").exclude(due_end=None)
    assert pending.exists()
    queued = {(i.kind, i.sequence): i.status for i in overdue_queue(user=cast.owner, per_page=500).items}
    assert {(x.kind, x.seq): "overdue" for x in pending}.items() <= queued.items()


@pytest.mark.django_db
def test_it_filters_the_queue_by_facility_and_pages_it(cast: Cast) -> None:
    region = region_make()
    facility = Facility.objects.create(
        key="TEST-RU-SVE/IK-3", type="IK", number=3, administration="GUFSIN-RU-SVE", region=region,
        official_name="ФКУ ИК-3 (синтетическое)", regime="strict", confidence="synthetic",
    )  # fmt: skip
    inside, _ = scenario_14(cast.owner, cast.team, facility=facility)
    outside, _ = scenario_14(cast.owner, cast.team)
    ledger_recompute(actor=None, person_ids=[inside.id, outside.id], as_of=AS_OF)
    assert queued_persons(cast.owner, facility=facility.id) == {inside.id}
    first = overdue_queue(user=cast.owner, per_page=1)
    assert first.total >= 2 and first.has_next and len(first.items) == 1
    second = overdue_queue(user=cast.owner, page=2, per_page=1)
    assert second.items[0].line_id != first.items[0].line_id


# --- aggregates ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_counts_aggregates_that_match_a_direct_count(cast: Cast) -> None:
    w = queue_world(cast)
    region_make()
    extra = person_make(cast.owner, cast.team, region="RU-SVE")
    recruitment_create(actor=cast.owner, person=extra, recruiter="wagner", signed=parse("2022-09-15"))
    promise_create(actor=cast.owner, person=extra, kind="pardon", condition="after_6_months")
    ledger_recompute(actor=None, person_ids=[extra.id])
    visible = LedgerLine.objects.filter(person__team=cast.team)
    groups: list[tuple[str, Callable[[LedgerLine], str]]] = [
        ("promise_kind", lambda x: x.kind),
        ("regime", lambda x: x.regime_id or "unknown"),
        ("recruiter", lambda x: x.recruitment.recruiter if x.recruitment else "unknown"),
        ("region", lambda x: x.person.home_region_id or "unknown"),
        ("year", lambda x: str(x.due_start.year) if x.due_start else "unknown"),
    ]
    for by, key in groups:
        direct: dict[str, Counter[str]] = {}
        for line in visible.select_related("recruitment", "person"):
            status = (
                "overdue"
                if line.status == "pending" and line.due_end and line.due_end < date.today()
                else line.status
            )
            direct.setdefault(key(line), Counter())[status] += 1
        rows = ledger_aggregates(user=cast.analyst, by=by)
        assert {r.key: dict(r.counts) for r in rows} == {k: dict(c) for k, c in direct.items()}, by
        assert sum(r.total for r in rows) == visible.count()
    assert {r.key for r in ledger_aggregates(user=cast.owner, by="recruiter")} == {"mod_storm_v", "wagner"}
    outsider_total = sum(r.total for r in ledger_aggregates(user=cast.outsider, by="regime"))
    assert outsider_total == LedgerLine.objects.filter(person=w.b1).count()
    with pytest.raises(ValueError, match="by: must be one of"):
        ledger_aggregates(user=cast.owner, by="name")


# --- the command line ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_prints_ledgers_and_the_queue_on_the_command_line(
    cast: Cast, capsys: pytest.CaptureFixture[str]
) -> None:
    from kartoteka.cli import main
    from kartoteka.core import clisession

    w = queue_world(cast)
    coordinator = coordinator_make(cast.team)
    for user in (cast.owner, cast.outsider, coordinator):
        clisession.open_for(user.username, minutes=5)
    capsys.readouterr()

    assert main(["ledger", str(w.a1.id), "--as", "owner", "--explain", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "2024-04-01\tmonthly_pay#3\toverdue\t204000.00\t0.00\t204000.00 RUB" in out
    assert "Missing in action" in out

    assert main(["ledger", "--overdue", "--as", "owner", "--per-page", "500"]) == 0
    out = capsys.readouterr().out
    assert str(w.a1.id) in out and str(w.a2.id) in out and str(w.b1.id) not in out

    assert main(["ledger", str(w.a1.id), "--as", "outsider"]) == 1
    assert "not visible to you" in capsys.readouterr().err
    assert main(["ledger", "recompute", "--as", "owner"]) == 1
    assert main(["ledger", "recompute", "--all", "--as", "coordinator"]) == 0
    assert "3 ledgers queued in 1 jobs" in capsys.readouterr().out
