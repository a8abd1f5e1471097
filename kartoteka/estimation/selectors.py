"""Reads for estimation: capture-history tables built from declared lists over linked records.

A person (a cluster of records after linkage) is on list j when any of their records came from list j's
source. Records not yet linked to a person count as their own cluster, which can only push an estimate up:
the report's linkage caveat says so. Only records the user may see are counted; the page says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.estimation import report, tables
from kartoteka.estimation.access import declared_list_get_for_user
from kartoteka.estimation.lcmcr import LCMCRSettings
from kartoteka.estimation.models import DeclaredList, SavedEstimate

UNKNOWN_STRATUM = "—"


@dataclass(frozen=True)
class ListTable:
    table: tables.CaptureTable | None
    strata: dict[str, tables.CaptureTable]
    records_counted: int


def _declarations(lists: Sequence[DeclaredList]) -> list[tables.ListDeclaration]:
    return [tables.ListDeclaration(d.name, d.population, d.period) for d in lists]


def lists_get(*, user: User, list_ids: Sequence[str]) -> list[DeclaredList]:
    if len(set(list_ids)) != len(list_ids):
        raise tables.TableError("each list may be chosen once")
    return [declared_list_get_for_user(user, list_id) for list_id in list_ids]


def _linked(user: User, lists: Sequence[DeclaredList]) -> list[tuple[tables.LinkedRecord, str]]:
    name_of = {d.source_id: d.name for d in lists}
    rows = (
        access.record_list_for_user(user)
        .filter(source_id__in=list(name_of))
        .values_list("id", "source_id", "person_id", "person__home_region__code", "home_region__code")
    )
    out = []
    for record_id, source_id, person_id, person_region, record_region in rows.iterator(chunk_size=2000):
        cluster = str(person_id or record_id)
        stratum = person_region or record_region or UNKNOWN_STRATUM
        out.append((tables.LinkedRecord(name_of[source_id], cluster), stratum))
    return out


def list_table(*, user: User, lists: Sequence[DeclaredList], by_region: bool = False) -> ListTable:
    """The capture-history table (or one per region) of the chosen lists; refuses mixed populations."""
    declarations = _declarations(lists)
    linked = _linked(user, lists)
    records = [r for r, _ in linked]
    if not by_region:
        return ListTable(tables.table_from_links(records, lists=declarations), {}, len(records))
    stratum_of: dict[str, str] = {}
    for record, stratum in linked:
        # A person's records may name different regions; the first known one wins, deterministically.
        if stratum_of.get(record.cluster_id, UNKNOWN_STRATUM) == UNKNOWN_STRATUM:
            stratum_of[record.cluster_id] = stratum
    strata = tables.tables_by_stratum(records, lists=declarations, stratum_of=stratum_of)
    return ListTable(None, strata, len(records))


def lists_estimate(
    *, user: User, list_ids: Sequence[str], by_region: bool = False, settings: LCMCRSettings | None = None
) -> tuple[report.EstimationReport, int]:
    """Every method over the chosen declared lists; returns the report and the number of records read."""
    lists = lists_get(user=user, list_ids=list_ids)
    built = list_table(user=user, lists=lists, by_region=by_region)
    if built.table is not None:
        return report.estimate(built.table, settings=settings), built.records_counted
    return report.estimate_stratified(built.strata, settings=settings), built.records_counted


def published_estimates() -> list[SavedEstimate]:
    """Approved estimates, newest first: the only ones reports and the public data set may print."""
    return list(SavedEstimate.objects.filter(approved_at__isnull=False).order_by("-approved_at"))
