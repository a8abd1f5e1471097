from typing import Any

from django.apps import AppConfig
from django.http import HttpRequest


class AccountsConfig(AppConfig):
    name = "kartoteka.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        user_logged_in.connect(_on_login, dispatch_uid="kartoteka.accounts.login")
        user_logged_out.connect(_on_logout, dispatch_uid="kartoteka.accounts.logout")


def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Every login(), ours or a test client's, gets the session index row and the session stamps.
    from kartoteka.accounts import services

    if request is not None and hasattr(request, "session"):
        services.session_track(request=request, user=user)


def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from kartoteka.accounts import services

    if request is not None and hasattr(request, "session"):
        services.session_forget(session_key=request.session.session_key)
