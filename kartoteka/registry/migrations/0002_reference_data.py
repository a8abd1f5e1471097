"""Load regions.csv and facilities.csv into the database (idempotent; re-running only updates rows)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def load(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    from kartoteka.registry.services import reference_load

    reference_load(
        region_model=apps.get_model("registry", "Region"),
        facility_model=apps.get_model("registry", "Facility"),
    )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    # Reversing keeps the rows: other tables may already point at them (PROTECT).
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
