"""Staff exports (CSV/XLSX/JSON), HURIDOCS and Uwazi: gates, sealing to the user, audit, formula injection."""

from __future__ import annotations

import csv
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kartoteka import cli
from kartoteka.audit.models import AuditEntry
from kartoteka.audit.services import chain_verify
from kartoteka.casework import services as casework
from kartoteka.core import clisession
from kartoteka.exports import services
from kartoteka.exports.writers import ExportError, file_open
from kartoteka.lib import crypto
from kartoteka.lib.partialdate import parse as pdate
from kartoteka.people.services import PersonInput, person_create
from kartoteka.testing.factories import Cast, cast_make

INJECTION = '=HYPERLINK("http://x")'


@dataclass
class Data:
    cast: Cast
    name: str  # a canary name in the owner's team
    other_name: str  # a canary name in the other team


@pytest.fixture
def data(agent_ready: Path) -> Data:
    cast = cast_make()
    name = f"Секретов{secrets.token_hex(4)} Пётр"
    other = f"Чужаков{secrets.token_hex(4)} Иван"
    source = casework.source_create(
        actor=cast.owner,
        team=cast.team,
        kind="relative",
        consent="anonymised_publication",
        contact="+79990000000",
    )
    mine = person_create(
        actor=cast.owner, team=cast.team, data=PersonInput(full_name=name, source_id=source.id)
    )
    injected = person_create(actor=cast.owner, team=cast.team, data=PersonInput(full_name=INJECTION))
    person_create(actor=cast.outsider, team=cast.other_team, data=PersonInput(full_name=other))
    casework.incident_create(
        actor=cast.owner,
        team=cast.team,
        region_code="RU-SVE",
        date=pdate("2024-03-05"),
        categories=["beating", "lawyer_contact_denied"],
        victim_ids=[mine.id, injected.id],
        perpetrator_roles=["colony_staff"],
        description="+7 издевательства",
        source_ids=[source.id],
    )
    return Data(cast, name, other)


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.mark.django_db
def test_it_exports_what_the_gates_allow(data: Data, tmp_path: Path) -> None:
    seen = {}
    for who in ("owner", "teammate", "outsider"):
        user = getattr(data.cast, who)
        result = services.staff_export(actor=user, out=tmp_path / who, fmt="csv", plaintext=True)
        seen[who] = b"".join(p.read_bytes() for p in result.files).decode("utf-8-sig")
    assert data.name in seen["owner"] and data.name in seen["teammate"]
    assert data.other_name not in seen["owner"] and data.other_name not in seen["teammate"]
    assert data.name not in seen["outsider"] and data.other_name in seen["outsider"]
    analyst = services.staff_export(
        actor=data.cast.analyst, out=tmp_path / "analyst", fmt="json", plaintext=True
    )
    doc = json.loads(analyst.files[0].read_bytes())
    assert len(doc["records"]) == 2 and all(r["full_name"] is None for r in doc["records"])
    assert data.name not in analyst.files[0].read_text()


