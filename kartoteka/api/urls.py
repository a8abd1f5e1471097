from django.urls import URLPattern, URLResolver, path

from kartoteka.api.endpoints import api

app_name = "api"
urlpatterns: list[URLPattern | URLResolver] = [path("", api.urls)]
