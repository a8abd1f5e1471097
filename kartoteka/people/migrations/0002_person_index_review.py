"""Drop Person's single-column team and status indexes: the (team, status) index serves both, since the
access gates always constrain team first, and every import paid for three indexes where one does."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("people", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="person",
            name="status",
            field=models.CharField(default="unknown", max_length=20),
        ),
        migrations.AlterField(
            model_name="person",
            name="team",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.team",
            ),
        ),
    ]
