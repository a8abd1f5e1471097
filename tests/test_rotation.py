"""Rotation over the real database: every sealed model, every value still readable, none under the old key."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.conf import settings

from kartoteka.accounts.models import Team
from kartoteka.casework.models import Source
from kartoteka.core import sealing
from kartoteka.core.fields import Sealed, new_id
from kartoteka.core.rotation import NAME_PURPOSE, SEALED_MODELS, DatabaseStore, record_name_terms
from kartoteka.lib import agent, crypto, keys
from kartoteka.people.models import NameTerm, Record


def test_it_lists_every_sealed_model() -> None:
    sealed = {
        m._meta.label_lower for m in apps.get_models() if issubclass(m, Sealed) and not m._meta.abstract
    }
    assert sealed == {s.label for s in SEALED_MODELS}
    for spec in SEALED_MODELS:
        columns = {f.name for f in spec.model._meta.get_fields() if f.name.endswith("_enc")}
        assert columns == {f"{f}_enc" for f in spec.fields}, spec.label


def _record(team: Team, full_name: str, aliases: list[str]) -> Record:
    rid = new_id()
    wrapped, enc = sealing.rows_seal(
        "people.record", [(str(rid), {"full_name": full_name, "aliases": aliases})]
    )[0]
    record = Record.objects.create(
        id=rid, team=team, wrapped_key=wrapped, full_name_enc=enc["full_name"], aliases_enc=enc.get("aliases")
    )
    terms = sealing.terms_index(NAME_PURPOSE, record_name_terms(full_name, aliases))
    NameTerm.objects.bulk_create([NameTerm(term=t, record=record) for t in terms])
    return record


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reencrypt", [False, True])
def test_it_rotates_every_value_to_a_new_key(agent_ready: object, reencrypt: bool) -> None:
    team = Team.objects.create(name=f"rotation-{reencrypt}")
    people = [_record(team, f"Иванов Пётр {i}", [f"Pyotr Ivanov {i}"]) for i in range(30)]
    sid = new_id()
    wrapped, enc = sealing.rows_seal("casework.source", [(str(sid), {"label": "мать", "contact": "+7 900"})])[
        0
    ]
    Source.objects.create(
        id=sid,
        team=team,
        kind="relative",
        wrapped_key=wrapped,
        contact_enc=enc["contact"],
        label_enc=enc["label"],
    )
    client = agent.AgentClient(settings.AGENT_SOCKET)
    before_version = client.status()["current_version"]
    old_ciphertexts = {r.id: bytes(Record.objects.get(id=r.id).full_name_enc) for r in people}

    report = keys.rotate(client, DatabaseStore(), reencrypt=reencrypt, batch_size=7)

    assert report.version == before_version + 1
    assert before_version in report.dropped_versions
    for record in Record.objects.filter(team=team):
        assert keys.dek_key_version(bytes(record.wrapped_key)) == report.version
        opened = sealing.rows_open(
            "people.record",
            [(str(record.id), bytes(record.wrapped_key), {"full_name": record.full_name_enc})],
        )[0]
        assert opened["full_name"].startswith("Иванов Пётр")
        if reencrypt:
            assert crypto.field_key_version(bytes(record.full_name_enc)) == report.version
            assert bytes(record.full_name_enc) != old_ciphertexts[record.id]
    source = Source.objects.get(id=sid)
    assert sealing.rows_open(
        "casework.source", [(str(sid), bytes(source.wrapped_key), {"contact": source.contact_enc})]
    )[0] == {"contact": "+7 900"}
    # Indexes were recomputed under the new key: the old values are gone, a fresh lookup finds the records.
    fresh = set(sealing.terms_index(NAME_PURPOSE, record_name_terms("Pyotr Ivanov 3", [])))
    hits = set(NameTerm.objects.filter(term__in=fresh).values_list("record_id", flat=True))
    assert any(r.id in hits for r in people)
    aliases = json.loads(
        sealing.rows_open(
            "people.record",
            [
                (
                    str(people[0].id),
                    bytes(Record.objects.get(id=people[0].id).wrapped_key),
                    {"aliases": Record.objects.get(id=people[0].id).aliases_enc},
                )
            ],
        )[0]["aliases"]
    )
    assert aliases == ["Pyotr Ivanov 0"]
