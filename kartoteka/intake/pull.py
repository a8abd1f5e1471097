"""The casework side's pull from a separate intake host: send the current public recipients and the
undelivered replies, fetch sealed submissions, store them, acknowledge; the intake then deletes them.

HTTPS only, except to this machine (a tunnel or the embedded test set-up).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kartoteka.intake import services
from kartoteka.intake.models import Recipient

_LOCAL = {"127.0.0.1", "localhost", "::1"}


class PullError(Exception):
    pass


@dataclass(frozen=True)
class PullReport:
    stored: int
    acknowledged: int
    replies_sent: int


def _post(url: str, token: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in pull()
        url,
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as exc:
        raise PullError(f"the intake host answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PullError(f"cannot reach the intake host ({type(exc).__name__})") from None


def pull(base_url: str, token: str, *, batch: int = 20, timeout: float = 60.0) -> PullReport:
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in _LOCAL):
        raise PullError("the intake host must be reached over HTTPS")
    base = base_url.rstrip("/")
    if not base.endswith("/intake-sync"):
        base += "/intake-sync"
    triage = list(Recipient.objects.filter(active=True, kind="triage").values_list("recipient", flat=True))
    recovery = services.recovery_recipient()
    replies = services.replies_undelivered()
    stored = acknowledged = 0
    first = True
    while True:
        body: dict[str, Any] = {"limit": batch, "recipients": triage, "recovery": recovery}
        if first:
            body["replies"] = replies
        answer = _post(f"{base}/pull", token, body, timeout)
        if first:
            services.replies_mark_delivered([r["id"] for r in replies])
            first = False
        items = answer.get("submissions") or []
        if not items:
            break
        held = services.sync_import(items)  # committed before the acknowledgement
        stored += len(held)
        acknowledged += int(_post(f"{base}/ack", token, {"ids": held}, timeout).get("deleted", 0))
    return PullReport(stored=stored, acknowledged=acknowledged, replies_sent=len(replies))
