"""Controlled vocabularies: the packaged data is complete and consistent, malformed files fail loudly."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from kartoteka.lib import vocab
from kartoteka.lib.vocab import EsfMatch, UnknownTermError, VocabularyError

CYRILLIC = re.compile(r"[\u0400-\u04FF]")

# What the brief requires to exist (codes are ours; the test checks presence, not labels).
REQUIRED: dict[str, set[str]] = {
    "incident_category": {
        "parcels_blocked", "heating_cut", "warm_clothes_confiscated", "family_contact_cut", "beating",
        "punishment_cell", "threat_new_charges", "threat_extremism_charges", "lawyer_contact_denied",
        "deception_by_officials", "forced_to_sign", "medical_care_denied", "food_water_deprived",
        "recruitment_pressure", "other",
    },
    "promise_kind": {
        "monthly_pay", "signup_bonus", "regional_bonus", "pardon", "conditional_release", "record_cleared",
        "fixed_term_return", "death_compensation", "injury_payment", "veteran_status",
        "release_from_liability", "case_dropped", "other",
    },
    "delivery_outcome": {"delivered", "partly_delivered", "not_delivered", "reversed"},
    "person_status": {
        "in_custody", "recruited", "at_front", "wounded", "missing", "killed", "returned", "reimprisoned",
        "unknown",
    },
    "recruiter": {"wagner", "mod_storm_z", "mod_storm_v", "pretrial_contract", "other", "unknown"},
    "service_event_kind": {
        "state_award", "wound", "discharge", "new_offence", "contract_extension", "death", "missing",
    },
    "discharge_ground": {
        "age_limit", "health", "mobilisation_end", "martial_law_lifted", "wartime_end", "prison_sentence",
    },
    "source_kind": {
        "prisoner", "relative", "lawyer", "media", "official_document", "open_letter", "social_media",
        "ngo_report",
    },
    "reliability": {"reliable", "usually_reliable", "unknown", "unreliable"},
    "consent": {"internal_only", "anonymised_publication", "named_publication"},
    "verification": {"unverified", "corroborated", "verified", "disputed"},
    "facility_type": {"ik", "kp", "vk", "t", "liu", "sizo", "lpu", "pfrsi", "epkt", "ic"},
    "facility_regime": {"general", "strict", "special"},
    "perpetrator_role": {
        "colony_staff", "colony_head", "fsin_special_forces", "recruiter_wagner", "recruiter_mod",
        "investigator", "prisoners_on_orders", "unknown",
    },
    "victim_relation": {"prisoner", "relative"},
    "sex": {"male", "female"},
    "staff_role": {"admin", "coordinator", "caseworker", "lawyer", "analyst"},
    "reporter_relationship": {
        "self", "mother", "father", "wife", "partner", "sibling", "child", "other_relative", "lawyer",
        "other",
    },
}  # fmt: skip

# Row of huridocs-mapping.md -> our incident_category code.
MAPPING_ROWS = {
    "parcels from relatives blocked": "parcels_blocked",
    "heating cut in cold weather": "heating_cut",
    "warm clothes confiscated": "warm_clothes_confiscated",
    "visits banned / calls cut": "family_contact_cut",
    "beating": "beating",
    "punishment / isolation cell": "punishment_cell",
    "threat of new charges / fabricated case": "threat_new_charges",
    "lawyer contact denied": "lawyer_contact_denied",
    "deception by officials": "deception_by_officials",
    "forced to sign documents": "forced_to_sign",
    "medical care denied": "medical_care_denied",
    "food / water deprived": "food_water_deprived",
    "coerced enlistment / recruitment pressure": "recruitment_pressure",
}

ESF_REF = re.compile(r"(MT\d{2}) (\d{12})")


def _mapping_table(
    reference_dir: Path,
) -> dict[str, tuple[tuple[str, str] | None, str, set[tuple[str, str]]]]:
    """Row label -> (primary (list, code) or None, match, related {(list, code)}), read from the markdown."""
    rows: dict[str, tuple[tuple[str, str] | None, str, set[tuple[str, str]]]] = {}
    for line in (reference_dir / "huridocs-mapping.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("Kartoteka category", "") or set(cells[0]) <= {"-"}:
            continue
        primary = ESF_REF.search(cells[1])
        match = "none" if cells[2] == "—" else cells[2]
        related = {(m[0], m[1]) for m in ESF_REF.findall(cells[3])}
        rows[cells[0]] = ((primary[1], primary[2]) if primary else None, match, related)
    return rows


# --- the packaged data --------------------------------------------------------------------------------


def test_it_has_every_required_vocabulary_and_term() -> None:
    loaded = vocab.load()
    assert set(REQUIRED) <= set(loaded.names())
    for name, codes in REQUIRED.items():
        present = {t.code for t in loaded[name].terms}
        assert codes <= present, (name, codes - present)


def test_it_gives_every_term_a_russian_and_an_english_label() -> None:
    for vocabulary in vocab.load():
        assert CYRILLIC.search(vocabulary.label_ru)
        assert not CYRILLIC.search(vocabulary.label_en)
        for item in vocabulary.terms:
            assert CYRILLIC.search(item.ru), (vocabulary.name, item.code)
            assert item.en.strip(), (vocabulary.name, item.code)
            assert not CYRILLIC.search(item.en), (vocabulary.name, item.code)
            assert item.ru != item.en


def test_it_keeps_codes_unique_and_snake_case_in_every_file() -> None:
    # Read the raw files, not the loader's output, so a loader that silently dropped a duplicate fails here.
    files = sorted(vocab.DEFAULT_DIRECTORY.glob("*.toml"))
    assert len(files) == len(vocab.load().names())
    for path in files:
        codes = [t["code"] for t in tomllib.loads(path.read_text(encoding="utf-8"))["term"]]
        assert len(codes) == len(set(codes)), path.name
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", c) for c in codes), path.name


def test_it_uses_only_twelve_digit_esf_codes_named_in_the_mapping_file(reference_dir: Path) -> None:
    # Codes appear as "MT05 030100000000" and once as "MT23 General characteristics (040600000000 ...".
    text = (reference_dir / "huridocs-mapping.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(MT\d{2}) (?:[A-Za-z ]+\()?(\d{12})", text))
    used = 0
    for vocabulary in vocab.load():
        for item in vocabulary.terms:
            refs = [(r.esf_list, r.esf_code) for r in item.esf_related]
            if item.esf_code is not None:
                assert item.esf_list is not None
                refs.append((item.esf_list, item.esf_code))
            for esf_list, code in refs:
                assert re.fullmatch(r"\d{12}", code)
                assert (esf_list, code) in named, (vocabulary.name, item.code, esf_list, code)
                used += 1
    assert used >= 20


def test_it_matches_the_huridocs_mapping_table(reference_dir: Path) -> None:
    table = _mapping_table(reference_dir)
    assert set(table) == set(MAPPING_ROWS)
    categories = vocab.load()["incident_category"]
    for row, code in MAPPING_ROWS.items():
        primary, match, related = table[row]
        item = categories.term(code)
        assert item.esf_match == EsfMatch(match), row
        if primary is None:
            assert (item.esf_list, item.esf_code) == (None, None), row
        else:
            assert (item.esf_list, item.esf_code) == primary, row
        assert {(r.esf_list, r.esf_code) for r in item.esf_related} == related, row


def test_it_offers_choices_in_file_order_with_labels_in_the_asked_language() -> None:
    path = vocab.DEFAULT_DIRECTORY / "facility_type.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))["term"]
    assert vocab.choices("facility_type", "ru") == [(t["code"], t["ru"]) for t in raw]
    assert vocab.choices("facility_type", "en") == [(t["code"], t["en"]) for t in raw]
    assert vocab.label("incident_category", "beating", "ru") == "Избиение"
    assert vocab.label("incident_category", "beating", "en") == "Beating"
    assert vocab.load() is vocab.load()


def test_it_links_facility_types_to_existing_regimes() -> None:
    regimes = {t.code for t in vocab.terms("facility_regime")}
    colony = vocab.term("facility_type", "ik")
    assert colony.abbr_ru == "ИК"
    assert {"general", "strict", "special"} <= set(colony.regimes) <= regimes
    for item in vocab.terms("facility_type"):
        assert set(item.regimes) <= regimes
        assert item.abbr_ru
        assert item.abbr_en


def test_it_raises_a_key_error_for_unknown_vocabularies_and_codes() -> None:
    with pytest.raises(UnknownTermError):
        vocab.terms("no_such_vocabulary")
    with pytest.raises(UnknownTermError):
        vocab.label("sex", "no_such_code", "en")
    assert vocab.has_code("sex", "female")
    assert not vocab.has_code("sex", "no_such_code")


# --- malformed files ----------------------------------------------------------------------------------

GOOD_TERM = 'code = "beating"\nru = "Избиение"\nen = "Beating"\n'


def _file(name: str, terms: str, header_extra: str = "") -> str:
    return (
        f'[vocabulary]\nname = "{name}"\nlabel_ru = "Проба"\nlabel_en = "Probe"\n{header_extra}\n'
        + "".join(f"[[term]]\n{t}\n" for t in terms.split("\n---\n"))
    )


@pytest.mark.parametrize(
    ("terms", "field", "problem"),
    [
        (GOOD_TERM + "---\n" + GOOD_TERM, "code", "duplicate code 'beating'"),
        ('code = "beating"\nru = "Избиение"\n', "en", "missing"),
        ('code = "beating"\nen = "Beating"\n', "ru", "missing"),
        ('code = "beating"\nru = "Beating"\nen = "Beating"\n', "ru", "Cyrillic"),
        ('code = "beating"\nru = "Избиение"\nen = "Избиение"\n', "en", "Cyrillic"),
        (
            GOOD_TERM + 'esf_code = "03010000000"\nesf_list = "MT05"\nesf_match = "exact"\n',
            "esf_code",
            "12 digits",
        ),
        (
            GOOD_TERM + 'esf_code = "03010000000X"\nesf_list = "MT05"\nesf_match = "exact"\n',
            "esf_code",
            "12 digits",
        ),
        (
            GOOD_TERM + 'esf_code = 30100000000\nesf_list = "MT05"\nesf_match = "exact"\n',
            "esf_code",
            "12 digits",
        ),
        (GOOD_TERM + 'esf_code = "030100000000"\nesf_list = "MT5"\nesf_match = "exact"\n', "esf_list", "MT"),
        (GOOD_TERM + 'esf_code = "030100000000"\nesf_list = "MT05"\n', "esf_match", "exact"),
        (
            GOOD_TERM + 'esf_code = "030100000000"\nesf_list = "MT05"\nesf_match = "perfect"\n',
            "esf_match",
            "one of",
        ),
        (
            GOOD_TERM + 'esf_related = [{ esf_list = "MT04", esf_code = "0201" }]\n',
            "esf_related.esf_code",
            "12",
        ),
        (GOOD_TERM + 'lable_en = "Beating"\n', "lable_en", "unknown field"),
        ('code = "Beating-Bad"\nru = "Избиение"\nen = "Beating"\n', "code", "snake_case"),
        (GOOD_TERM + 'regimes = ["no_such_regime"]\n', "regimes", "facility_regime"),
    ],
)
def test_it_names_file_vocabulary_and_field_for_a_malformed_term(
    tmp_path: Path, terms: str, field: str, problem: str
) -> None:
    path = tmp_path / "probe.toml"
    path.write_text(_file("probe", terms), encoding="utf-8")
    with pytest.raises(VocabularyError) as caught:
        vocab.load(tmp_path)
    message = str(caught.value)
    assert caught.value.file.name == "probe.toml"
    assert caught.value.vocabulary == "probe"
    assert caught.value.field == field
    assert "probe.toml" in message
    assert "'probe'" in message
    assert f"'{field}'" in message
    assert problem in message


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('[vocabulary\nname = "probe"\n', "(syntax)"),
        ('[[term]]\ncode = "a"\nru = "А"\nen = "A"\n', "[vocabulary]"),
        (_file("other_name", GOOD_TERM), "name"),
        (_file("probe", GOOD_TERM, 'colour = "red"'), "vocabulary.colour"),
        ('[vocabulary]\nname = "probe"\nlabel_ru = "Проба"\nlabel_en = "Probe"\n', "[[term]]"),
    ],
)
def test_it_names_file_and_field_for_a_malformed_header(tmp_path: Path, content: str, field: str) -> None:
    (tmp_path / "probe.toml").write_text(content, encoding="utf-8")
    with pytest.raises(VocabularyError) as caught:
        vocab.load(tmp_path)
    assert caught.value.file.name == "probe.toml"
    assert caught.value.field == field
    assert "probe.toml" in str(caught.value)


def test_it_keeps_retired_terms_for_labels_but_not_for_choices(tmp_path: Path) -> None:
    retired = 'code = "old"\nru = "Устаревшее"\nen = "Old"\nretired = true\n'
    (tmp_path / "probe.toml").write_text(_file("probe", GOOD_TERM + "---\n" + retired), encoding="utf-8")
    probe = vocab.load(tmp_path)["probe"]
    assert [t.code for t in probe.active()] == ["beating"]
    assert probe.term("old").label("ru") == "Устаревшее"
    assert [t.code for t in probe.terms] == ["beating", "old"]
