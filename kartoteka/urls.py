"""Routes. Every route needs a logged-in staff member with a verified second factor, except the names in
kartoteka.accounts.middleware.PUBLIC_PATHS (login, the public intake, static files, health)."""

from django.urls import include, path
from django.views.i18n import set_language

from kartoteka.core import views as core_views
from kartoteka.intake import public_urls as intake_public_urls

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("accounts/", include("kartoteka.accounts.urls")),
    path("people/", include("kartoteka.people.urls")),
    path("casework/", include("kartoteka.casework.urls")),
    path("facilities/", include("kartoteka.registry.urls")),
    path("api/", include("kartoteka.api.urls")),
    path("intake/", include("kartoteka.intake.triage.urls")),
    path("imports/", include("kartoteka.imports.urls")),
    path("linkage/", include("kartoteka.linkage.urls")),
    path("dashboard/", include("kartoteka.reports.urls")),
    path("estimation/", include("kartoteka.estimation.urls")),
    *intake_public_urls.routes,
]
