"""Public pages: the report form, the receipt with the codename, the return page; and the sync endpoint.

No cookie, no session, no CSRF token (there is no session to ride; the codename is the credential), no
JavaScript, no external resource. The reporter's language travels as a form parameter. Every response
carries the strict headers (intake.headers).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from kartoteka.intake import conf, headers, limits, services, uploads
from kartoteka.intake.forms import ReportForm, ReturnForm
from kartoteka.intake.texts import Lang, lang_of, texts
from kartoteka.lib import crypto, filetypes

_STATUS = {"busy": 429, "full": 503, "closed": 503, "too_large": 413, "empty": 400, "filetype": 400}


def _lang(request: HttpRequest) -> Lang:
    # In the query string, also on POST (the form's action carries it): known before the body is read.
    return lang_of(request.GET.get("lang"))


def _context(lang: Lang, **extra: Any) -> dict[str, Any]:
    limits = uploads.limits()
    t = texts(lang)
    t["files_help"] = t["files_help"].format(count=limits.max_files, size=limits.max_file_bytes // uploads.MB)
    return {"t": t, "lang": lang, "other_lang": "en" if lang == "ru" else "ru", **extra}


def _message(request: HttpRequest, lang: Lang, text: str, status: int) -> HttpResponse:
    return render(request, "intake/message.html", _context(lang, message=text), status=status)


def _too_big(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > uploads.limits().max_request_bytes


def _prepare_uploads(request: HttpRequest) -> None:
    # Before anything reads the body: only the bounded in-memory handler, never a temporary file.
    request.upload_handlers = [uploads.IntakeUploadHandler(request)]


def _post_refused(request: HttpRequest) -> HttpResponse | None:
    """A public POST's checks before anything reads its body: its size, then the shared rate limit (each
    report and each return costs a slow hash); a POST that passes is read by the bounded handler only."""
    if request.method != "POST":
        return None
    lang = _lang(request)
    if _too_big(request):
        return _message(request, lang, texts(lang)["too_large"], 413)
    if not limits.take():
        return _message(request, lang, texts(lang)["busy"], 429)
    _prepare_uploads(request)
    return None


def _uploads_of(request: HttpRequest, field: str = "files") -> tuple[list[services.Upload], bool]:
    problems: uploads.UploadProblems = getattr(request, "intake_upload_problems", uploads.UploadProblems())
    got = [
        services.Upload(content=f.read(), original_name=f.name or "", sha256=f.sha256)
        for f in request.FILES.getlist(field)
        if isinstance(f, uploads.HashedMemoryFile)
    ]
    return got, bool(problems.too_many or problems.too_large)


@csrf_exempt
@headers.strict
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    if (refused := _post_refused(request)) is not None:
        return refused
    lang = _lang(request)
    t = texts(lang)
    with translation.override(lang):
        if request.method != "POST":
            return render(request, "intake/report.html", _context(lang, form=ReportForm(lang=lang)))
        form = ReportForm(request.POST, lang=lang)
        files, over = _uploads_of(request)
        if over:
            return _message(request, lang, t["too_large"], 413)
        if not form.is_valid():
            ctx = _context(lang, form=form, error=t["not_saved"])
            return render(request, "intake/report.html", ctx, status=400)
        try:
            receipt = services.report_submit(fields=form.envelope_fields(), uploads=files, lang=lang)
        except filetypes.FileTypeRefused as exc:
            ctx = _context(lang, form=form, error=f"{t['not_saved']} {exc}")
            return render(request, "intake/report.html", ctx, status=400)
        except services.Refused as exc:
            return _message(request, lang, t.get(exc.reason, t["not_saved"]), _STATUS.get(exc.reason, 400))
        # Only now, after the commit: the codename is shown once and stored nowhere.
        return render(request, "intake/receipt.html", _context(lang, codename=receipt.codename))


@csrf_exempt
@headers.strict
@require_http_methods(["GET", "POST"])
def report_return(request: HttpRequest) -> HttpResponse:
    if (refused := _post_refused(request)) is not None:
        return refused
    lang = _lang(request)
    t = texts(lang)
    with translation.override(lang):
        if request.method != "POST":
            return render(request, "intake/return.html", _context(lang, form=ReturnForm(lang=lang)))
        form = ReturnForm(request.POST, lang=lang)
        if not form.is_valid():
            return render(request, "intake/return.html", _context(lang, form=form), status=400)
        codename = form.cleaned_data["codename"]
        files, over = _uploads_of(request)
        if over:
            return _message(request, lang, t["too_large"], 413)
        added = False
        try:
            addition = form.cleaned_data.get("add_text") or ""
            if addition or files:
                services.followup_submit(
                    codename=codename, fields={"what_text": addition}, uploads=files, lang=lang
                )
                added = True
            view = services.reporter_open(codename=codename)
        except services.CodenameUnknown:
            ctx = _context(lang, form=ReturnForm(lang=lang), error=t["bad_codename"])
            return render(request, "intake/return.html", ctx, status=403)
        except filetypes.FileTypeRefused as exc:
            return _message(request, lang, f"{t['not_saved']} {exc}", 400)
        except services.Refused as exc:
            return _message(request, lang, t.get(exc.reason, t["not_saved"]), _STATUS.get(exc.reason, 400))
        ctx = _context(lang, replies=view.replies, codename=codename, added=added, form=ReturnForm(lang=lang))
        return render(request, "intake/thread.html", ctx)


# --- sync: the casework side pulls sealed submissions -------------------------------------------------


def _sync_authorised(request: HttpRequest) -> bool:
    expected = conf.text("KARTOTEKA_INTAKE_SYNC_TOKEN_SHA256")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not value.strip():
        return False
    return crypto.equal(crypto.digest(value.strip().encode()).hex().encode(), expected.lower().encode())


@csrf_exempt
@headers.strict
@require_POST
def sync(request: HttpRequest, action: str) -> HttpResponse:
    """POST /intake-sync/pull (recipients and replies in, sealed submissions out) and /intake-sync/ack."""
    if not conf.text("KARTOTEKA_INTAKE_SYNC_TOKEN_SHA256"):
        return JsonResponse({"detail": "not found"}, status=404)
    if not _sync_authorised(request):
        return JsonResponse({"detail": "unauthorised"}, status=401)
    try:
        body = json.loads(request.body or b"{}")
        if action == "pull":
            services.sync_recipients_set(triage=body.get("recipients", []), recovery=body.get("recovery"))
            services.sync_replies_store(body.get("replies", []))
            limit = max(1, min(int(body.get("limit", 20)), 200))
            return JsonResponse({"submissions": services.sync_export(limit=limit)})
        if action == "ack":
            return JsonResponse({"deleted": services.sync_acknowledge(body.get("ids", []))})
    except (ValueError, KeyError, TypeError, crypto.CryptoError):
        return JsonResponse({"detail": "malformed"}, status=400)
    return JsonResponse({"detail": "not found"}, status=404)
