from django.apps import AppConfig


class EstimationConfig(AppConfig):
    name = "kartoteka.estimation"
    label = "estimation"
