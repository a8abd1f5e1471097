from django.urls import URLPattern, URLResolver, path

from kartoteka.reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("reports/", views.report_list, name="list"),
    path("reports/draft.pdf", views.report_draft, name="draft"),
    path("reports/<uuid:request_id>/decide/", views.report_decide, name="decide"),
    path("reports/<uuid:request_id>/report.pdf", views.report_download, name="download"),
]
