from django.urls import path

from kartoteka.estimation import views

app_name = "estimation"
urlpatterns = [
    path("", views.estimate_page, name="page"),
    path("table/", views.estimate_table, name="table"),
    path("lists/", views.estimate_lists, name="lists"),
    path("lists/declare/", views.list_declare, name="declare"),
    path("saved/<uuid:estimate_id>/approve/", views.estimate_approve, name="approve"),
]
