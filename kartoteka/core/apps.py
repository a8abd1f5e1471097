from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kartoteka.core"
    label = "core"

    def ready(self) -> None:
        from kartoteka.core import checks  # noqa: F401  registers the system checks
