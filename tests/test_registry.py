"""Reference data in the database and facility matching through the registry service."""

from __future__ import annotations

import uuid

import pytest

from kartoteka.lib import facilities as lib
from kartoteka.registry import selectors, services
from kartoteka.registry.models import Facility, Region

SVE_IK2 = lib.facility_id("ИК", "2", "FSIN-RU-SVE")

# Each spelling must resolve to exactly this facility key.
EXACT: list[tuple[str, str]] = [
    ("ИК-2 Свердловская обл.", SVE_IK2),
    ("IK-2 Sverdlovsk", SVE_IK2),
    ("ФКУ ИК-2 ГУФСИН России по Свердловской области", SVE_IK2),
    ("ик 2 свердловской области", SVE_IK2),
    ("ИК №2, Свердловская область", SVE_IK2),
    ("Исправительная колония № 2 (Свердловская обл.)", SVE_IK2),
    ("Penal colony No. 2, Sverdlovsk region", SVE_IK2),
    ("IK-2 Sverdlovsk oblast", SVE_IK2),
    ("ИК-2 Екатеринбург", SVE_IK2),
    ("ФКУ ИК-2 ГУФСИН России по Свердловской обл., строгий режим", SVE_IK2),
    ("ИК-7 Яблоневка", lib.facility_id("ИК", "7", "FSIN-RU-SPE+RU-LEN")),
    ("ФКУ ИК-7 ГУФСИН России по г. Санкт-Петербургу и Ленинградской области", "FSIN-RU-SPE+RU-LEN/IK-7"),
    ("IK-6 Melekhovo", "FSIN-RU-VLA/IK-6"),
    ("ИК-6 Челябинская обл.", "FSIN-RU-CHE/IK-6"),
    ("СИЗО-1 Свердловская обл.", "FSIN-RU-SVE/SIZO-1"),
    ("SIZO-2 Moscow", "FSIN-RU-MOW/SIZO-2"),
    ("ЛИУ-3 Нижегородская область", "FSIN-RU-NIZ/LIU-3"),
    ("ПФРСИ при ФКУ ИК-1 УФСИН России по Республике Карелия", "FSIN-RU-KR/PFRSI-1"),
    ("ИК-1 Карелия", "FSIN-RU-KR/IK-1"),
    ("ИК-40 Кемеровская область — Кузбасс", "FSIN-RU-KEM/IK-40"),
    ("ИК-120 Оленовка", "FSIN-UA-14/IK-120"),
]
# Type and number without a region: every facility of that type and number is offered, none is chosen.
AMBIGUOUS = ["ИК-2", "IK-2", "колония №2", "ИК 2", "СИЗО-1", "исправительная колония № 6"]
# A named region filters: another region's facility of the same type and number never comes back.
OTHER_REGION = [
    ("ИК-2 Тверская обл.", set()),
    ("IK-13 Chelyabinsk", set()),
    ("ИК-2 Челябинская обл.", {"FSIN-RU-CHE/IK-2"}),
    ("ФКУ ИК-2 УФСИН России по Курганской области", {"FSIN-RU-KGN/IK-2"}),
    ("ИК-2 Пермский край", {"FSIN-RU-PER/IK-2"}),
]


@pytest.mark.django_db
def test_it_loads_every_region_and_facility_of_the_seed_files_and_reloads_without_duplicates() -> None:
    regions, facilities = services.reference_load()
    assert (regions, facilities) == (len(lib.load_regions()), len(lib.load_facilities()))
    assert Region.objects.count() == regions
    assert Facility.objects.count() == facilities
    ids_before = dict(Facility.objects.values_list("key", "id"))
    assert services.reference_load() == (regions, facilities)
    assert dict(Facility.objects.values_list("key", "id")) == ids_before
    sve = Facility.objects.get(key=SVE_IK2)
    assert (sve.type, sve.number, sve.region_id, sve.confidence) == ("ИК", 2, "RU-SVE", "synthetic")
    assert Region.objects.get(code="UA-43").status == "ua_occupied"


@pytest.mark.django_db
def test_it_has_the_reference_data_after_migrating() -> None:
    # The data migration ran when the test database was built.
    assert Facility.objects.filter(key=SVE_IK2).exists()
    assert Region.objects.filter(code="RU-SVE").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "key"), EXACT)
