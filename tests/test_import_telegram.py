"""Telegram Desktop exports: a Source per participant (identity sealed), a testimony per message, the
attachments in the evidence vault, nothing published, nothing twice."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from django.conf import settings

from kartoteka.casework.models import Source
from kartoteka.core import sealing
from kartoteka.imports import models, services, telegram
from kartoteka.lib import vault
from kartoteka.testing import canary
from kartoteka.testing.factories import cast_make


def _export(root: Path, marker: str) -> Path:
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "photo_1.jpg").write_bytes(b"\xff\xd8\xff" + secrets.token_bytes(2000))
    doc = {
        "name": "Горячая линия",
        "type": "private_group",
        "id": 777,
        "messages": [
            {"id": 1, "type": "service", "date": "2023-05-01T10:00:00", "actor": "Админ", "actor_id": "user1",
             "action": "create_group"},
            {"id": 2, "type": "message", "date": "2023-05-01T10:01:00", "date_unixtime": "1682935260",
             "from": f"Мать {marker}", "from_id": "user42", "text": f"Сына {marker} увезли в ИК-2"},
            {"id": 3, "type": "message", "date": "2023-05-01T10:02:00", "date_unixtime": "1682935320",
             "from": "Юрист", "from_id": "user7",
             "text": ["Пришлите ", {"type": "bold", "text": "фото"}, " справки"]},
            {"id": 4, "type": "message", "date": "2023-05-01T10:05:00", "date_unixtime": "1682935500",
             "from": f"Мать {marker}", "from_id": "user42", "text": "", "photo": "photos/photo_1.jpg"},
            {"id": 5, "type": "message", "date": "2023-05-02T09:00:00", "from": "Юрист", "from_id": "user7",
             "text": "вот", "file": "../../etc/passwd"},
        ],
    }  # fmt: skip
    (root / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return root


@pytest.mark.django_db
def test_it_imports_a_chat_as_sealed_sources_and_unpublished_testimony(
    agent_ready: Path, tmp_path: Path
) -> None:
    cast = cast_make()
    marker = "Тайнова" + "".join(secrets.choice("абвгдежз") for _ in range(10))
    export = _export(tmp_path / "ChatExport_2023-05-02", marker)
    report = telegram.telegram_import(actor=cast.owner, team=cast.team, path=export)
    assert report.summary() == "imported=4 quarantined=0 flagged=0 duplicates=0"
    assert (report.participants, report.attachments) == (2, 1)  # the path outside the export is refused
    items = list(models.Testimony.objects.filter(run_id=report.run_id).order_by("said_at"))
    assert [t.origin_key for t in items] == ["777:2", "777:3", "777:4", "777:5"]
    assert not any(t.published for t in items)
    assert items[0].said_at is not None and items[0].said_at.isoformat() == "2023-05-01T10:01:00+00:00"
    opened = sealing.rows_open(
        "imports.testimony", [(str(t.id), bytes(t.wrapped_key), {"text": t.text_enc}) for t in items[:2]]
    )
    assert opened == [{"text": f"Сына {marker} увезли в ИК-2"}, {"text": "Пришлите фото справки"}]
    assert items[0].source_id == items[2].source_id != items[1].source_id
    source = Source.objects.get(pk=items[0].source_id)
    who = sealing.rows_open(
        "casework.source",
        [
            (
                str(source.id),
                bytes(source.wrapped_key),
                {"label": source.label_enc, "contact": source.contact_enc},
            )
        ],
    )
    assert who == [{"label": f"Мать {marker}", "contact": "telegram:user42"}]
    (item,) = items[2].attachments
    root = Path(settings.EVIDENCE_DIR) / "vault"
    assert vault.vault_verify(root, item).ok
    again = telegram.telegram_import(actor=cast.owner, team=cast.team, path=export)
    assert again.imported == 0 and models.Testimony.objects.count() == 4
    assert Source.objects.filter(team=cast.team).count() == 3  # two participants and the export itself
    (export / "result.json").unlink()
    canary.assert_clean([marker], [Path(settings.DATA_DIR)], include_processes=False)


@pytest.mark.django_db
def test_it_refuses_what_is_not_a_telegram_export(agent_ready: Path, tmp_path: Path) -> None:
    cast = cast_make()
    (tmp_path / "result.json").write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(services.ImportRefused) as info:
        telegram.telegram_import(actor=cast.owner, team=cast.team, path=tmp_path)
    assert info.value.code == "telegram_malformed"
    assert not models.ImportRun.objects.exists()
    with pytest.raises(services.access.NotFound):
        telegram.telegram_import(actor=cast.outsider, team=cast.team, path=tmp_path)
