"""The login wall, route by route: every URL pattern Django knows is refused to outsiders.

The routes come from Django's own resolver (recursively through includes), so a new view is covered the
moment it is routed. The allowlist is pinned here: a new public route needs a change to this file.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from kartoteka.accounts import middleware
from kartoteka.accounts.models import SealedTOTPDevice
from kartoteka.testing.factories import user_make

# Every entry opens a door to the whole internet. Changing this set needs a reviewer's eye.
EXPECTED_PUBLIC = {
    "/accounts/login/",  # and the code step beneath it, /accounts/login/otp/
    "/i18n/setlang/",
    "/static/",
    "/healthz",
    "/report/",  # the public intake, for people who report without an account
    "/intake-sync/",  # the casework side's pull from the intake host: POST only, its own bearer secret
}
# Reachable with a password but no second factor yet.
EXPECTED_HALF_SIGNED_IN = {"/accounts/login/otp/", "/accounts/2fa/setup/", "/accounts/logout/"}
# Routes that must never fall under the allowlist: a guard against a matching rule that exempts too much.
MUST_BE_WALLED = ("/", "/people/search/", "/accounts/tokens/", "/api/openapi.json")
PASSWORD = "correct horse battery staple"  # the factories' password
LOGIN_REDIRECT = re.compile(r"^/accounts/login/\?next=%2F")


def _sample(converter: object) -> str:
    """A value the converter accepts: a random uuid, else 1, else "x"."""
    regex = str(getattr(converter, "regex", ""))
    for value in (str(uuid.uuid4()), "1", "x"):
        if re.fullmatch(regex, value):
            return value
    raise AssertionError(f"no sample value for converter {type(converter).__name__}; add one to _sample")


def _fill(route: str, converters: dict[str, object]) -> str:
    def one(match: re.Match[str]) -> str:
        return _sample(converters[match.group("name")])

    return re.sub(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>", one, route)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(top-level include, concrete path) for every pattern under ``patterns``."""
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            piece = _fill(str(pattern), dict(pattern.converters))
        elif isinstance(pattern, RegexPattern) and not re.compile(pattern._regex).groups:
            piece = str(pattern).lstrip("^").rstrip("$").replace("\\", "")
        else:
            raise AssertionError(f"cannot fill the route {pattern!s}; teach _walk its arguments")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + piece)
        else:
            yield prefix, "/" + prefix + piece


def _all_paths() -> list[str]:
    walked = list(_walk(get_resolver().url_patterns))
    tops = {str(e.pattern) for e in get_resolver().url_patterns if isinstance(e, URLResolver)}
    # Each include must have given routes, or the walk silently skipped a whole app.
    assert tops <= {top.split("/")[0] + "/" for top, _path in walked if top}
    return sorted({path for _top, path in walked})


def _public(path: str) -> bool:
    # Written out here rather than borrowed from the middleware, so a looser rule there fails this test.
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in EXPECTED_PUBLIC)


def _walled() -> list[str]:
    paths = [p for p in _all_paths() if not _public(p)]
    assert set(MUST_BE_WALLED) <= set(paths)
    return paths


def _refused(client: Client, method: str, path: str, *, page_target: re.Pattern[str]) -> str | None:
    """None when refused as expected, else a line saying what happened instead."""
    response = client.get(path) if method == "GET" else client.post(path, {})
    if path.startswith("/api/"):
        if response.status_code == 401:
            return None
        return f"{method} {path}: {response.status_code}, expected 401"
    location = response.get("Location", "")
    if response.status_code == 302 and page_target.search(location):
        return None
    return (
        f"{method} {path}: {response.status_code} {location!r}, expected a redirect to {page_target.pattern}"
    )


def test_it_pins_the_public_allowlist_and_the_two_factor_steps() -> None:
    assert set(middleware.PUBLIC_PATHS) == EXPECTED_PUBLIC
    assert len(middleware.PUBLIC_PATHS) == len(EXPECTED_PUBLIC)  # no duplicate hiding a removed entry
    assert set(middleware.HALF_SIGNED_IN_PATHS) == EXPECTED_HALF_SIGNED_IN
    for path in _all_paths():
        assert middleware.is_public(path) == _public(path), path


@pytest.mark.django_db
def test_it_refuses_every_route_to_anonymous_get_and_post() -> None:
    client = Client()
    paths = _walled()
    failures = [
        line
        for path in paths
        for method in ("GET", "POST")
        if (line := _refused(client, method, path, page_target=LOGIN_REDIRECT))
    ]
    assert failures == []
    assert len(paths) >= 60  # the routed application at the time of writing; shrinking means a lost include


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("has_device", "target"),
    [(True, "/accounts/login/otp/"), (False, "/accounts/2fa/setup/")],
    ids=["with-device", "without-device"],
)
def test_it_keeps_a_password_only_session_out_of_every_route_but_the_2fa_steps(
    has_device: bool, target: str
) -> None:
    user = user_make("polovina")
    if has_device:
        SealedTOTPDevice.objects.create(user=user, name="phone", confirmed=True, wrapped_key=b"")
    client = Client()
    signed_in = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert signed_in["Location"] == target

    paths = [p for p in _walled() if p not in EXPECTED_HALF_SIGNED_IN]
    # Pages send a half-signed-in user on to the code step; that the target is the code step and not the
    # login page also proves the session stayed alive through the whole walk.
    page_target = re.compile("^" + re.escape(target) + "$")
    failures = [
        line
        for path in paths
        for method in ("GET", "POST")
        if (line := _refused(client, method, path, page_target=page_target))
    ]
    assert failures == []
    assert client.get(target).status_code == 200
