"""`kartoteka import` end to end: a proposal for review, a dry run with reasons on stderr in Russian, the
import with its one summary line, and a re-run that imports nothing."""

from __future__ import annotations

import json
from pathlib import Path

from kartoteka.imports.testing import IMPORT_ONLY, import_env, run


def test_it_proposes_checks_imports_and_reruns_from_the_command_line(tmp_path: Path) -> None:
    sheet = tmp_path / "list.csv"
    sheet.write_bytes(
        (
            "ФИО;Год рождения;Кто сообщил\r\n"
            "Командов Иван;1985;мать\r\n"
            "Строкин Пётр;вчера;брат\r\n"
            "Командов Иван;1985;мать\r\n"
        ).encode("cp1251")
    )
    with import_env(tmp_path) as env:
        plain = run(env, "import", str(sheet), "--as", "case", check=False)
        assert (
            plain.returncode == 1 and "«Кто сообщил»" in plain.stderr and "--propose-mapping" in plain.stderr
        )
        proposal = tmp_path / "mapping.json"
        run(env, "import", str(sheet), "--propose-mapping", str(proposal))
        mapping = json.loads(proposal.read_text(encoding="utf-8"))
        assert mapping["columns"] == {"ФИО": "full_name", "Год рождения": "birth_date", "Кто сообщил": ""}
        mapping["columns"]["Кто сообщил"] = "notes"
        proposal.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
        args = (str(sheet), "--mapping", str(proposal), "--as", "case", "--quiet")
        dry = run(env, "import", *args, "--dry-run")
        assert dry.stdout.splitlines()[-1] == "imported=1 quarantined=1 flagged=0 duplicates=1"
        assert "3\tГод рождения\tдату нельзя прочитать" in dry.stderr
        assert "вчера" not in dry.stderr + dry.stdout
        done = run(env, *args, command=IMPORT_ONLY)
        assert done.stdout.splitlines()[-1] == "imported=1 quarantined=1 flagged=0 duplicates=1"
        again = run(env, *args, "--lang", "en", command=IMPORT_ONLY)
        assert again.stdout.splitlines()[-1] == "imported=0 quarantined=0 flagged=0 duplicates=0"
        assert "rows already imported before: 4" in again.stderr
