"""Background jobs of the ledger room (Django tasks, stored by django_tasks_db; `kartoteka worker` runs
them). Jobs carry person ids only: never names, never facts."""

from __future__ import annotations

from django.tasks import task


@task()
def ledger_recompute_task(person_ids: list[str]) -> int:
    from kartoteka.law.services import ledger_recompute

    return ledger_recompute(actor=None, person_ids=person_ids)
