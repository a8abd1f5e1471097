"""For tests: one dossier of a team with a random canary string in every sealed field, written through
the services, so a test can prove that a response leaks none of them to someone who may not see it."""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from kartoteka.accounts.models import Team, User
from kartoteka.casework import services as casework
from kartoteka.lib.partialdate import parse
from kartoteka.people import services as people
from kartoteka.people.models import Person

# Letters every transliteration renders one way, so a Latin spelling of the name always finds it.
_CONSONANTS = "бдклмнпрстф"
_VOWELS = "аиоу"


def canary_surname() -> str:
    """A Cyrillic surname nobody has: seven random syllables (44^7 ≈ 2^38 choices) and a surname ending."""
    letters = "".join(secrets.choice(_CONSONANTS) + secrets.choice(_VOWELS) for _ in range(7))
    return letters.capitalize() + "ов"


def canary_text(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


def canary_birth_date() -> str:
    """A day long before any other date the API shows (those start in 2022 or at creation time)."""
    return (
        f"19{secrets.randbelow(30) + 10:02d}-{secrets.randbelow(12) + 1:02d}-{secrets.randbelow(28) + 1:02d}"
    )


@dataclass
class Dossier:
    team: Team
    person_id: uuid.UUID
    sibling_id: uuid.UUID  # a second person of the team, for "only what was shared"
    source_id: uuid.UUID
    incident_id: uuid.UUID
    promise_id: uuid.UUID
    case_id: uuid.UUID
    surname: str  # of the person's full name
    canaries: dict[str, list[str]] = field(default_factory=dict)  # object → the strings planted in it

    def only(self, *names: str) -> dict[str, list[str]]:
        return {n: self.canaries[n] for n in names}


def _person(actor: User, team: Team, source_id: uuid.UUID) -> tuple[uuid.UUID, str, list[str]]:
    surname, alias, born = canary_surname(), canary_surname(), canary_birth_date()
    notes = canary_text("notes")
    person = people.person_create(
        actor=actor,
        team=team,
        data=people.PersonInput(
            full_name=f"{surname} Пётр Иванович",
            aliases=(f"{alias} Петя",),
            birth_date=parse(born),
            sex="m",
            home_region_code="RU-SVE",
            articles=("158.3",),
            sentence_months=48,
            status="recruited",
            notes=notes,
            source_id=source_id,
        ),
    )
    return person.id, surname, [surname, alias, born, notes]


def dossier_plant(*, actor: User, team: Team, case_assignee: User | None = None) -> Dossier:
    """A source, two persons, a promise with a delivery, an incident and a case, each with canaries."""
    label, contact = canary_text("label"), canary_text("contact") + "@example.org"
    source = casework.source_create(
        actor=actor, team=team, kind="relative", reliability="reliable", label=label, contact=contact
    )
    person_id, surname, person_strings = _person(actor, team, source.id)
    sibling_id, _, sibling_strings = _person(actor, team, source.id)
    person = Person.objects.get(pk=person_id)
    details = canary_text("details")
    promise = casework.promise_create(
        actor=actor,
        person=person,
        kind="signup_bonus",
        amount=Decimal("195000.00"),
        due=parse("2023-06"),
        details=details,
        source_id=source.id,
    )
    casework.delivery_create(
        actor=actor,
        promise=promise,
        outcome="partly_delivered",
        amount=Decimal("50000.00"),
        date=parse("2023-07"),
    )
    description, official = canary_text("description"), canary_surname()
    incident = casework.incident_create(
        actor=actor,
        team=team,
        region_code="RU-SVE",
        date=parse("2023-05-10"),
        categories=["beating", "recruitment_pressure"],
        victim_ids=[person_id],
        victim_count=3,
        perpetrator_roles=[],
        officials=[f"{official} И. И."],
        description=description,
        source_ids=[source.id],
    )
    case_notes = canary_text("case")
    case = casework.case_create(
        actor=actor, team=team, person=person, assignee=case_assignee or actor, notes=case_notes
    )
    return Dossier(
        team=team,
        person_id=person_id,
        sibling_id=sibling_id,
        source_id=source.id,
        incident_id=incident.id,
        promise_id=promise.id,
        case_id=case.id,
        surname=surname,
        canaries={
            "source": [label, contact],
            "person": person_strings,
            "sibling": sibling_strings,
            "promise": [details],
            "incident": [description, official],
            "case": [case_notes],
        },
    )


def leaks(body: bytes, canaries: dict[str, list[str]]) -> list[str]:
    """Which canaries a response body holds, as "object#index" (never the value, like testing.canary),
    matched in the raw bytes and again with JSON escapes undone, ignoring case."""
    text = body.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        text += json.dumps(json.loads(body), ensure_ascii=False)
    folded = text.casefold()
    return [
        f"{name}#{i}"
        for name, strings in canaries.items()
        for i, c in enumerate(strings)
        if c.casefold() in folded
    ]
