from django.urls import URLPattern, URLResolver, path

from kartoteka.registry import views

app_name = "registry"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.facility_list, name="list"),
    path("<uuid:facility_id>/", views.facility_detail, name="detail"),
]
