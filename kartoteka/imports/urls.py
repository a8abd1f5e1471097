from django.urls import path

from kartoteka.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("<uuid:run_id>/quarantine/", views.quarantine, name="quarantine"),
    path("<uuid:run_id>/quarantine.csv", views.quarantine_export, name="quarantine_export"),
]
