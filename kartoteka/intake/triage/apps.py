from django.apps import AppConfig


class TriageConfig(AppConfig):
    """The casework side of the intake: triage keys and links from submissions to records. Never installed
    on the public intake host (kartoteka.settings_intake)."""

    name = "kartoteka.intake.triage"
    label = "intake_triage"
    verbose_name = "Intake triage"
    default_auto_field = "django.db.models.BigAutoField"
