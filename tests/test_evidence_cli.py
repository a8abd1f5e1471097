"""`kartoteka evidence verify`: keyless re-hash of every vault item, run in-process against a real agent."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import pytest
from django.test import override_settings

from kartoteka import cli
from kartoteka.core import sealing
from kartoteka.lib import vault

SMALL = vault.MIN_CHUNK_BYTES  # several chunks from a few kilobytes


def _chunks_file(root: Path, item_id: str) -> Path:
    return root / "items" / item_id[-2:] / item_id / vault.CHUNKS_FILE


def test_it_reports_exactly_the_item_with_a_flipped_byte(
    agent_ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with override_settings(EVIDENCE_DIR=tmp_path / "evidence"):
        _flipped_byte_check(tmp_path / "evidence" / "vault", capsys)


def _flipped_byte_check(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bodies = [secrets.token_bytes(3 * SMALL + 123), secrets.token_bytes(2 * SMALL + 7)]
    manifests = [
        vault.vault_ingest(root, sealing.client(), io.BytesIO(b), actor="user:cli-test", chunk_bytes=SMALL)
        for b in bodies
    ]
    intact, damaged = manifests
    assert (intact.chunk_count, damaged.chunk_count) == (4, 3)

    assert cli.main(["evidence", "verify"]) == 0
    before = capsys.readouterr().out.splitlines()
    assert sorted(before) == sorted(f"{m.item_id} ok {m.chunk_count} chunks" for m in manifests)

    # One byte inside the second stored chunk of one item, as disk rot or a tamperer would leave it.
    path = _chunks_file(root, damaged.item_id)
    raw = bytearray(path.read_bytes())
    raw[damaged.sealed_offset(1) + 40] ^= 0x01
    path.write_bytes(bytes(raw))

    assert cli.main(["evidence", "verify"]) == 1
    after = capsys.readouterr().out.splitlines()
    assert sorted(after) == sorted(
        [
            f"{intact.item_id} ok {intact.chunk_count} chunks",
            f"{damaged.item_id} bad chunk 1: does not match its manifest hash",
        ]
    )


def test_it_passes_an_empty_vault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(EVIDENCE_DIR=tmp_path / "nothing-here"):
        assert cli.main(["evidence", "verify"]) == 0
    assert capsys.readouterr().out == ""
