"""Regions and facilities: reference data loaded from kartoteka/data (regions.csv, facilities.csv)."""

from __future__ import annotations

from django.db import models

from kartoteka.core.fields import id_field


class Region(models.Model):
    """A federal subject of Russia (ISO 3166-2:RU) or an occupied Ukrainian region under its UA code."""

    code = models.CharField(max_length=8, primary_key=True)
    name_ru = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120)
    status = models.CharField(max_length=20)  # ru | ua_occupied
    federal_district = models.CharField(max_length=40, blank=True, default="")

    def __str__(self) -> str:
        return self.code


class Facility(models.Model):
    """A penal facility keyed on (type, number, administration); the federal subject is kept apart."""

    id = id_field()
    key = models.CharField(max_length=80, unique=True)  # e.g. FSIN-RU-SVE/IK-2
    type = models.CharField(max_length=10)
    number = models.PositiveIntegerField(null=True)
    administration = models.CharField(max_length=40)
    region = models.ForeignKey(Region, on_delete=models.PROTECT)
    official_name = models.CharField(max_length=300)
    regime = models.CharField(max_length=30, blank=True, default="")
    locality = models.CharField(max_length=120, blank=True, default="")
    confidence = models.CharField(max_length=20)  # reported | synthetic | user

    class Meta:
        indexes = [models.Index(fields=["type", "number"])]

    def __str__(self) -> str:
        return self.key
