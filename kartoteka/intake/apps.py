from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "kartoteka.intake"
    label = "intake"
    verbose_name = "Public intake"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kartoteka.intake import checks  # noqa: F401  registers the intake host's refusal
