from django.urls import URLPattern, URLResolver, path

from kartoteka.linkage import views

app_name = "linkage"
urlpatterns: list[URLPattern | URLResolver] = [
    path("review/", views.review_queue, name="queue"),
    path("review/<uuid:pair_id>/", views.pair_detail, name="pair"),
    path("review/<uuid:pair_id>/decide/", views.pair_decide, name="decide"),
    path("persons/<uuid:person_id>/merges/", views.person_merges, name="person_merges"),
    path("merges/<uuid:event_id>/undo/", views.merge_undo, name="undo"),
]
