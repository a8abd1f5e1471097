"""The PDF report from the demo data: text extraction finds the headline figures and Cyrillic, pages become
images (pdftoppm) kept in test-artifacts/report/, the tables pass the disclosure audit, publication needs a
second staff member and lands in the audit chain; the CLI writes the same report."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from kartoteka.accounts.models import User
from kartoteka.accounts.testing import login_verified
from kartoteka.casework.models import Incident, Recruitment
from kartoteka.cli import main as cli_main
from kartoteka.demo import generate
from kartoteka.law.services import ledger_recompute
from kartoteka.lib import audit, disclosure
from kartoteka.people.models import Person
from kartoteka.reports import services
from kartoteka.reports.models import ReportRequest
from kartoteka.reports.pdf import K, report_pdf, tables_build, with_period_totals

ARTEFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "report"
PERIOD = ("2023Q1", "2024Q4")
TODAY = date(2025, 6, 1)


@pytest.fixture(scope="module")
def demo_db(django_db_setup: None, django_db_blocker: Any, key_agent: Path) -> Iterator[None]:
    with django_db_blocker.unblock(), transaction.atomic():
        generate.demo_load(persons=60, seed=6)
        ledger_recompute(actor=None, person_ids=[str(p) for p in Person.objects.values_list("id", flat=True)])
        services.summaries_refresh()
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(demo_db: None, db: None) -> dict[str, User]:
    return {u.username: u for u in User.objects.all()}


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _in_period(d: date | None) -> bool:
    first = disclosure.quarter_bounds(PERIOD[0])[0]
    last = disclosure.quarter_bounds(PERIOD[1])[1]
    return d is not None and first <= d <= last


@pytest.mark.django_db
def test_it_writes_a_pdf_whose_text_holds_the_headline_figures_in_russian(demo: dict[str, User]) -> None:
    pdf = report_pdf(period_from=PERIOD[0], period_to=PERIOD[1], lang="ru", today=TODAY)
    text = _text(pdf)
    incidents = sum(1 for i in Incident.objects.all() if _in_period(i.date_start))
    victims = {
        pid for i in Incident.objects.prefetch_related("victims") if _in_period(i.date_start)
        for pid in i.victims.values_list("id", flat=True)
    }  # fmt: skip
    recruitments = sum(1 for r in Recruitment.objects.all() if _in_period(r.signed_start))
    assert incidents > 0 and recruitments > 0
    for label, n in (
        ("Задокументировано инцидентов", incidents),
        ("Пострадавших (разных людей)", len(victims)),
        ("Вербовок за период", recruitments),
        ("Людей в картотеке (за всё время)", Person.objects.count()),
    ):
        assert f"{label}{n}" in text.replace(" ", "").replace(label.replace(" ", ""), label) or (
            label in text and str(n) in text
        ), label
    assert "Методика" in text and "Версия данных" in text and "Голова журнала аудита" in text
    head = audit.head_read(connection)
    assert head is not None and head.entry_hash in text.replace("\n", "")
    assert "fz64-2024" in text  # a regime file's version is listed
    assert "Оккупированные" not in text  # charts are paths in the PDF: their text is not extractable

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTEFACTS.glob("report-ru*"):
        old.unlink()
    (ARTEFACTS / "report-ru.pdf").write_bytes(pdf)
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm is missing: run `make services` (scripts/ensure-poppler.sh)"
    subprocess.run(
        [pdftoppm, "-png", "-r", "60", str(ARTEFACTS / "report-ru.pdf"), str(ARTEFACTS / "report-ru")],
        check=True,
        timeout=120,
    )
    pages = sorted(ARTEFACTS.glob("report-ru-*.png"))
    assert len(pages) == len(PdfReader(io.BytesIO(pdf)).pages) >= 3
    assert all(p.stat().st_size > 5000 for p in pages)


@pytest.mark.django_db
def test_it_publishes_only_protected_tables(demo: dict[str, User]) -> None:
    tables = tables_build(period_from=PERIOD[0], period_to=PERIOD[1], today=TODAY)
    for table in (tables.victims, tables.incidents, tables.ledger):
        assert table.k == K
        assert not [v for v in table.values() if disclosure.is_small(v, K)], "a small count is published"
        assert disclosure.audit_failures(table) == []
    assert disclosure.audit_failures(with_period_totals(tables.incidents, tables.regions)) == []
    assert not [v for v in tables.regions.values() if disclosure.is_small(v, K)]
    assert tables.incidents.col_labels == disclosure.quarters_between(*PERIOD)  # whole quarters only
    # the suppression actually happened on this data (the demo has small cells)
    assert tables.incidents.suppressed() or tables.victims.suppressed()


@pytest.mark.django_db
def test_it_needs_a_second_staff_member_to_publish_and_audits_both_steps(demo: dict[str, User]) -> None:
    requester, approver = demo["demo-caseworker"], demo["demo-coordinator"]
    req = services.report_request(actor=requester, period_from="2024Q1", period_to="2024Q2", lang="ru")
    with pytest.raises(services.PermissionDenied):
        services.report_decide(actor=requester, request_id=req.id, approve=True)  # not an approver
    own = services.report_request(actor=approver, period_from="2024Q1", period_to="2024Q1", lang="en")
    with pytest.raises(services.PermissionDenied):
        services.report_decide(actor=approver, request_id=own.id, approve=True)  # four eyes, not two
    with pytest.raises(services.PermissionDenied):
        services.report_request(
            actor=demo["demo-lawyer"], period_from="2024Q1", period_to="2024Q1", lang="ru"
        )
    with pytest.raises(ValueError, match="period"):
        services.report_request(actor=requester, period_from="2024Q3", period_to="2024Q1", lang="ru")

    client = Client()
    login_verified(client, approver)
    page = client.get(reverse("reports:list")).content.decode()
    assert "Одобрить и опубликовать" in page
    response = client.post(reverse("reports:decide", args=[req.id]), {"decision": "approve"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == ReportRequest.Status.APPROVED and req.decided_by == approver
    download = client.get(reverse("reports:download", args=[req.id]))
    assert download["Content-Type"] == "application/pdf"
    body = b"".join(download.streaming_content) if download.streaming else download.content  # type: ignore[attr-defined]
    assert body.startswith(b"%PDF") and len(body) > 10_000
    with connection.cursor() as cur:
        cur.execute(
            "SELECT action, actor, object_id FROM audit_entry WHERE object_type = 'report' ORDER BY seq"
        )
        rows = cur.fetchall()
    assert ("report.request", str(requester.id), str(req.id)) in rows
    assert ("report.approve", str(approver.id), str(req.id)) in rows
    again = client.post(reverse("reports:decide", args=[req.id]), {"decision": "approve"}, follow=True)
    assert "уже принято решение" in again.content.decode()
    bad = client.get(reverse("reports:draft"), {"period_from": "2024Q5", "period_to": "2024Q1", "lang": "ru"})
    assert bad.status_code == 302  # back to the list with a message, nothing rendered
    assert client.get(reverse("reports:download", args=[own.id])).status_code == 404  # not approved


@pytest.mark.django_db
def test_it_writes_the_english_report_from_the_command_line(
    demo: dict[str, User], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "report.pdf"
    assert (
        cli_main(["report", "--quarter", "2024Q1", "--to", "2024Q2", "--lang", "en", "--out", str(out)]) == 0
    )
    assert out.read_bytes().startswith(b"%PDF")
    assert "Report 2024Q1–2024Q2" in _text(out.read_bytes())
    assert cli_main(["report", "--quarter", "2024Q5", "--out", str(out)]) == 1
    assert "not a quarter" in capsys.readouterr().err


@pytest.mark.django_db
def test_it_prints_approved_estimates_and_never_a_draft(demo: dict[str, User]) -> None:
    from kartoteka.accounts.models import Membership, Role
    from kartoteka.estimation import report, tables
    from kartoteka.estimation import services as estimation

    author = next(u for u in demo.values() if u.teams.exists())
    team = author.teams.first()
    approver = User.objects.create_user(username="approver", password="x" * 20, role=Role.COORDINATOR)
    Membership.objects.create(user=approver, team=team)

    def saved(population: str) -> Any:
        table = tables.build_table(["A", "B"], {(1, 0): 60, (0, 1): 50, (1, 1): 20}, population=population,
                                   period="2024")  # fmt: skip
        return estimation.estimate_save(actor=author, team=team, result=report.estimate(table))

    estimation.estimate_approve(actor=approver, estimate_id=str(saved("завербованные-утв").id))
    saved("черновик-оценки")
    text = _text(report_pdf(period_from=PERIOD[0], period_to=PERIOD[1], lang="ru", today=TODAY))
    assert "завербованные-утв" in text.replace("\n", "")
    assert "черновик-оценки" not in text.replace("\n", "")
