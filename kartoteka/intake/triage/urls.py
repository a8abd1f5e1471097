from django.urls import URLPattern, path

from kartoteka.intake.triage import views

app_name = "intake_triage"
urlpatterns: list[URLPattern] = [
    path("triage/", views.queue, name="queue"),
    path("triage/unlock/", views.unlock, name="unlock"),
    path("triage/lock/", views.lock, name="lock"),
    path("triage/<uuid:submission_id>/", views.detail, name="detail"),
    path("triage/<uuid:submission_id>/records/", views.records, name="records"),
    path("triage/<uuid:submission_id>/files/", views.files, name="files"),
    path("triage/<uuid:submission_id>/reply/", views.reply, name="reply"),
]
