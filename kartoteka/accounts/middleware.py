"""The login wall: every request needs an active user who passed the second factor, except PUBLIC_PATHS.

Order of checks, per request:
1. ``/api/`` with ``Authorization: Bearer …`` authenticates by API token alone (tokens are made only from a
   2FA session). No cookies are involved, so CSRF does not apply to such requests.
2. A session older than SESSION_COOKIE_AGE since sign-in, or idle longer than
   KARTOTEKA_SESSION_IDLE_MINUTES, is flushed: the user is anonymous from this request on.
3. Public paths pass. Anonymous users are sent to the login page (401 JSON under ``/api/``).
4. Users who gave their password but not yet their code may reach only the second-factor pages and
   logout; the others are sent to the code step, or to set-up when they have no device yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from kartoteka.accounts import otp, services

# A path is public when it equals an entry, or starts with an entry that ends in "/".
PUBLIC_PATHS: tuple[str, ...] = (
    "/accounts/login/",  # and so /accounts/login/otp/, the code step (its view sends anonymous users back)
    "/i18n/setlang/",
    "/static/",
    "/healthz",
    "/report/",
    "/intake-sync/",  # the casework side's pull: its own bearer secret (kartoteka.intake.views.sync)
)
LOGIN_PATH = "/accounts/login/"
OTP_PATH = "/accounts/login/otp/"
SETUP_PATH = "/accounts/2fa/setup/"
LOGOUT_PATH = "/accounts/logout/"
# Reachable after the password and before the code.
HALF_SIGNED_IN_PATHS = frozenset({OTP_PATH, SETUP_PATH, LOGOUT_PATH})
API_PREFIX = "/api/"
# Writing the session on every request would cost a database write per page; a minute is precise enough.
_SEEN_RESOLUTION_SECONDS = 60


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC_PATHS)


def _refuse_api(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def session_expired(request: HttpRequest, now: float) -> bool:
    session = request.session
    auth_at = session.get(services.SESSION_AUTH_AT)
    seen_at = session.get(services.SESSION_SEEN_AT)
    if not isinstance(auth_at, int) or not isinstance(seen_at, int):
        return True  # not made by our login (or tampered with): fail closed
    idle_limit = settings.KARTOTEKA_SESSION_IDLE_MINUTES * 60
    return now - auth_at > settings.SESSION_COOKIE_AGE or now - seen_at > idle_limit


class AccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(API_PREFIX):
            raw = _bearer(request)
            if raw is not None:
                token_user = services.api_token_user(raw)
                if token_user is None:
                    return _refuse_api("invalid token")
                request.user = token_user
                request.auth_token = True  # type: ignore[attr-defined]
                # No cookie authenticates this request, so there is no cross-site request to forge.
                request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
                return self.get_response(request)

        user = request.user
        if user.is_authenticated:
            now = time.time()
            if session_expired(request, now):
                logout(request)  # flushes the session; the user_logged_out receiver drops its index row
                user = request.user
            elif now - request.session.get(services.SESSION_SEEN_AT, 0) >= _SEEN_RESOLUTION_SECONDS:
                request.session[services.SESSION_SEEN_AT] = int(now)

        if is_public(path):
            return self.get_response(request)
        if not user.is_authenticated:
            if path.startswith(API_PREFIX):
                return _refuse_api("authentication required")
            return HttpResponseRedirect(f"{LOGIN_PATH}?{urlencode({'next': path})}")
        if not otp.is_verified(user):
            if path in HALF_SIGNED_IN_PATHS:
                return self.get_response(request)
            if path.startswith(API_PREFIX):
                return _refuse_api("second factor required")
            return HttpResponseRedirect(OTP_PATH if otp.has_device(user) else SETUP_PATH)
        return self.get_response(request)
