"""Background job of the reports room: rebuild the dashboard summaries (counts only, no ids of people) and
pre-draw the default dashboard view."""

from __future__ import annotations

from django.tasks import task


@task()
def summaries_refresh_task() -> int:
    from django.utils import timezone

    from kartoteka.reports import drawn
    from kartoteka.reports.models import SummaryState
    from kartoteka.reports.services import summaries_refresh

    result = summaries_refresh()
    SummaryState.objects.filter(id=1).update(queued=False)
    # The default view, drawn now in both languages, so the first visitor after a rebuild does not wait for
    # its queries and charts (filtered views are drawn on their first visit and kept).
    drawn.predraw(today=timezone.localdate())
    return result.rows