def test_it_resolves_each_full_spelling_to_one_facility(text: str, key: str) -> None:
    services.reference_load()
    result = services.facility_match(text)
    assert result.exact is not None
    assert result.exact.key == key
    assert key in {f.key for f in result.candidates}


@pytest.mark.django_db
def test_it_resolves_the_three_issue_spellings_to_the_same_row() -> None:
    services.reference_load()
    spellings = [
        "ИК-2 Свердловская обл.",
        "IK-2 Sverdlovsk",
        "ФКУ ИК-2 ГУФСИН России по Свердловской области",
    ]
    found = {services.facility_match(s).exact for s in spellings}
    assert found == {Facility.objects.get(key=SVE_IK2)}


@pytest.mark.django_db
@pytest.mark.parametrize("text", AMBIGUOUS)
def test_it_offers_candidates_but_never_guesses_when_no_region_is_named(text: str) -> None:
    services.reference_load()
    ref = lib.parse_facility(text)
    same = set(
        Facility.objects.filter(type=ref.type, number=int(ref.number or 0)).values_list("key", flat=True)
    )
    assert len(same) > 1
    result = services.facility_match(text)
    assert result.exact is None
    assert {f.key for f in result.candidates} == same


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "allowed"), OTHER_REGION)
def test_it_never_matches_a_facility_of_another_region(text: str, allowed: set[str]) -> None:
    services.reference_load()
    result = services.facility_match(text)
    assert {f.key for f in result.candidates} == allowed
    assert SVE_IK2 not in {f.key for f in result.candidates}
    assert (result.exact.key if result.exact else None) == (next(iter(allowed)) if allowed else None)


@pytest.mark.django_db
def test_it_returns_nothing_for_text_without_a_facility() -> None:
    services.reference_load()
    for text in ("", "Свердловская область", "колония", "Екатеринбург"):
        result = services.facility_match(text)
        assert (result.exact, result.candidates) == (None, [])


@pytest.mark.django_db
def test_it_sees_a_facility_added_or_removed_after_the_index_was_built() -> None:
    services.reference_load()
    assert services.facility_match("ИК-2 Тверская обл.").exact is None  # builds the cached index
    added = Facility.objects.create(
        key="FSIN-RU-TVE/IK-2",
        type="ИК",
        number=2,
        administration="FSIN-RU-TVE",
        region_id="RU-TVE",
        official_name="ФКУ ИК-2 УФСИН России по Тверской области",
        confidence="user",
    )
    assert services.facility_match("ИК-2 Тверская обл.").exact == added
    assert "FSIN-RU-TVE/IK-2" in {f.key for f in services.facility_match("ИК-2").candidates}
    added.delete()
    assert services.facility_match("ИК-2 Тверская обл.").exact is None
    assert "FSIN-RU-TVE/IK-2" not in {f.key for f in services.facility_match("ИК-2").candidates}


@pytest.mark.django_db
def test_it_matches_regions_by_their_spellings_and_refuses_ambiguous_ones() -> None:
    services.reference_load()
    for text in ("Свердловская обл.", "Sverdlovsk oblast", "по Свердловской области"):
        region = services.region_match(text)
        assert region is not None
        assert region.code == "RU-SVE"
    crimea = services.region_match("Крым")
    assert crimea is not None
    assert crimea.code == "UA-43"
    assert services.region_match("Altai") is None
    assert services.region_match("нигде") is None


@pytest.mark.django_db
def test_it_lists_and_gets_facilities_as_views() -> None:
    services.reference_load()
    sve = selectors.facility_list(region="RU-SVE")
    assert {f.key for f in sve} == set(
        Facility.objects.filter(region_id="RU-SVE").values_list("key", flat=True)
    )
    assert len(sve) >= 5
    assert all(f.region_code == "RU-SVE" for f in sve)
    sizo = selectors.facility_list(type="СИЗО")
    assert sizo
    assert all(f.type == "СИЗО" for f in sizo)
    reported = selectors.facility_list(confidence="reported")
    assert reported
    assert all(f.confidence == "reported" for f in reported)
    one = selectors.facility_get(sve[0].id)
    assert one == sve[0]
    assert selectors.facility_get(str(sve[0].id)).key == sve[0].key
    with pytest.raises(selectors.FacilityNotFound):
        selectors.facility_get(uuid.uuid4())
    with pytest.raises(selectors.FacilityNotFound):
        selectors.facility_get("not-an-id")
    regions = selectors.region_list()
    assert len(regions) == Region.objects.count()
    assert regions[0].code < regions[-1].code
