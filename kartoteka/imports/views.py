"""Import pages (server-rendered, no JavaScript): upload with a dry-run report, the runs, the quarantine.

Uploads are held in memory only (never a temporary file: the sheet holds names) and refused over a
limit; larger files go through `kartoteka import`. A dry run is the default; importing is the same form
sent again with the box unticked, so nothing of the file is kept between the two requests.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from kartoteka.accounts import access
from kartoteka.accounts.models import Team
from kartoteka.imports import mapping as mappings
from kartoteka.imports import selectors, services
from kartoteka.imports.cli import message
from kartoteka.imports.readers import MemoryFile
from kartoteka.imports.rows import reason_text
from kartoteka.lib.disclosure import csv_safe

UPLOAD_LIMIT = 32 * 1024 * 1024


class _BoundedMemoryHandler(MemoryFileUploadHandler):
    """Django's in-memory handler, with our own limit instead of FILE_UPLOAD_MAX_MEMORY_SIZE."""

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: Any = None
    ) -> None:
        self.activated = content_length <= UPLOAD_LIMIT


def _lang() -> str:
    return "en" if (get_language() or "ru").startswith("en") else "ru"


def _teams(request: HttpRequest) -> list[Team]:
    return list(Team.objects.filter(members=request.user).order_by("name"))


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    # Before the body is read (CSRF reads it): memory only, never a temporary file.
    request.upload_handlers = [_BoundedMemoryHandler(request)]
    return _upload(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not access.sees_identities(user) or user.role not in access.WRITING_ROLES:
        raise access.NotFound
    lang = _lang()
    context: dict[str, Any] = {
        "teams": _teams(request),
        "runs": selectors.runs_for(user=user),
        "dry_run": True,
    }
    if request.method == "POST":
        context.update(_handle(request, user, lang))
    return render(request, "imports/upload.html", context, status=context.get("status", 200))


def _handle(request: HttpRequest, user: Any, lang: str) -> dict[str, Any]:
    upload_file = request.FILES.get("file")
    dry_run = request.POST.get("dry_run") == "on"
    out: dict[str, Any] = {"dry_run": dry_run}
    if upload_file is None:
        out.update(error=message("upload_missing", lang), status=400)
        return out
    team = next((t for t in _teams(request) if str(t.id) == request.POST.get("team")), None)
    if team is None:
        out.update(error=message("team_missing", lang), status=400)
        return out
    try:
        chosen = None
        mapping_file = request.FILES.get("mapping")
        if mapping_file is not None:
            chosen = mappings.parse(json.loads(mapping_file.read().decode("utf-8-sig")))
        report = services.table_import(
            actor=user, team=team, path=MemoryFile(upload_file.name or "upload", upload_file.read()),
            mapping=chosen, dry_run=dry_run, label=f"Импорт / import {upload_file.name}",
        )  # fmt: skip
    except (services.ImportRefused, mappings.MappingError) as exc:
        out.update(error=message(exc.code, lang, exc.columns), status=400)
        return out
    except ValueError:
        out.update(error=message("mapping_unreadable", lang), status=400)
        return out
    out["report"] = report
    out["problems"] = [(row, column, reason_text(code, lang)) for row, column, code in report.errors]
    return out


@never_cache
@require_GET
def quarantine(request: HttpRequest, run_id: str) -> HttpResponse:
    user: Any = request.user
    run, rows = selectors.quarantine_open(user=user, run_id=run_id)
    lang = _lang()
    shown = [(r.row, [(c, reason_text(code, lang)) for c, code in r.reasons], r.cells) for r in rows]
    return render(
        request, "imports/quarantine.html", {"run": run, "rows": shown, "headers": list(run.mapping)}
    )


@never_cache
@require_GET
def quarantine_export(request: HttpRequest, run_id: str) -> HttpResponse:
    """The rejected rows as CSV for correction, streamed to the browser (never a file on the server)."""
    user: Any = request.user
    run, rows = selectors.quarantine_open(user=user, run_id=run_id, purpose="export")
    lang = _lang()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["row", "reasons", *run.mapping])
    for r in rows:
        reasons = "; ".join(f"{c or '-'}: {reason_text(code, lang)}" for c, code in r.reasons)
        writer.writerow([r.row, csv_safe(reasons), *(csv_safe(c) for c in r.cells)])
    response = HttpResponse(buffer.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="quarantine-{run.id}.csv"'
    response["Cache-Control"] = "no-store"
    return response
