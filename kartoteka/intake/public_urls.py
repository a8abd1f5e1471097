"""The only routes of the public intake host (kartoteka.settings_intake); the embedded default mounts
``routes`` in kartoteka.urls beside the staff routes."""

from django.urls import URLPattern, path

from kartoteka.core.views import healthz
from kartoteka.intake import views

routes: list[URLPattern] = [
    path("report/", views.report, name="intake_report"),
    path("report/return/", views.report_return, name="intake_return"),
    path("intake-sync/<str:action>", views.sync, name="intake_sync"),
]

urlpatterns: list[URLPattern] = [*routes, path("healthz", healthz, name="healthz")]
