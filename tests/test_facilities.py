"""Region reference data, the facility parser and the facility matcher (kartoteka.lib.facilities)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from kartoteka.lib.facilities import (
    FACILITY_TYPES,
    STATUS_RU,
    STATUS_UA_OCCUPIED,
    FacilityIndex,
    ReferenceDataError,
    Region,
    RegionMatcher,
    default_region_matcher,
    facility_id,
    load_facilities,
    load_regions,
    normalise_tokens,
    parse_facility,
)

REGIONS = load_regions()
MATCHER = default_region_matcher()
SEEDS = load_facilities()
INDEX = FacilityIndex(SEEDS)
OCCUPIED = {"UA-43", "UA-40", "UA-14", "UA-09", "UA-23", "UA-65"}
SVE_IK2 = facility_id("ИК", "2", "FSIN-RU-SVE")


def _region(code: str) -> Region:
    return next(r for r in REGIONS if r.code == code)


def _unambiguous(region: Region, names: tuple[str, ...]) -> list[str]:
    ambiguous = MATCHER.ambiguous_aliases()
    return [name for name in names if normalise_tokens(name) not in ambiguous]


# --- regions.csv -----------------------------------------------------------------------------------------


def test_it_lists_the_83_iso_subjects_of_russia_and_six_occupied_ukrainian_regions() -> None:
    russian = [r for r in REGIONS if r.status == STATUS_RU]
    occupied = [r for r in REGIONS if r.status == STATUS_UA_OCCUPIED]
    assert len(russian) == 83
    assert all(r.code.startswith("RU-") for r in russian)
    assert {r.code for r in occupied} == OCCUPIED
    assert len({r.code for r in REGIONS}) == len(REGIONS)


def test_it_never_records_an_occupied_region_under_a_russian_code() -> None:
    codes = {r.code for r in REGIONS}
    assert not codes & {"RU-CR", "RU-SEV", "RU-DON", "RU-LUG", "RU-ZP", "RU-HR", "RU-KRY"}
    for region in REGIONS:
        if region.status == STATUS_UA_OCCUPIED:
            assert region.code.startswith("UA-")
            assert region.federal_district == ""


def test_it_assigns_every_russian_subject_to_one_of_the_eight_federal_districts() -> None:
    districts = {r.federal_district for r in REGIONS if r.status == STATUS_RU}
    assert len(districts) == 8
    counts = {d: sum(r.federal_district == d for r in REGIONS) for d in districts}
    assert counts["Central"] == 18
    assert counts["Far Eastern"] == 11


def test_it_resolves_every_region_from_each_of_its_russian_names() -> None:
    misses = []
    for region in REGIONS:
        for name in _unambiguous(region, region.russian_names()):
            for text in (name, name.upper(), f"ИК-1, {name.lower()}"):
                if MATCHER.match(text) != region.code:
                    misses.append((region.code, text, sorted(MATCHER.find(text))))
    assert misses == []


def test_it_resolves_every_region_from_each_of_its_english_names() -> None:
    misses = []
    for region in REGIONS:
        for name in _unambiguous(region, region.english_names()):
            for text in (name, name.lower(), f"penal colony No. 1, {name.upper()}"):
                if MATCHER.match(text) != region.code:
                    misses.append((region.code, text, sorted(MATCHER.find(text))))
    assert misses == []


def test_it_resolves_romanised_russian_forms_and_abbreviated_qualifiers() -> None:
    cases = {
        "Sverdlovskaya oblast": "RU-SVE",
        "Sverdlovskoy oblasti": "RU-SVE",
        "Свердловская обл.": "RU-SVE",
        "Свердловской обл": "RU-SVE",
        "Perm Krai": "RU-PER",
        "Permsky kray": "RU-PER",
        "Respublika Mordoviya": "RU-MO",
        "Respublika Tatarstan": "RU-TA",
        "Krasnoyarsk region": "RU-KYA",
        "Moscow region": "RU-MOS",
        "Moscow": "RU-MOW",
        "г. Москва": "RU-MOW",
        "Nizhny Novgorod": "RU-NIZ",
        "Novgorod": "RU-NGR",
        "Yamalo-Nenets Autonomous Okrug": "RU-YAN",
        "Nenets AO": "RU-NEN",
        "Khanty-Mansiysky avtonomny okrug": "RU-KHM",
    }
    assert {text: MATCHER.match(text) for text in cases} == cases


def test_it_resolves_crimea_to_ua_43_and_never_to_a_russian_code() -> None:
    spellings = [
        "Крым",
        "Республика Крым",
        "в Республике Крым",
        "Crimea",
        "Republic of Crimea",
        "KRYM",
        "Крим",
    ]
    for text in spellings:
        assert MATCHER.find(text) == {"UA-43"}, text
    assert MATCHER.match("Sevastopol") == "UA-40"
    crimean = parse_facility("ФКУ СИЗО-1 УФСИН России по Республике Крым и г. Севастополю")
    assert crimean.region_codes == {"UA-43", "UA-40"}
    assert crimean.administration_code == "FSIN-UA-43+UA-40"


def test_it_keeps_ambiguous_names_undecided() -> None:
    assert MATCHER.match("Altai") is None
    assert MATCHER.find("Altai") == {"RU-AL", "RU-ALT"}
    assert MATCHER.match("Altai Krai") == "RU-ALT"
    assert MATCHER.match("Республика Алтай") == "RU-AL"
    assert MATCHER.match("Свердловская и Курганская области") is None
    assert all(codes <= {"RU-AL", "RU-ALT"} for codes in MATCHER.ambiguous_aliases().values())


def test_it_shares_one_administration_between_two_subjects_only_where_fsin_does() -> None:
    assert MATCHER.administration_regions("FSIN-RU-SPE+RU-LEN") == {"RU-SPE", "RU-LEN"}
    assert MATCHER.administration_regions("FSIN-UA-43+UA-40") == {"UA-43", "UA-40"}
    assert MATCHER.administration_regions("FSIN-RU-MOW") == {"RU-MOW"}
    assert MATCHER.administration_regions("FSIN-RU-MOS") == {"RU-MOS"}
    shared = [a for a in MATCHER.administrations() if len(MATCHER.administration_regions(a)) > 1]
    assert sorted(shared) == ["FSIN-RU-SPE+RU-LEN", "FSIN-UA-43+UA-40"]


def test_it_parses_every_fsin_administration_name_back_to_its_administration() -> None:
    wrong = []
    for region in REGIONS:
        for name in (region.fsin_name, *region.fsin_aliases):
            ref = parse_facility(f"ФКУ ИК-1 {name}")
            if (ref.administration_code, ref.administration_stated) != (region.fsin_admin, True):
                wrong.append((region.code, name, ref.administration_code))
    assert wrong == []


# --- parse_facility -------------------------------------------------------------------------------------

PARSES = [
    ("IK-2", "ИК", "2"),
    ("IK 2", "ИК", "2"),
    ("ik2", "ИК", "2"),
    ("ИК №2", "ИК", "2"),
    ("ИК № 02", "ИК", "2"),
    ("исправительная колония № 2", "ИК", "2"),
    ("Исправительной колонии №2", "ИК", "2"),
    ("colony No. 2", "ИК", "2"),
    ("penal colony #2", "ИК", "2"),
    ("колония строгого режима № 2", "ИК", "2"),
    ("СИЗО-1", "СИЗО", "1"),
    ("SIZO-1", "СИЗО", "1"),
    ("Pre-trial detention centre 1", "СИЗО", "1"),
    ("pretrial detention center No 1", "СИЗО", "1"),
    ("следственный изолятор № 1", "СИЗО", "1"),
    ("ЛИУ-3", "ЛИУ", "3"),
    ("LIU-3", "ЛИУ", "3"),
    ("лечебное исправительное учреждение № 3", "ЛИУ", "3"),
    ("КП-26", "КП", "26"),
    ("колония-поселение № 26", "КП", "26"),
    ("settlement colony 26", "КП", "26"),
    ("ВК-1", "ВК", "1"),
    ("воспитательная колония № 1", "ВК", "1"),
    ("Т-2", "Т", "2"),
    ("T-2", "Т", "2"),
    ("тюрьма № 2", "Т", "2"),
    ("ЛПУ-1", "ЛПУ", "1"),
    ("ЕПКТ при ФКУ ИК-17", "ЕПКТ", "17"),
    ("ПФРСИ при ИК-1", "ПФРСИ", "1"),
    ("УФИЦ при ФКУ ИК-1", "УФИЦ", "1"),
    ("ИЦ-1", "ИЦ", "1"),
    ("исправительный центр № 1", "ИЦ", "1"),
    ("ЛТП-1", "ЛТП", "1"),
]


@pytest.mark.parametrize(("text", "type_code", "number"), PARSES)
def test_it_parses_type_and_number_from_cyrillic_latin_and_long_spellings(
    text: str, type_code: str, number: str
) -> None:
    ref = parse_facility(text)
    assert (ref.type, ref.number) == (type_code, number)


def test_it_covers_every_facility_type_in_the_spelling_table() -> None:
    assert {type_code for _, type_code, _ in PARSES} == set(FACILITY_TYPES)


@pytest.mark.parametrize(
    "text", ["ст. 2 УК", "its 2 wings", "т. 2", "ИКС-2", "Vladimir, 2 years", "Kemerovo"]
)
def test_it_finds_no_facility_in_text_that_only_resembles_one(text: str) -> None:
    assert parse_facility(text).type is None


def test_it_extracts_legal_form_regime_and_stated_administration() -> None:
    ref = parse_facility(
        "ФКУ «Исправительная колония № 6 особого режима» УФСИН России по Оренбургской области"
    )
    assert (ref.type, ref.number, ref.legal_form, ref.regime) == ("ИК", "6", "ФКУ", "special")
    assert ref.administration_code == "FSIN-RU-ORE"
    assert ref.administration_stated
    assert parse_facility("FKU IK-2, general regime").regime == "general"
    assert parse_facility("ИК-2 общего режима").regime == "general"
    assert parse_facility("strict regime colony No. 9").regime == "strict"
    assert parse_facility("КП-26").regime == "settlement"
    assert parse_facility("ИК-2").regime is None
    hosted = parse_facility("ПФРСИ при ФКУ ИК-1 УФСИН России по Республике Карелия")
    assert (hosted.type, hosted.host_type, hosted.administration_code) == ("ПФРСИ", "ИК", "FSIN-RU-KR")


def test_it_implies_an_administration_from_a_region_without_calling_it_stated() -> None:
    ref = parse_facility("IK-2 Sverdlovsk")
    assert ref.administration_code == "FSIN-RU-SVE"
    assert not ref.administration_stated
    assert ref.administration_text is None


# --- FacilityIndex.match ----------------------------------------------------------------------------------

# Rule (a): type + number + region or administration, however spelled, gives exactly one facility.
EXACT = [
    ("ИК-2 Свердловская обл.", SVE_IK2),
    ("IK-2 Sverdlovsk", SVE_IK2),
    ("ФКУ ИК-2 ГУФСИН России по Свердловской области", SVE_IK2),
    ("фку ик-2 гуфсин россии по свердловской области", SVE_IK2),
    ("FKU IK-2 GUFSIN Rossii po Sverdlovskoy oblasti", SVE_IK2),
    ("исправительная колония № 2, Свердловская область", SVE_IK2),
    ("IK 2, Sverdlovsk Oblast", SVE_IK2),
    ("IK-2 (Sverdlovskaya oblast)", SVE_IK2),
    ("penal colony No. 2 in the Sverdlovsk region", SVE_IK2),
    ("ИК №2 СВЕРДЛОВСКОЙ ОБЛ", SVE_IK2),
    ("ИК-2 Курганская область", facility_id("ИК", "2", "FSIN-RU-KGN")),
    ("ИК-2 УФСИН России по Курганской области", facility_id("ИК", "2", "FSIN-RU-KGN")),
    ("ИК-2 Пермский край", facility_id("ИК", "2", "FSIN-RU-PER")),
    ("IK-2 Perm Krai", facility_id("ИК", "2", "FSIN-RU-PER")),
    ("ИК-2 Respublika Bashkortostan", facility_id("ИК", "2", "FSIN-RU-BA")),
    ("ИК-14 Мордовия", facility_id("ИК", "14", "FSIN-RU-MO")),
    ("ФКУ ЛИУ-3 ГУФСИН России по Нижегородской области", facility_id("ЛИУ", "3", "FSIN-RU-NIZ")),
    ("LIU-3 Nizhny Novgorod region", facility_id("ЛИУ", "3", "FSIN-RU-NIZ")),
    ("ИК-4 Калужская обл.", facility_id("ИК", "4", "FSIN-RU-KLU")),
    ("IK-4 Kaluga", facility_id("ИК", "4", "FSIN-RU-KLU")),
    ("ИК-7 Ленинградская область", facility_id("ИК", "7", "FSIN-RU-SPE+RU-LEN")),
    (
        "ИК-7 ГУФСИН России по г. Санкт-Петербургу и Ленинградской области",
        facility_id("ИК", "7", "FSIN-RU-SPE+RU-LEN"),
    ),
    ("IK-7 St Petersburg", facility_id("ИК", "7", "FSIN-RU-SPE+RU-LEN")),
    ("СИЗО-1 Москва", facility_id("СИЗО", "1", "FSIN-RU-MOW")),
    ("Pre-trial detention centre 1, Moscow", facility_id("СИЗО", "1", "FSIN-RU-MOW")),
    ("SIZO-1 Crimea", facility_id("СИЗО", "1", "FSIN-UA-43+UA-40")),
    ("СИЗО-2 Севастополь", facility_id("СИЗО", "2", "FSIN-UA-43+UA-40")),
    ("T-2 Vladimir", facility_id("Т", "2", "FSIN-RU-VLA")),
    ("ИК-3 ЯНАО", facility_id("ИК", "3", "FSIN-RU-YAN")),
    ("IK-40 Kuzbass", facility_id("ИК", "40", "FSIN-RU-KEM")),
    ("ЕПКТ при ИК-17 Красноярский край", facility_id("ЕПКТ", "17", "FSIN-RU-KYA")),
    ("KP-26 Perm", facility_id("КП", "26", "FSIN-RU-PER")),
    ("IK-7 Yablonevka", facility_id("ИК", "7", "FSIN-RU-SPE+RU-LEN")),
    ("ИК-120 Оленовка", facility_id("ИК", "120", "FSIN-UA-14")),
]


@pytest.mark.parametrize(("text", "expected_id"), EXACT)
def test_it_resolves_a_facility_named_with_its_region_or_administration(text: str, expected_id: str) -> None:
    result = INDEX.match(text)
    assert result.exact is not None, text
    assert result.exact.id == expected_id
    assert result.exact in result.candidates


def test_it_has_at_least_twenty_distinct_spellings_in_the_exact_table() -> None:
    assert len({text for text, _ in EXACT}) >= 20


@pytest.mark.parametrize(
    "text", ["ИК-2", "IK-2", "ФКУ ИК-2", "исправительная колония № 2", "colony No. 2", "ИК-2 Алтай"]
)
def test_it_returns_candidates_and_no_guess_when_the_region_is_missing_or_ambiguous(text: str) -> None:
    result = INDEX.match(text)
    assert result.exact is None
    assert len(result.candidates) >= 2
    assert all((f.type, f.number) == ("ИК", "2") for f in result.candidates)


def test_it_never_guesses_any_seed_from_type_and_number_alone() -> None:
    for facility in SEEDS:
        for text in (
            f"{facility.type} № {facility.number}",
            f"{FACILITY_TYPES[facility.type]}-{facility.number}",
        ):
            result = INDEX.match(text)
            assert result.exact is None, text
            assert facility in result.candidates, text


def test_it_never_offers_any_seed_when_the_text_names_a_region_outside_its_administration() -> None:
    outsiders = [r for r in REGIONS if r.code not in {"RU-AL", "RU-ALT"}]
    for facility in SEEDS:
        covered = MATCHER.administration_regions(facility.administration_code)
        for region in (r for r in outsiders if r.code not in covered):
            result = INDEX.match(f"{facility.type}-{facility.number} {region.name_ru}")
            assert facility not in result.candidates, (facility.id, region.code)
            assert result.exact is None or result.exact.administration_code == region.fsin_admin


def test_it_does_not_guess_even_when_only_one_such_facility_is_known() -> None:
    only = next(f for f in SEEDS if f.id == facility_id("ЛИУ", "3", "FSIN-RU-NIZ"))
    index = FacilityIndex([only])
    for text in ("ЛИУ-3", "FKU LIU-3", "лечебное исправительное учреждение № 3"):
        result = index.match(text)
        assert result.exact is None
        assert result.candidates == [only]
    assert index.match("ЛИУ-3 Нижегородская обл.").exact == only


@pytest.mark.parametrize(
    "text",
    [
        "ИК-2 Тульская область",
        "IK-2 Tula",
        "ФКУ ИК-2 УФСИН России по Тульской области",
        "ЛИУ-3 Свердловская обл.",
        "СИЗО-1 Краснодарский край",
    ],
)
def test_it_never_offers_another_regions_facility_when_a_region_is_named(text: str) -> None:
    result = INDEX.match(text)
    assert result.exact is None
    assert result.candidates == []


def test_it_does_not_decide_when_a_named_region_contradicts_a_named_locality() -> None:
    result = INDEX.match("IK-7 Yablonevka, Karelia")
    assert result.exact is None
    assert [f.region_code for f in result.candidates] == ["RU-KR"]


def test_it_never_offers_another_regions_facility_even_as_one_of_several() -> None:
    result = INDEX.match("ИК-2, Свердловская обл. или Курганская обл.")
    assert result.exact is None
    assert {f.administration_code for f in result.candidates} == {"FSIN-RU-SVE", "FSIN-RU-KGN"}


@pytest.mark.parametrize(
    ("text", "type_code"), [("СИЗО-2 Свердловская обл.", "СИЗО"), ("ЛИУ-2 Sverdlovsk", "ЛИУ")]
)
def test_it_never_matches_across_facility_types(text: str, type_code: str) -> None:
    result = INDEX.match(text)
    assert result.exact is not None
    assert result.exact.type == type_code
    assert all(f.type == type_code for f in result.candidates)
    assert (
        INDEX.match("ИК-17 Красноярский край").exact != INDEX.match("ЕПКТ при ИК-17 Красноярский край").exact
    )


def test_it_lets_a_stated_administration_win_over_a_region_mentioned_elsewhere() -> None:
    result = INDEX.match("ФКУ ИК-2 ГУФСИН России по Свердловской области (родом из Курганской области)")
    assert result.exact is not None
    assert result.exact.id == SVE_IK2


def test_it_returns_nothing_when_the_text_names_no_facility() -> None:
    result = INDEX.match("Свердловская область")
    assert (result.exact, result.candidates) == (None, [])


# --- facilities.csv and loaders ---------------------------------------------------------------------------


def test_it_ships_a_seed_list_across_many_regions_with_provenance_marked() -> None:
    assert len(SEEDS) >= 60
    assert len({f.region_code for f in SEEDS}) >= 20
    assert {f.confidence for f in SEEDS} == {"reported", "synthetic"}
    assert all(f.note for f in SEEDS if f.confidence == "reported")
    yablonevka = INDEX.match("ИК-7 Яблоневка").exact
    assert yablonevka is not None
    assert (yablonevka.region_code, yablonevka.administration_code) == ("RU-LEN", "FSIN-RU-SPE+RU-LEN")


def test_it_resolves_every_seed_by_its_official_name_and_by_type_number_and_region() -> None:
    for facility in SEEDS:
        assert INDEX.match(facility.official_name).exact == facility
        region = _region(facility.region_code)
        short = f"{FACILITY_TYPES[facility.type]}-{facility.number} {region.name_en}"
        if facility.type in {"ЕПКТ", "ПФРСИ", "УФИЦ"}:
            continue  # hosted units are named through their host ("ЕПКТ при ИК-17")
        assert INDEX.match(short).exact == facility, short


def _write_facilities(tmp_path: Path, row: str) -> Path:
    path = tmp_path / "facilities.csv"
    header = "type,number,administration,region,official_name,regime,aliases,confidence,note\n"
    path.write_text(header + row + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "row",
    [
        "ИК,2,FSIN-RU-SVE,RU-KGN,ФКУ ИК-2 ГУФСИН России по Свердловской области,,,synthetic,",
        "ИК,2,FSIN-RU-SVE,RU-SVE,ФКУ ИК-3 ГУФСИН России по Свердловской области,,,synthetic,",
        "ИК,2,FSIN-RU-SVE,RU-SVE,ФКУ ИК-2 ГУФСИН России по Курганской области,,,synthetic,",
        "XX,2,FSIN-RU-SVE,RU-SVE,ФКУ ИК-2 ГУФСИН России по Свердловской области,,,synthetic,",
        "ИК,2,FSIN-RU-SVE,RU-SVE,ФКУ ИК-2 ГУФСИН России по Свердловской области,lenient,,synthetic,",
    ],
)
def test_it_rejects_a_seed_row_that_contradicts_itself(tmp_path: Path, row: str) -> None:
    with pytest.raises(ReferenceDataError):
        load_facilities(_write_facilities(tmp_path, row))


def test_it_rejects_two_facilities_with_the_same_key() -> None:
    first = SEEDS[0]
    twin = dataclasses.replace(first, official_name="ФКУ ИК-7 (дубликат)")
    with pytest.raises(ReferenceDataError):
        FacilityIndex([first, twin])


def test_it_rejects_an_occupied_region_written_under_a_russian_code(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parent.parent / "kartoteka" / "data" / "regions.csv").read_text(
        encoding="utf-8"
    )
    bad = tmp_path / "regions.csv"
    bad.write_text(text.replace("UA-43,ua_occupied", "RU-CR,ua_occupied"), encoding="utf-8")
    with pytest.raises(ReferenceDataError):
        load_regions(bad)


def test_it_matches_fast_enough_to_run_on_every_imported_row() -> None:
    index = FacilityIndex(SEEDS, regions=RegionMatcher(REGIONS))
    texts = [text for text, _ in EXACT] * 30
    start = time.perf_counter()
    for text in texts:
        index.match(text)
    per_match = (time.perf_counter() - start) / len(texts)
    assert per_match < 0.002, f"{per_match * 1e6:.0f} µs per match"
