from django.urls import URLPattern, URLResolver, path

from kartoteka.accounts import views

app_name = "accounts"
urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", views.login_view, name="login"),
    path("login/otp/", views.otp_view, name="otp"),
    path("logout/", views.logout_view, name="logout"),
    path("2fa/setup/", views.setup_view, name="setup"),
    path("2fa/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("tokens/", views.tokens_view, name="tokens"),
    path("tokens/<uuid:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("teams/", views.teams_view, name="teams"),
    path("team/<uuid:team_id>/", views.team_view, name="team"),
    path(
        "team/<uuid:team_id>/members/<uuid:user_id>/remove/", views.member_remove_view, name="member_remove"
    ),
    path("team/<uuid:team_id>/shares/<uuid:share_id>/revoke/", views.share_revoke_view, name="share_revoke"),
    path("break-glass/", views.break_glass_view, name="break_glass"),
    path("notices/", views.notices_view, name="notices"),
    path("notices/<uuid:notice_id>/read/", views.notice_read_view, name="notice_read"),
]
