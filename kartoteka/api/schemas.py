"""Request and response bodies. Responses mirror the selectors' frozen views; identity fields are
nullable because the selectors leave them None for analysts.

Every string a request may carry is bounded and must be clean Unicode without control characters: the
database refuses NUL in text, and sealing refuses lone surrogates, and neither should surface as a 500.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints

_CONTROL = {c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)} | {0x7F}


def _clean(value: str) -> str:
    if any(ord(c) in _CONTROL or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must not contain control characters or unpaired surrogates")
    return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("must be one line")
    return value


Text = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_clean)]
Line = Annotated[str, StringConstraints(max_length=300), AfterValidator(_clean), AfterValidator(_one_line)]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=300),
    AfterValidator(_clean),
    AfterValidator(_one_line),
]
# Vocabulary codes are snake_case; the services check membership.
CODE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
OptionalCode = Annotated[str, StringConstraints(pattern=r"^(|[a-z][a-z0-9_]{0,39})$")]
REGION_PATTERN = r"^[A-Z]{2}-[A-Z0-9]{1,5}$"
RegionCode = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
# A partial date as people write it (EDTF, "весна 2023", "10.04.2023"); parsed by lib.partialdate.
DateText = Annotated[str, StringConstraints(max_length=64), AfterValidator(_clean), AfterValidator(_one_line)]
Article = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\.[0-9]{1,2}){0,2}$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]


# --- shared ----------------------------------------------------------------------------------------------


class Message(Schema):
    detail: str


class PageMeta(Schema):
    page: int
    per_page: int
    total: int
    has_next: bool


# --- persons ---------------------------------------------------------------------------------------------


class PersonSearchIn(Schema):
    query: Name
    birth_year: int | None = Field(None, ge=1850, le=2100)
    limit: int = Field(20, ge=1, le=100)


class PersonHitOut(Schema):
    person_id: uuid.UUID
    full_name: str
    birth_date: str
    team: str


class RecordIn(Schema):
    full_name: Name
    aliases: list[Name] = Field(default_factory=list, max_length=20)
    birth_date: DateText = ""
    sex: Literal["", "m", "f"] = ""
    home_region_code: RegionCode | None = None
    facility_id: uuid.UUID | None = None
    articles: list[Article] = Field(default_factory=list, max_length=20)
    sentence_months: int | None = Field(None, ge=0, le=1200)
    status: Code = "unknown"
    notes: Text = ""
    source_id: uuid.UUID | None = None


class PersonIn(RecordIn):
    team_id: uuid.UUID


class StatusIn(Schema):
    status: Code
    date: DateText = ""
    source_id: uuid.UUID | None = None


class RecordOut(Schema):
    id: uuid.UUID
    person_id: uuid.UUID | None
    team: str
    source_id: uuid.UUID | None
    full_name: str | None
    aliases: list[str] | None
    birth_date: str | None
    notes: str | None
    sex: str
    home_region: str | None
    facility_id: uuid.UUID | None
    articles: list[str]
    sentence_months: int | None
    created_at: dt.datetime


class StatusOut(Schema):
    id: uuid.UUID
    person_id: uuid.UUID
    status: str
    date: str
    date_start: dt.date | None
    date_end: dt.date | None
    source_id: uuid.UUID | None


class PersonOut(Schema):
    id: uuid.UUID
    team: str
    status: str
    sex: str
    home_region: str | None
    created_at: dt.datetime
    full_name: str | None
    records: list[RecordOut]
    status_history: list[StatusOut]


class PersonSummaryOut(Schema):
    id: uuid.UUID
    team: str
    status: str
    sex: str
    home_region: str | None
    full_name: str | None


class PersonPageOut(PageMeta):
    items: list[PersonSummaryOut]


# --- promises and deliveries -----------------------------------------------------------------------------


class PromiseIn(Schema):
    kind: Code
    amount: Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "RUB"
    due: DateText = ""
    condition: OptionalCode = ""
    promised_by: OptionalCode = ""
    details: Text = ""
    recruitment_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None


class DeliveryIn(Schema):
    outcome: Code
    amount: Amount | None = None
    date: DateText = ""
    source_id: uuid.UUID | None = None


class DeliveryOut(Schema):
    id: uuid.UUID
    outcome: str
    amount: Decimal | None
    date_edtf: str
    date_start: dt.date | None
    date_end: dt.date | None
    source_id: uuid.UUID | None


class PromiseOut(Schema):
    id: uuid.UUID
    person_id: uuid.UUID
    recruitment_id: uuid.UUID | None
    kind: str
    amount: Decimal | None
    currency: str
    due_edtf: str
    due_start: dt.date | None
    due_end: dt.date | None
    condition: str
    promised_by: str
    source_id: uuid.UUID | None
    deliveries: list[DeliveryOut]
    delivered_amount: Decimal
    details: str | None


# --- sources -----------------------------------------------------------------------------------------------


class SourceIn(Schema):
    team_id: uuid.UUID
    kind: Code
    reliability: Code = "unknown"
    language: Annotated[str, StringConstraints(pattern=r"^(|[a-z]{2,3}(-[A-Za-z0-9]{2,4})?)$")] = ""
    consent: Code = "internal_only"
    label: Line = ""
    contact: Line = ""


class SourceOut(Schema):
    id: uuid.UUID
    team_id: uuid.UUID
    kind: str
    reliability: str
    language: str
    consent: str
    created_at: dt.datetime
    label: str | None
    contact: str | None


class SourcePageOut(PageMeta):
    items: list[SourceOut]


# --- incidents ---------------------------------------------------------------------------------------------


class IncidentIn(Schema):
    team_id: uuid.UUID
    facility_id: uuid.UUID | None = None
    region_code: RegionCode | None = None
    date: DateText = ""
    categories: list[Code] = Field(..., min_length=1, max_length=20)
    victim_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    victim_count: int | None = Field(None, ge=0, le=1_000_000)
    perpetrator_roles: list[Code] = Field(default_factory=list, max_length=20)
    officials: list[Line] = Field(default_factory=list, max_length=50)
    description: Text = ""
    verification: Code = "unverified"
    source_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class IncidentOut(Schema):
    id: uuid.UUID
    team_id: uuid.UUID
    facility_id: uuid.UUID | None
    region_code: str | None
    date_edtf: str
    date_start: dt.date | None
    date_end: dt.date | None
    categories: list[str]
    perpetrator_roles: list[str]
    victim_count: int | None
    victim_ids: list[uuid.UUID]
    source_ids: list[uuid.UUID]
    verification: str
    description: str | None
    officials: list[str] | None


class IncidentPageOut(PageMeta):
    items: list[IncidentOut]


# --- cases -------------------------------------------------------------------------------------------------


class CaseOut(Schema):
    id: uuid.UUID
    team_id: uuid.UUID
    person_id: uuid.UUID
    assignee_id: uuid.UUID | None
    status: str
    deadline: dt.date | None
    notes: str | None


class CasePageOut(PageMeta):
    items: list[CaseOut]


# --- the ledger ----------------------------------------------------------------------------------------------


class LedgerLineOut(Schema):
    recruitment_id: uuid.UUID | None
    kind: str
    sequence: int
    status: str
    legal_question: bool
    due: str
    due_start: dt.date | None
    due_end: dt.date | None
    amount_due: Decimal | None
    amount_delivered: Decimal | None
    amount_missing: Decimal | None
    currency: str
    regime_id: str | None
    regime_version: str | None
    confidence: list[str]
    missing_facts: list[str]
    promise_ids: list[str]
    explanation: str


class PersonLedgerOut(Schema):
    person_id: uuid.UUID
    as_of: dt.date
    lang: str
    regime_ids: list[str | None]
    lines: list[LedgerLineOut]
    computed_at: dt.datetime | None
    stored_current: bool


class QueueItemOut(Schema):
    line_id: uuid.UUID
    person_id: uuid.UUID
    team: str
    kind: str
    sequence: int
    status: str
    due: str
    due_end: dt.date | None
    amount_missing: Decimal | None
    currency: str
    regime_id: str


class QueuePageOut(PageMeta):
    items: list[QueueItemOut]


class AggregateRowOut(Schema):
    key: str
    counts: dict[str, int]
    total: int


# --- reference data ----------------------------------------------------------------------------------------


class RegionOut(Schema):
    code: str
    name_ru: str
    name_en: str
    status: str
    federal_district: str


class FacilityOut(Schema):
    id: uuid.UUID
    key: str
    type: str
    number: int | None
    administration: str
    region_code: str
    region_name_ru: str
    official_name: str
    regime: str
    locality: str
    confidence: str


class FacilityPageOut(PageMeta):
    items: list[FacilityOut]


class TermOut(Schema):
    code: str
    ru: str
    en: str
    retired: bool


class VocabularyOut(Schema):
    name: str
    label_ru: str
    label_en: str
    terms: list[TermOut]


# --- tokens ------------------------------------------------------------------------------------------------


class TokenIn(Schema):
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=80), AfterValidator(_clean), AfterValidator(_one_line)
    ]
    days: int = Field(90, ge=1, le=3650)


class TokenOut(Schema):
    id: uuid.UUID
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    live: bool


class TokenCreatedOut(TokenOut):
    token: str  # shown this once; only its hash is kept


# --- list filters (query strings) --------------------------------------------------------------------------


class Paging(Schema):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


class PersonFilters(Paging):
    region: RegionCode | None = None
    facility: uuid.UUID | None = None
    recruiter: Code | None = None
    status: Code | None = None
    team: uuid.UUID | None = None


class IncidentFilters(Paging):
    facility: uuid.UUID | None = None
    region: RegionCode | None = None
    category: Code | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    verification: Code | None = None


class SourceFilters(Paging):
    kind: Code | None = None


class CaseFilters(Paging):
    include_closed: bool = False


class FacilityFilters(Paging):
    region: RegionCode | None = None
    type: Annotated[str, StringConstraints(pattern=r"^[А-ЯЁA-Z-]{1,10}$")] | None = None
    confidence: Literal["reported", "synthetic", "user"] | None = None


class LedgerLangIn(Schema):
    lang: Literal["ru", "en"] | None = None


class QueueFilters(Paging):
    team: uuid.UUID | None = None
    regime: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")] | None = None
    facility: uuid.UUID | None = None


class FiguresFilters(Schema):
    by: Literal["promise_kind", "regime", "recruiter", "region", "year"] = "promise_kind"
