"""Background job of the reports room: rebuild the dashboard summaries (counts only, no ids of people)."""

from __future__ import annotations

from django.tasks import task


@task()
def summaries_refresh_task() -> int:
    from kartoteka.reports.models import SummaryState
    from kartoteka.reports.services import summaries_refresh

    result = summaries_refresh()
    SummaryState.objects.filter(id=1).update(queued=False)
    return result.rows
