from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "kartoteka.reports"
    label = "reports"