@pytest.mark.django_db
def test_it_neutralises_formula_injection_in_csv_and_xlsx(data: Data, tmp_path: Path) -> None:
    result = services.staff_export(actor=data.cast.owner, out=tmp_path / "csv", fmt="csv", plaintext=True)
    names = [row[4] for row in _csv(tmp_path / "csv" / "records.csv")[1:]]
    assert "'" + INJECTION in names and INJECTION not in names
    descriptions = [row[13] for row in _csv(tmp_path / "csv" / "incidents.csv")[1:]]
    assert descriptions == ["'+7 издевательства"]
    assert len(result.files) == 3

    services.staff_export(actor=data.cast.owner, out=tmp_path / "xlsx", fmt="xlsx", plaintext=True)
    path = tmp_path / "xlsx" / "kartoteka.xlsx"
    with zipfile.ZipFile(path) as z:
        sheets = [z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")]
    assert sheets and not any(b"<f>" in s or b"<f " in s for s in sheets)  # no formula stored anywhere
    workbook = load_workbook(path)
    cells = [
        c for row in workbook["records"].iter_rows() for c in row if c.value and "HYPERLINK" in str(c.value)
    ]
    assert [(c.value, c.data_type) for c in cells] == [("'" + INJECTION, "s")]

    services.uwazi_export(actor=data.cast.owner, out=tmp_path / "uwazi", plaintext=True)
    victims = _csv(tmp_path / "uwazi" / "uwazi_victims.csv")
    assert victims[0][0] == "title"
    assert [row[1] for row in victims[1:] if "HYPERLINK" in row[1]] == ["'" + INJECTION]


@pytest.mark.django_db
def test_it_seals_staff_exports_to_the_user(data: Data, tmp_path: Path) -> None:
    owner = data.cast.owner
    with pytest.raises(ExportError, match="no export key"):
        services.staff_export(actor=owner, out=tmp_path / "none")
    assert not (tmp_path / "none").exists()
    identity = crypto.identity_new()
    services.export_key_set(actor=owner, recipient=identity.recipient)
    result = services.staff_export(actor=owner, out=tmp_path / "sealed", fmt="csv")
    assert result.sealed and sorted(p.name for p in result.files) == [
        "incidents.csv.age",
        "records.csv.age",
        "sources.csv.age",
    ]
    for path in result.files:
        assert data.name.encode() not in path.read_bytes()
        assert (path.stat().st_mode & 0o777) == 0o600
    records = file_open(tmp_path / "sealed" / "records.csv.age", identity.secret).decode("utf-8-sig")
    assert data.name in records
    with pytest.raises(ExportError):
        file_open(tmp_path / "sealed" / "records.csv.age", crypto.identity_new().secret)
    with pytest.raises(ExportError, match="not an age recipient"):
        services.export_key_set(actor=owner, recipient="age1notakey")


@pytest.mark.django_db
def test_it_audits_every_export_and_marks_plaintext(data: Data, tmp_path: Path) -> None:
    owner = data.cast.owner
    services.export_key_set(actor=owner, recipient=crypto.identity_new().recipient)
    services.staff_export(actor=owner, out=tmp_path / "a", fmt="json")
    services.staff_export(actor=owner, out=tmp_path / "b", fmt="xlsx", plaintext=True)
    services.huridocs_export(actor=owner, out=tmp_path / "c", plaintext=True)
    entries = AuditEntry.objects.filter(action__startswith="export.").order_by("seq")
    details = [(e.action, e.actor, json.loads(e.details or "{}")) for e in entries]
    assert [(a, d["plaintext"]) for a, _, d in details] == [
        ("export.staff", False),
        ("export.staff", True),
        ("export.huridocs", True),
    ]
    assert {actor for _, actor, _ in details} == {str(owner.id)}
    assert details[0][2]["records"] == 2
    assert chain_verify().ok


@pytest.mark.django_db
def test_it_warns_about_plaintext_on_the_command_line(
    data: Data, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clisession.open_for("owner", minutes=5)
    try:
        code = cli.main(["export", "staff", "--as", "owner", "--out", str(tmp_path / "x"), "--plaintext"])
        out = capsys.readouterr()
        assert code == 0 and "records.csv" in out.out
        assert "НЕЗАШИФРОВАННОЙ" in out.err and "UNENCRYPTED" in out.err
        code = cli.main(["export", "staff", "--as", "owner", "--out", str(tmp_path / "y")])
        assert code == 1 and "no export key" in capsys.readouterr().err
        code = cli.main(["export", "staff", "--as", "owner", "--out", str(tmp_path / "x"), "--plaintext"])
        assert code == 1 and "already exists" in capsys.readouterr().err
    finally:
        clisession.close_for("owner")


@pytest.mark.django_db
def test_it_writes_huridocs_events_acts_and_esf_codes(data: Data, tmp_path: Path) -> None:
    result = services.huridocs_export(actor=data.cast.owner, out=tmp_path / "h", plaintext=True)
    doc = json.loads(result.files[0].read_bytes())
    assert set(doc) >= {"events", "acts", "victims", "perpetrators", "sources"}
    assert len(doc["events"]) == 1 and len(doc["acts"]) == 4 and len(doc["victims"]) == 2
    beating = next(a for a in doc["acts"] if a["category"] == "beating")
    assert beating["method_of_violence"] == {"list": "MT05", "code": "030100000000"}
    assert beating["type_of_act"] == {"list": "MT04", "code": "020101000000"}
    lawyer = next(a for a in doc["acts"] if a["category"] == "lawyer_contact_denied")
    assert lawyer["type_of_act"] == {"list": "MT04", "code": "350113000000"} and lawyer["match"] == "exact"
    assert doc["events"][0]["acts"] == [a["act_record_number"] for a in doc["acts"]]
    assert doc["perpetrators"][0]["type_of_perpetrator"]["code"] == "colony_staff"
    assert data.name in {v["name"] for v in doc["victims"]}
    outsider = services.huridocs_export(actor=data.cast.outsider, out=tmp_path / "o", plaintext=True)
    assert json.loads(outsider.files[0].read_bytes())["events"] == []


@pytest.mark.django_db
def test_it_round_trips_a_sealed_export_through_the_command_line(
    data: Data, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    identity_file = tmp_path / "me.agekey"
    clisession.open_for("owner", minutes=5)
    try:
        assert cli.main(["export", "key", "new", "--as", "owner", "--identity-file", str(identity_file)]) == 0
        assert (identity_file.stat().st_mode & 0o777) == 0o600
        assert cli.main(["export", "huridocs", "--as", "owner", "--out", str(tmp_path / "s")]) == 0
        out = capsys.readouterr()
        assert "huridocs.json.age" in out.out and "UNENCRYPTED" not in out.err
        sealed = tmp_path / "s" / "huridocs.json.age"
        assert data.name.encode() not in sealed.read_bytes()
        # The secret comes from standard input (or a prompt), never from the arguments.
        secret = next(ln for ln in identity_file.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-"))
        monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
        assert cli.main(["export", "open", str(sealed), "--out", str(tmp_path / "plain")]) == 0
        opened = json.loads((tmp_path / "plain" / "huridocs.json").read_text())
        assert data.name in {v["name"] for v in opened["victims"]}
        assert (
            cli.main(
                ["export", "public", "--as", "owner", "--out", str(tmp_path / "p"), "--to", "2024-12-31"]
            )
            == 0
        )
        assert (tmp_path / "p" / "methodology.md").exists()
        assert data.name.encode() not in (tmp_path / "p" / "release.json").read_bytes()
    finally:
        clisession.close_for("owner")


@pytest.mark.django_db
def test_it_keeps_only_publishable_incidents_when_asked(data: Data, tmp_path: Path) -> None:
    owner = data.cast.owner
    internal = casework.source_create(
        actor=owner, team=data.cast.team, kind="prisoner", consent="internal_only"
    )
    casework.incident_create(
        actor=owner,
        team=data.cast.team,
        region_code="RU-MOS",
        date=pdate("2024-05"),
        categories=["punishment_cell"],
        source_ids=[internal.id],
    )
    every = services.uwazi_export(actor=owner, out=tmp_path / "all", plaintext=True)
    only = services.uwazi_export(actor=owner, out=tmp_path / "pub", plaintext=True, publishable_only=True)
    assert (every.counts["incidents"], only.counts["incidents"]) == (2, 1)
    rows = _csv(tmp_path / "pub" / "uwazi_incidents.csv")
    assert [r[6] for r in rows[1:]] == ["beating|lawyer_contact_denied"]
    doc = services.huridocs_export(actor=owner, out=tmp_path / "h", plaintext=True, publishable_only=True)
    opened = json.loads(doc.files[0].read_bytes())
    assert [s["consent"] for s in opened["sources"]] == ["anonymised_publication"]


@pytest.mark.django_db
def test_it_gives_analysts_no_identities_in_huridocs(data: Data, tmp_path: Path) -> None:
    result = services.huridocs_export(actor=data.cast.analyst, out=tmp_path / "a", plaintext=True)
    doc = json.loads(result.files[0].read_bytes())
    assert len(doc["victims"]) == 2 and {v["name"] for v in doc["victims"]} == {None}
    assert doc["events"][0]["description"] is None and doc["sources"][0]["contact"] is None
    assert data.name not in result.files[0].read_text()
