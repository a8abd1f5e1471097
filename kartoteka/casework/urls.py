from django.urls import URLPattern, URLResolver, path

from kartoteka.casework import views
from kartoteka.law import views as law_views

app_name = "casework"
urlpatterns: list[URLPattern | URLResolver] = [
    path("incidents/", views.incident_list, name="incident_list"),
    path("incidents/new/", views.incident_create, name="incident_create"),
    path("incidents/<uuid:incident_id>/", views.incident_detail, name="incident_detail"),
    path("incidents/<uuid:incident_id>/edit/", views.incident_edit, name="incident_edit"),
    path("sources/", views.source_list, name="source_list"),
    path("sources/new/", views.source_create, name="source_create"),
    path("sources/<uuid:source_id>/", views.source_detail, name="source_detail"),
    path("sources/<uuid:source_id>/edit/", views.source_edit, name="source_edit"),
    path("persons/<uuid:person_id>/recruitments/new/", views.recruitment_create, name="recruitment_create"),
    path("recruitments/<uuid:recruitment_id>/edit/", views.recruitment_edit, name="recruitment_edit"),
    path("persons/<uuid:person_id>/events/new/", views.event_create, name="event_create"),
    path("events/<uuid:event_id>/edit/", views.event_edit, name="event_edit"),
    path("persons/<uuid:person_id>/promises/new/", views.promise_create, name="promise_create"),
    path("promises/<uuid:promise_id>/edit/", views.promise_edit, name="promise_edit"),
    path("promises/<uuid:promise_id>/deliveries/new/", views.delivery_create, name="delivery_create"),
    path("deliveries/<uuid:delivery_id>/edit/", views.delivery_edit, name="delivery_edit"),
    path("visits/new/", views.visit_create, name="visit_create"),
    path("visits/<uuid:visit_id>/edit/", views.visit_edit, name="visit_edit"),
    path("cases/", views.my_cases, name="my_cases"),
    path("persons/<uuid:person_id>/cases/new/", views.case_create, name="case_create"),
    path("cases/<uuid:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<uuid:case_id>/edit/", views.case_edit, name="case_edit"),
    path("search/", views.text_search, name="text_search"),
    path("ledger/overdue/", law_views.ledger_overdue, name="ledger_overdue"),
    path("ledger/figures/", law_views.ledger_figures, name="ledger_figures"),
]
