from django.db import migrations

from kartoteka.lib import audit


def create(apps: object, schema_editor: object) -> None:
    audit.schema_create(schema_editor.connection)  # type: ignore[attr-defined]


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
