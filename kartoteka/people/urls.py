from django.urls import URLPattern, URLResolver, path

from kartoteka.people import views

app_name = "people"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.person_list, name="list"),
    path("search/", views.person_search, name="search"),
    path("new/", views.person_create, name="create"),
    path("<uuid:person_id>/", views.person_detail, name="detail"),
    path("<uuid:person_id>/records/new/", views.record_add, name="record_add"),
    path("<uuid:person_id>/status/new/", views.status_add, name="status_add"),
]
