"""The estimation API: the same report as the CLI and the analyst page, as JSON."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from kartoteka.api.security import caller, service_errors
from kartoteka.estimation import report, selectors, tables

router = Router(tags=["estimation"])


class OverlapRow(Schema):
    history: list[int] = Field(description="0/1 per list, in the order of `lists`")
    count: int = Field(ge=0)


class TableIn(Schema):
    lists: list[str] = Field(min_length=2, max_length=12)
    rows: list[OverlapRow] = Field(max_length=4096)
    population: str = Field(max_length=60, description="what the lists count, e.g. recruits or dead")
    period: str = Field(max_length=40)
    lang: str = Field(default="en", pattern="^(ru|en)$")


class ListsIn(Schema):
    list_ids: list[uuid.UUID] = Field(min_length=2, max_length=12)
    by_region: bool = False
    lang: str = Field(default="en", pattern="^(ru|en)$")


class MethodOut(Schema):
    method: str
    label: str
    estimate: float | None
    lower: float | None
    upper: float | None
    usable: bool
    note: str


class ReportOut(Schema):
    title: str
    population: str
    period: str
    lists: list[str]
    n_observed: int
    default: MethodOut
    why: str
    methods: list[MethodOut]
    strata: list[tuple[str, MethodOut]]
    caveats: list[str]


class PublishedOut(Schema):
    id: uuid.UUID
    population: str
    period: str
    lists: list[str]
    n_observed: int
    method: str
    estimate: float
    lower: float
    upper: float
    approved_at: datetime | None


def _lang(code: str) -> report.Lang:
    return "ru" if code == "ru" else "en"


@router.post("/table", response={200: ReportOut})
def estimate_table(request: HttpRequest, body: TableIn) -> report.ReportView:
    """Estimate from an overlap table; no database is read."""
    caller(request)
    with service_errors():
        histories: dict[tuple[int, ...], int] = {}
        for number, row in enumerate(body.rows, start=1):
            if len(row.history) != len(body.lists) or any(v not in (0, 1) for v in row.history):
                raise tables.TableError(f"rows: row {number} needs one 0/1 value per list")
            key = tuple(row.history)
            histories[key] = histories.get(key, 0) + row.count
        table = tables.build_table(body.lists, histories, population=body.population, period=body.period)
        return report.view(report.estimate(table), _lang(body.lang))


@router.post("/lists", response={200: ReportOut})
def estimate_lists(request: HttpRequest, body: ListsIn) -> report.ReportView:
    """Estimate from declared lists over linked records the caller may see."""
    with service_errors():
        result, _ = selectors.lists_estimate(
            user=caller(request), list_ids=[str(i) for i in body.list_ids], by_region=body.by_region
        )
    return report.view(result, _lang(body.lang))


@router.get("/published", response={200: list[PublishedOut]})
def estimates_published(request: HttpRequest) -> list[PublishedOut]:
    """Estimates a second staff member approved for publication."""
    caller(request)
    return [PublishedOut.model_validate(s, from_attributes=True) for s in selectors.published_estimates()]
