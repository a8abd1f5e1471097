from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "kartoteka.casework"
    label = "casework"
