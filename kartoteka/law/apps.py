from django.apps import AppConfig


class LawConfig(AppConfig):
    name = "kartoteka.law"
    label = "law"
