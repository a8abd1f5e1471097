from django.apps import AppConfig


class LinkageConfig(AppConfig):
    name = "kartoteka.linkage"
    label = "linkage"
