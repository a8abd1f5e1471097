from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kartoteka.registry"
    label = "registry"
