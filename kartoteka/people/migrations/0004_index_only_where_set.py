"""Fewer B-trees for every record and status entry written (a bulk import writes a million of each).

Dropped: the record's created_by index (provenance is read from the record; no query starts from the
user), the status entry's date_start and date_end indexes (entries are read per person, never ranged
over). Partial instead of full: the source and facility indexes, which held mostly NULLs; a look-up by a
source or facility (``= x`` or ``IN (...)``) implies NOT NULL, so it still uses them.

The indexes are dropped by name rather than through AlterField: on SQLite that would rebuild the
record table three times. The names are Django's, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models
from django.db.models import Q

DROPPED = {
    "people_record_created_by_id_f1b252ca": ("people_record", "created_by_id"),
    "people_record_facility_id_523307f3": ("people_record", "facility_id"),
    "people_record_source_id_deacd848": ("people_record", "source_id"),
    "people_statusentry_date_start_f22ddea6": ("people_statusentry", "date_start"),
    "people_statusentry_date_end_d8831f86": ("people_statusentry", "date_end"),
    "people_statusentry_source_id_923b0a35": ("people_statusentry", "source_id"),
}


def _drop(name: str, table: str, column: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        sql=f'DROP INDEX IF EXISTS "{name}"',
        reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
    )


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0003_perf_nameterm_clustered"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[_drop(name, *where) for name, where in DROPPED.items()],
            state_operations=[
                migrations.AlterField(
                    model_name="record",
                    name="created_by",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="record",
                    name="facility",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.PROTECT,
                        related_name="+",
                        to="registry.facility",
                    ),
                ),
                migrations.AlterField(
                    model_name="record",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="+",
                        to="casework.source",
                    ),
                ),
                migrations.AlterField(
                    model_name="statusentry",
                    name="date_end",
                    field=models.DateField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="statusentry",
                    name="date_start",
                    field=models.DateField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="statusentry",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="+",
                        to="casework.source",
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(
                condition=Q(source__isnull=False), fields=["source"], name="record_source_set"
            ),
        ),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(
                condition=Q(facility__isnull=False), fields=["facility"], name="record_facility_set"
            ),
        ),
        migrations.AddIndex(
            model_name="statusentry",
            index=models.Index(
                condition=Q(source__isnull=False), fields=["source"], name="status_source_set"
            ),
        ),
    ]
