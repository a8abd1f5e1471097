"""Sign-in (password, then code), 2FA set-up, logout, API tokens, team management, break-glass, notices.

The middleware (kartoteka.accounts.middleware) already refuses anonymous and half-signed-in users; the
views here still check the object-level rules (team management, admin-only break-glass) and answer 404
for missing and forbidden alike.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from kartoteka.accounts import access, forms, otp, selectors, services
from kartoteka.accounts.models import ApiToken, Role, Share, Team, User

_NEXT = "kartoteka_next"
# Not "wrong code": the code may be right, but no code can be checked until the key agent is unlocked.
_AGENT_LOCKED = gettext_lazy(
    "Codes cannot be checked right now: the key agent on the server is locked or not running. Your code "
    "was not used. Ask an administrator to unlock it (kartoteka keys unlock), then try again."
)
_REENROL = gettext_lazy(
    "Your authenticator was set up before second factors were sealed and no longer works. Ask an "
    "administrator to reset it (kartoteka otp-reset), then set it up again."
)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the middleware let only signed-in users through
    return user


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _after_sign_in(request: HttpRequest) -> HttpResponseRedirect:
    target = _safe_next(request, request.session.pop(_NEXT, None)) or settings.LOGIN_REDIRECT_URL
    return HttpResponseRedirect(target)


def _no_store(response: HttpResponse) -> HttpResponse:
    # Secrets shown once (TOTP secret, recovery codes, a new token) must not stay in any cache.
    response["Cache-Control"] = "no-store"
    return response


# --- sign-in ---------------------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and otp.is_verified(request.user):
        return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL)
    form = forms.LoginForm(request.POST or None)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    status = 200
    if request.method == "POST" and form.is_valid():
        username: str = form.cleaned_data["username"]
        wait = services.login_throttle_wait(username=username)
        if wait > 0:
            # Neither the password nor the name is checked while the delay runs, so this says nothing.
            form.add_error(
                None, _("Too many failed attempts. Try again in %(seconds)d s.") % {"seconds": wait + 1}
            )
            status = 429
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if not isinstance(user, User):
                services.login_failure_record(username=username)
                form.add_error(None, _("Wrong username or password."))
            else:
                services.login_success_record(username=username)
                auth_login(request, user)  # new session id
                if next_url:
                    request.session[_NEXT] = next_url
                return HttpResponseRedirect(
                    reverse("accounts:otp" if otp.has_device(user) else "accounts:setup")
                )
    return render(request, "accounts/login.html", {"form": form, "next": next_url or ""}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def otp_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponseRedirect(reverse("accounts:login"))
    user = _user(request)
    if otp.is_verified(user):
        return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL)
    if not otp.has_device(user):
        return HttpResponseRedirect(reverse("accounts:setup"))
    form = forms.CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        signed_in, status = _code_step(request, user, form)
        if signed_in is not None:
            return signed_in
    return render(request, "accounts/otp.html", {"form": form}, status=status)


def _code_step(request: HttpRequest, user: User, form: forms.CodeForm) -> tuple[HttpResponse | None, int]:
    """Sign in with a valid code; otherwise put the reason on the form and return the status to answer."""
    try:
        device = otp.code_verify(user=user, code=form.cleaned_data["code"])
    except otp.SecondFactorUnavailable:
        form.add_error(None, _AGENT_LOCKED)
        return None, 503
    except otp.ReenrolmentNeeded:
        form.add_error(None, _REENROL)
        return None, 403
    if device is None:
        form.add_error(None, _("This code is not valid. Each code works only once; wait for the next one."))
        return None, 200
    otp_login(request, device)
    services.session_rekey(request=request, user=user)  # and a new session id again
    return _after_sign_in(request), 200


@never_cache
@require_http_methods(["GET", "POST"])
def setup_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponseRedirect(reverse("accounts:login"))
    user = _user(request)
    if otp.has_device(user):
        # Enrolment is closed once a device exists: a password alone must not add an authenticator.
        return HttpResponseRedirect(reverse("accounts:otp"))
    form = forms.CodeForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            result = otp.setup_confirm(user=user, code=form.cleaned_data["code"])
            if result is not None:
                device, codes = result
                otp_login(request, device)
                services.session_rekey(request=request, user=user)
                context = {"codes": codes, "first": True}
                return _no_store(render(request, "accounts/recovery_codes.html", context))
            form.add_error(None, _("This code is not valid. Scan the new code below and try again."))
        enrolment = otp.setup_begin(user=user)
    except otp.SecondFactorUnavailable:
        return _unavailable(request)
    context = {"form": form, "qr_svg": otp.setup_qr_svg(enrolment), "secret": otp.setup_secret(enrolment)}
    return _no_store(render(request, "accounts/setup.html", context))


@require_POST
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    try:
        codes = otp.recovery_codes_new(user=_user(request))
    except otp.SecondFactorUnavailable:
        return _unavailable(request)
    return _no_store(render(request, "accounts/recovery_codes.html", {"codes": codes, "first": False}))


def _unavailable(request: HttpRequest) -> HttpResponse:
    context = {"title": _("Second factor unavailable"), "message": _AGENT_LOCKED}
    return render(request, "accounts/otp_unavailable.html", context, status=503)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)  # deletes the session row and sends a fresh, empty cookie
    return HttpResponseRedirect(settings.LOGOUT_REDIRECT_URL)


# --- API tokens ---------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def tokens_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not otp.is_verified(user):
        raise access.NotFound  # the middleware already refuses; tokens never come from a weaker session
    form = forms.TokenCreateForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            new_token, _row = services.api_token_create(
                user=user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            form = forms.TokenCreateForm()
    context = {"form": form, "new_token": new_token, "tokens": selectors.api_token_list(user=user)}
    return _no_store(render(request, "accounts/tokens.html", context))


@require_POST
def token_revoke_view(request: HttpRequest, token_id: uuid.UUID) -> HttpResponse:
    user = _user(request)
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise access.NotFound
    services.api_token_revoke(actor=user, token=token)
    return HttpResponseRedirect(reverse("accounts:tokens"))


# --- teams ---------------------------------------------------------------------------------------------------


def _managed_team(user: User, team_id: uuid.UUID) -> Team:
    team = Team.objects.filter(pk=team_id).first()
    if team is None or not access.team_manageable(user, team):
        raise access.NotFound
    return team


@require_GET
def teams_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/teams.html", {"teams": selectors.teams_manageable(_user(request))})


@require_http_methods(["GET", "POST"])
def team_view(request: HttpRequest, team_id: uuid.UUID) -> HttpResponse:
    user = _user(request)
    team = _managed_team(user, team_id)
    form = forms.MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.team_member_add(actor=user, team=team, username=form.cleaned_data["username"])
        except ValueError:
            form.add_error("username", _("There is no active user with this username."))
        else:
            return HttpResponseRedirect(reverse("accounts:team", args=[team.id]))
    context = {
        "team": team,
        "form": form,
        "members": selectors.team_members(team),
        "shares": selectors.team_shares(team),
    }
    return render(request, "accounts/team.html", context)


@require_POST
def member_remove_view(request: HttpRequest, team_id: uuid.UUID, user_id: uuid.UUID) -> HttpResponse:
    actor = _user(request)
    team = _managed_team(actor, team_id)
    member = User.objects.filter(pk=user_id, teams=team).first()
    if member is None:
        raise access.NotFound
    services.team_member_remove(actor=actor, team=team, user=member)
    return HttpResponseRedirect(reverse("accounts:team", args=[team.id]))


@require_POST
def share_revoke_view(request: HttpRequest, team_id: uuid.UUID, share_id: uuid.UUID) -> HttpResponse:
    actor = _user(request)
    team = _managed_team(actor, team_id)
    share = Share.objects.filter(pk=share_id).first()
    if share is None or selectors.share_owner_team_id(share) != team.id:
        raise access.NotFound
    services.share_revoke(actor=actor, share=share)
    return HttpResponseRedirect(reverse("accounts:team", args=[team.id]))


# --- break-glass and notices -----------------------------------------------------------------------------------


@sensitive_post_parameters("password", "reason")
@never_cache
@require_http_methods(["GET", "POST"])
def break_glass_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.role != Role.ADMIN:
        raise access.NotFound
    teams = Team.objects.exclude(members=user).order_by("name")
    form = forms.BreakGlassForm(request.POST or None, teams=teams, initial={"team": request.GET.get("team")})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.break_glass_open(
                actor=user,
                team=form.cleaned_data["team"],
                password=form.cleaned_data["password"],
                reason=form.cleaned_data["reason"],
            )
        except services.ReauthFailed:
            form.add_error("password", _("Wrong password, or too many attempts; wait and try again."))
            status = 403
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return HttpResponseRedirect(reverse("accounts:break_glass"))
    context = {"form": form, "grants": selectors.break_glass_active(user=user)}
    return render(request, "accounts/break_glass.html", context, status=status)


@require_GET
def notices_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/notices.html", {"notices": selectors.notice_list(user=_user(request))})


@require_POST
def notice_read_view(request: HttpRequest, notice_id: uuid.UUID) -> HttpResponse:
    services.notice_mark_read(user=_user(request), notice_id=notice_id)
    return HttpResponseRedirect(reverse("accounts:notices"))
