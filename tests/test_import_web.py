"""The import page: upload with a dry-run report in Russian (and English), then the import, the
quarantine for the team's staff only, and its CSV export with formulas made inert."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from kartoteka.accounts.testing import login_verified
from kartoteka.imports.models import ImportRun
from kartoteka.people.models import Record
from kartoteka.testing.factories import cast_make

SHEET = (
    'ФИО;Дата рождения;Примечание\r\nВеб Тестов;12.03.1985;\r\n=HYPERLINK("http://x");32.13.1985;сломано\r\n'
).encode("cp1251")


def _post(client: Client, team_id: object, *, dry_run: bool) -> object:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data: dict[str, object] = {
        "team": str(team_id),
        "file": SimpleUploadedFile("list.csv", SHEET, "text/csv"),
    }
    if dry_run:
        data["dry_run"] = "on"
    return client.post("/imports/", data)


@pytest.mark.django_db
def test_it_shows_a_dry_run_report_then_imports_and_keeps_the_quarantine_for_the_team(
    agent_ready: Path,
) -> None:
    cast = cast_make()
    client = Client()
    login_verified(client, cast.owner)
    page = client.get("/imports/")
    assert page.status_code == 200 and "Импорт списка" in page.content.decode()
    dry = _post(client, cast.team.id, dry_run=True)
    text = dry.content.decode()  # type: ignore[attr-defined]
    assert "imported=1 quarantined=1 flagged=0 duplicates=0" in text
    assert "дату нельзя прочитать" in text and "Дата рождения" in text
    assert "HYPERLINK" not in text  # the report names rows and reasons, never a cell's value
    assert not ImportRun.objects.exists() and not Record.objects.exists()
    done = _post(client, cast.team.id, dry_run=False)
    assert "imported=1 quarantined=1" in done.content.decode()  # type: ignore[attr-defined]
    run = ImportRun.objects.get()
    held = client.get(f"/imports/{run.id}/quarantine/")
    assert held.status_code == 200 and "32.13.1985" in held.content.decode()
    export = client.get(f"/imports/{run.id}/quarantine.csv")
    body = export.content.decode("utf-8-sig")
    assert "'=HYPERLINK" in body and ";=HYPERLINK" not in body
    for other in (cast.outsider, cast.analyst):
        stranger = Client()
        login_verified(stranger, other)
        assert stranger.get(f"/imports/{run.id}/quarantine/").status_code == 404
        assert stranger.get(f"/imports/{run.id}/quarantine.csv").status_code == 404


@pytest.mark.django_db
def test_it_speaks_english_when_asked(agent_ready: Path) -> None:
    cast = cast_make()
    client = Client()
    login_verified(client, cast.owner)
    client.cookies["django_language"] = "en"
    page = _post(client, cast.team.id, dry_run=True)
    text = page.content.decode()  # type: ignore[attr-defined]
    assert "Import a list" in text and "the date cannot be read" in text
