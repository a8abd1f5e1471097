"""Who may call the API, and how refusals and invalid input are answered.

The login wall (accounts.middleware.AccessMiddleware) has already run: a Bearer token is resolved into
``request.user`` with ``request.auth_token`` set, and a session without a verified second factor never
reaches a view. The classes here check again (a second lock on the same door) and name the two schemes
in the OpenAPI schema.

Error bodies never repeat what the caller sent: a value in the wrong field may be a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security.apikey import APIKeyCookie
from ninja.security.http import HttpAuthBase

from kartoteka.accounts import otp
from kartoteka.accounts.models import User
from kartoteka.lib.vocab import UnknownTermError
from kartoteka.registry.selectors import FacilityNotFound


def via_token(request: HttpRequest) -> bool:
    return bool(getattr(request, "auth_token", False))


def _active_user(request: HttpRequest) -> User | None:
    user = request.user
    if isinstance(user, User) and user.is_authenticated and user.is_active:
        return user
    return None


class BearerAuth(HttpAuthBase):
    """``Authorization: Bearer <token>``; the middleware checked the token (live, user active)."""

    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> User | None:
        return _active_user(request) if via_token(request) else None


class VerifiedSessionAuth(APIKeyCookie):
    """The browser session of a user who passed the second factor; unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        if via_token(request):
            return None
        user = _active_user(request)
        return user if user is not None and otp.is_verified(user) else None


AUTH = [BearerAuth(), VerifiedSessionAuth()]


def caller(request: HttpRequest) -> User:
    """The authenticated user of an API view (the auth classes put it in ``request.auth``)."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User):  # pragma: no cover - ninja calls no view without auth
        raise HttpError(401, "authentication required")
    return user


def staff_only[**P](view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """For the OpenAPI schema view, which ninja serves outside the operations' auth."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        request = args[0]
        assert isinstance(request, HttpRequest)
        if _active_user(request) is None or not (via_token(request) or otp.is_verified(request.user)):
            response = JsonResponse({"detail": "authentication required"}, status=401)
            response["WWW-Authenticate"] = "Bearer"
            return response
        return view(*args, **kwargs)

    return wrapped


# --- errors ---------------------------------------------------------------------------------------------


class Invalid(Exception):
    """A service refused the input; ``field`` and ``message`` come from the service, never the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field)
        self.field = field
        self.message = message


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn a service's ValueError ("field: problem", worded not to repeat the value) into a 422."""
    try:
        yield
    except UnicodeError:
        raise Invalid("body", "text must be valid Unicode") from None
    except ValueError as exc:
        field, sep, message = str(exc).partition(": ")
        if not sep or not field.replace("_", "").replace(" ", "").isalnum():
            field, message = "body", str(exc)
        raise Invalid(field, message) from None


def _detail(items: list[dict[str, Any]], status: int) -> HttpResponse:
    return JsonResponse({"detail": items}, status=status, json_dumps_params={"ensure_ascii": False})


def _not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    return JsonResponse({"detail": "Not Found"}, status=404)


def _invalid(request: HttpRequest, exc: Any) -> HttpResponse:
    assert isinstance(exc, Invalid)
    return _detail([{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}], 422)


# pydantic messages that may quote part of the input; each is replaced by a fixed sentence.
_QUOTING_TYPES = {
    "uuid_parsing": "Input should be a valid UUID",
    "json_invalid": "Invalid JSON",
    "date_from_datetime_parsing": "Input should be a valid date",
    "date_parsing": "Input should be a valid date",
    "decimal_parsing": "Input should be a valid decimal",
}


def _validation(request: HttpRequest, exc: Any) -> HttpResponse:
    assert isinstance(exc, NinjaValidationError)
    items = []
    for error in exc.errors:
        kind = str(error.get("type", "value_error"))
        message = _QUOTING_TYPES.get(kind, str(error.get("msg", "invalid")))
        loc = [str(p) for p in error.get("loc", ())]
        if loc[:2] == ["body", "body"]:  # every body parameter is named "body"; say it once
            loc = loc[1:]
        items.append({"loc": loc, "msg": message, "type": kind})
    return _detail(items, 422)


def handlers_install(api: NinjaAPI) -> None:
    """Missing and forbidden look alike (404); validation is 422 with field locations and no input."""
    for exc_class in (PermissionDenied, FacilityNotFound, UnknownTermError):
        api.add_exception_handler(exc_class, _not_found)
    api.add_exception_handler(Invalid, _invalid)
    api.add_exception_handler(NinjaValidationError, _validation)
