"""Regions and penal facilities: reference data, a parser for facility spellings, and a matcher.

Imported rows name a facility in many ways ("ИК-2 Свердловская обл.", "IK-2 Sverdlovsk", "ФКУ ИК-2 ГУФСИН
России по Свердловской области"). A wrong link attaches a testimony to the wrong prison, so the matcher only
returns an exact facility when the text names the type, the number and the administration (directly or via
a region it covers); everything else comes back as candidates for a person to choose. No Django here.

Data: ``kartoteka/data/regions.csv`` and ``kartoteka/data/facilities.csv``; see docs/facilities.md.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import iuliia

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
REGIONS_CSV = DATA_DIR / "regions.csv"
FACILITIES_CSV = DATA_DIR / "facilities.csv"

STATUS_RU = "ru"
STATUS_UA_OCCUPIED = "ua_occupied"

# Canonical type codes (Cyrillic, as in official names) and the Latin form used in ids.
FACILITY_TYPES: dict[str, str] = {
    "ИК": "IK",
    "КП": "KP",
    "ВК": "VK",
    "Т": "T",
    "ЛИУ": "LIU",
    "СИЗО": "SIZO",
    "ЛПУ": "LPU",
    "ПФРСИ": "PFRSI",
    "ЕПКТ": "EPKT",
    "ИЦ": "ITs",
    "УФИЦ": "UFITs",
    "ЛТП": "LTP",
}
REGIMES = ("general", "strict", "special", "settlement")


class ReferenceDataError(ValueError):
    """The reference CSVs are inconsistent; the message names the row, never any personal data."""


# --------------------------------------------------------------------------------------------------------
# Text normalisation shared by region aliases and input text: both sides go through the same function, so
# an alias matches however the input is cased, punctuated, inflected in its qualifier word or abbreviated.

_APOSTROPHES = str.maketrans("", "", "'’ʼʹ`´")
_TOKEN = re.compile(r"[^\W_]+")
# Qualifier words collapse to one token whatever their case ending or language: "области", "обл.",
# "oblast", "region" all mean the same slot in a region name.
_QUALIFIER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("област", "обл"),
    ("oblast", "обл"),
    ("республик", "респ"),
    ("respublik", "респ"),
    ("republic", "респ"),
    ("автономн", "авт"),
    ("avtonomn", "авт"),
    ("autonomous", "авт"),
    ("округ", "окр"),
    ("okrug", "окр"),
)
_QUALIFIER_WORDS: dict[str, str] = {
    "обл": "обл",
    "obl": "обл",
    "region": "обл",
    "province": "обл",
    "респ": "респ",
    "resp": "респ",
    "край": "кр",
    "края": "кр",
    "краю": "кр",
    "крае": "кр",
    "краем": "кр",
    "кр": "кр",
    "krai": "кр",
    "kray": "кр",
    "kraj": "кр",
    "kraya": "кр",
    "krayu": "кр",
    "krae": "кр",
    "territory": "кр",
    "district": "окр",
}
# "г. Москве" and "Москве", "Republic of Tatarstan" and "Tatarstan Republic" should look alike.
_STOP_WORDS = frozenset({"г", "гор", "город", "city", "of", "the"})


def normalise_tokens(text: str) -> tuple[str, ...]:
    """Lower-case, fold ё/й and diacritics, drop punctuation, canonicalise qualifier words."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_APOSTROPHES))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    out: list[str] = []
    for token in _TOKEN.findall(folded):
        if token in _STOP_WORDS:
            continue
        canon = _QUALIFIER_WORDS.get(token)
        if canon is None:
            canon = next((c for prefix, c in _QUALIFIER_PREFIXES if token.startswith(prefix)), token)
        out.append(canon)
    return tuple(out)


# --------------------------------------------------------------------------------------------------------
# Regions


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    status: str
    kind: str
    name_ru: str
    name_ru_gen: str
    name_ru_dat: str
    name_ru_prep: str
    name_en: str
    en_variants: tuple[str, ...]
    ru_variants: tuple[str, ...]
    federal_district: str
    fsin_admin: str
    fsin_name: str
    fsin_aliases: tuple[str, ...]
    fsin_confidence: str
    confidence: str

    def russian_names(self) -> tuple[str, ...]:
        return (self.name_ru, self.name_ru_gen, self.name_ru_dat, self.name_ru_prep, *self.ru_variants)

    def english_names(self) -> tuple[str, ...]:
        return (self.name_en, *self.en_variants)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


def _data_lines(handle: TextIO) -> Iterator[str]:
    # Header comments carry provenance for human readers; csv has no comment syntax of its own.
    return (line for line in handle if not line.startswith("#"))


def load_regions(path: Path | None = None) -> tuple[Region, ...]:
    with (path or REGIONS_CSV).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(_data_lines(handle)))
    regions: list[Region] = []
    seen: set[str] = set()
    for row in rows:
        code = row["code"].strip()
        if code in seen:
            raise ReferenceDataError(f"regions: duplicate code {code}")
        if row["status"] not in (STATUS_RU, STATUS_UA_OCCUPIED):
            raise ReferenceDataError(f"regions: {code} has unknown status")
        if (row["status"] == STATUS_RU) != code.startswith("RU-"):
            raise ReferenceDataError(f"regions: {code} status does not fit its country code")
        seen.add(code)
        regions.append(
            Region(
                code=code,
                status=row["status"],
                kind=row["kind"],
                name_ru=row["name_ru"],
                name_ru_gen=row["name_ru_gen"],
                name_ru_dat=row["name_ru_dat"],
                name_ru_prep=row["name_ru_prep"],
                name_en=row["name_en"],
                en_variants=_split(row["en_variants"]),
                ru_variants=_split(row["ru_variants"]),
                federal_district=row["federal_district"],
                fsin_admin=row["fsin_admin"],
                fsin_name=row["fsin_name"],
                fsin_aliases=_split(row["fsin_aliases"]),
                fsin_confidence=row["fsin_confidence"],
                confidence=row["confidence"],
            )
        )
    return tuple(regions)


# Several romanisations, because imported sheets use whatever their author learned.
_SCHEMES = (iuliia.WIKIPEDIA, iuliia.BGN_PCGN, iuliia.ICAO_DOC_9303, iuliia.UNGEGN_1987, iuliia.TELEGRAM)
_ABBREVIATION = re.compile(r"^[А-ЯЁ]{2,5}$")


def _romanisations(name: str) -> set[str]:
    # Romanised abbreviations ("LO", "NAO") would collide with ordinary Latin words.
    if _ABBREVIATION.match(name):
        return set()
    return {str(scheme.translate(name)) for scheme in _SCHEMES}


class RegionMatcher:
    """Finds region mentions in free text by longest alias match over normalised tokens."""

    def __init__(self, regions: Iterable[Region]) -> None:
        self.regions: dict[str, Region] = {r.code: r for r in regions}
        aliases: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for region in self.regions.values():
            names: set[str] = {*region.russian_names(), *region.english_names()}
            for ru in region.russian_names():
                names |= _romanisations(ru)
            for name in names:
                tokens = normalise_tokens(name)
                if tokens:
                    aliases[tokens].add(region.code)
        self._aliases: dict[tuple[str, ...], frozenset[str]] = {k: frozenset(v) for k, v in aliases.items()}
        by_first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for tokens in self._aliases:
            by_first[tokens[0]].append(tokens)
        self._by_first = {k: sorted(v, key=len, reverse=True) for k, v in by_first.items()}
        admins: dict[str, set[str]] = defaultdict(set)
        for region in self.regions.values():
            admins[region.fsin_admin].add(region.code)
        self._admin_regions = {k: frozenset(v) for k, v in admins.items()}

    def ambiguous_aliases(self) -> dict[tuple[str, ...], frozenset[str]]:
        """Aliases that name more than one region ("Altai"): they never decide a region alone."""
        return {k: v for k, v in self._aliases.items() if len(v) > 1}

    def find_in_tokens(self, tokens: Sequence[str]) -> frozenset[str]:
        found: set[str] = set()
        i = 0
        while i < len(tokens):
            step = 1
            for alias in self._by_first.get(tokens[i], ()):
                if tuple(tokens[i : i + len(alias)]) == alias:
                    found |= self._aliases[alias]
                    step = len(alias)
                    break
            i += step
        return frozenset(found)

    def find(self, text: str) -> frozenset[str]:
        """Every region code the text mentions (an ambiguous alias contributes all its regions)."""
        return self.find_in_tokens(normalise_tokens(text))

    def match(self, text: str) -> str | None:
        """The one region the text names, or None when it names none or several."""
        found = self.find(text)
        return next(iter(found)) if len(found) == 1 else None

    def administration_of(self, region_code: str) -> str:
        return self.regions[region_code].fsin_admin

    def administration_regions(self, admin_code: str) -> frozenset[str]:
        return self._admin_regions.get(admin_code, frozenset())

    def administrations(self) -> frozenset[str]:
        return frozenset(self._admin_regions)


@functools.cache
def default_region_matcher() -> RegionMatcher:
    return RegionMatcher(load_regions())


# --------------------------------------------------------------------------------------------------------
# Parsing facility spellings

_W = r"[^\W\d_]*"  # the rest of an inflected word
_TYPE_PATTERNS: tuple[tuple[str, str], ...] = (
    # Order matters where spellings overlap: the settlement and juvenile colonies before the plain colony,
    # "prison colony" before "prison".
    (
        "КП",
        rf"колони{_W}\s*[-‑–—]?\s*поселени{_W}|kp|кп|settlement\s+colony|colony[-\s]+settlement|penal\s+settlement",
    ),
    (
        "ВК",
        rf"воспитательн{_W}\s+колони{_W}|вк|vk(?=\s*[-‑–—№#])|juvenile\s+(?:correctional\s+)?colony|educational\s+colony",
    ),
    (
        "ЛИУ",
        rf"лечебн{_W}\s+исправительн{_W}\s+учреждени{_W}|лиу|liu|medical\s+correctional\s+(?:institution|facility)",
    ),
    ("ЛПУ", rf"лечебно\s*[-‑]\s*профилактическ{_W}\s+учреждени{_W}|лпу|lpu"),
    ("ЛТП", rf"лечебно\s*[-‑]\s*трудов{_W}\s+профилактори{_W}|лтп|ltp"),
    ("ПФРСИ", r"пфрси|pfrsi"),
    ("ЕПКТ", rf"един{_W}\s+помещени{_W}\s+камерного\s+типа|епкт|epkt"),
    ("УФИЦ", r"уфиц|ufit?s|ufic"),
    ("ИЦ", rf"исправительн{_W}\s+центр{_W}|correctional\s+cent(?:re|er)|иц|(?:its|itz|ic)(?=\s*[-‑–—№#])"),
    (
        "СИЗО",
        rf"следственн{_W}\s+изолятор{_W}|сизо|sizo|pre\s*[-‑]?\s*trial\s+detention\s+(?:cent(?:re|er)|facility)"
        r"|remand\s+(?:prison|cent(?:re|er))|detention\s+cent(?:re|er)",
    ),
    (
        "ИК",
        rf"(?:исправительн{_W}\s+)?колони{_W}|ик|ik"
        r"|(?:correctional|corrective|penal|prison|labou?r)\s+colony|colony",
    ),
    ("Т", rf"тюрьм{_W}|prison|(?:т|t)(?=\s*[-‑–—№])"),
)
_REGIME_PATTERNS: tuple[tuple[str, str], ...] = (
    ("general", rf"общ{_W}\s+режим{_W}|general[-\s]+(?:regime|security)|obshch?{_W}\s+rezhim{_W}"),
    ("strict", rf"строг{_W}\s+режим{_W}|strict[-\s]+(?:regime|security)|strog{_W}\s+rezhim{_W}"),
    ("special", rf"особ{_W}\s+режим{_W}|special[-\s]+(?:regime|security)|osob{_W}\s+rezhim{_W}"),
)
_REGIME_ANY = "|".join(f"(?:{p})" for _, p in _REGIME_PATTERNS)
_NUMBER_SEP = r"\s*(?:[-‑–—]\s*|№\s*|n[oº°]?\.?\s*|#\s*|nr\.?\s*)?"
_TYPE_NUMBER = re.compile(
    r"(?<![^\W_])(?:"
    + "|".join(f"(?P<t{i}>{pattern})" for i, (_, pattern) in enumerate(_TYPE_PATTERNS))
    + rf")(?:\s+(?:{_REGIME_ANY}))?{_NUMBER_SEP}(?P<number>\d{{1,4}})(?!\d)",
    re.IGNORECASE,
)
_REGIME = [(code, re.compile(pattern, re.IGNORECASE)) for code, pattern in _REGIME_PATTERNS]
# Units that live inside another facility and take its number ("ПФРСИ при ФКУ ИК-2").
_HOSTED = re.compile(
    r"(?<![^\W_])(?P<hosted>пфрси|pfrsi|уфиц|ufit?s|ufic|епкт|epkt)[\s,«»\"]*(?:при|at|of)?[\s«»\"]*"
    r"(?:(?:фку|fku)[\s«»\"]*)?$",
    re.IGNORECASE,
)
_HOSTED_TYPE = {"пфрси": "ПФРСИ", "pfrsi": "ПФРСИ", "уфиц": "УФИЦ", "ufits": "УФИЦ", "ufis": "УФИЦ"}
_HOSTED_TYPE |= {"ufic": "УФИЦ", "епкт": "ЕПКТ", "epkt": "ЕПКТ"}
_LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("ФКЛПУ", r"фклпу|fklpu"),
    ("ФКУЗ", r"фкуз|fkuz"),
    (
        "ФКУ",
        rf"фку|fku|федеральн{_W}\s+казенн{_W}\s+учреждени{_W}|federal\s+(?:state\s+|government\s+|treasury\s+)institution",
    ),
    ("ФГУ", r"фгу|fgu"),
    ("ФБУ", r"фбу|fbu"),
)
_LEGAL_FORM = re.compile(
    r"(?<![^\W_])(?:" + "|".join(f"(?P<f{i}>{p})" for i, (_, p) in enumerate(_LEGAL_FORMS)) + r")(?![^\W_])",
    re.IGNORECASE,
)
_ADMIN = re.compile(
    rf"(?<![^\W_])(?:г?уфсин|g?ufsin|фсин|fsin|(?:главн{_W}\s+)?управлени{_W}\s+фсин)(?![^\W_])[^;,()\n]*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class FacilityRef:
    """What a piece of text says about a facility; fields are None when the text does not say."""

    type: str | None
    number: str | None
    legal_form: str | None = None
    regime: str | None = None
    host_type: str | None = None
    administration_text: str | None = None
    administration_code: str | None = None
    # False when the code is only implied because every region named belongs to one administration.
    administration_stated: bool = False
    region_codes: frozenset[str] = frozenset()
    tokens: tuple[str, ...] = field(default=(), repr=False, compare=False)


def _fold(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def _type_and_number(text: str) -> tuple[str | None, str | None, str | None]:
    match = _TYPE_NUMBER.search(text)
    if match is None:
        return None, None, None
    type_code = next(_TYPE_PATTERNS[i][0] for i in range(len(_TYPE_PATTERNS)) if match.group(f"t{i}"))
    number = str(int(match.group("number")))
    hosted = _HOSTED.search(text, 0, match.start())
    if hosted:
        return _HOSTED_TYPE[hosted.group("hosted").lower()], number, type_code
    return type_code, number, None


def _regime(text: str, type_code: str | None) -> str | None:
    # A settlement colony is a regime of its own; an ИК "with a settlement section" is not.
    if type_code == "КП":
        return "settlement"
    return next((code for code, pattern in _REGIME if pattern.search(text)), None)


def _legal_form(text: str) -> str | None:
    match = _LEGAL_FORM.search(text)
    if match is None:
        return None
    return next(_LEGAL_FORMS[i][0] for i in range(len(_LEGAL_FORMS)) if match.group(f"f{i}"))


def _single_admin(regions: frozenset[str], matcher: RegionMatcher) -> str | None:
    admins = {matcher.administration_of(code) for code in regions}
    return next(iter(admins)) if len(admins) == 1 else None


def parse_facility(text: str, *, regions: RegionMatcher | None = None) -> FacilityRef:
    """Extract type, number, legal form, regime, administration and regions from one facility spelling."""
    matcher = regions or default_region_matcher()
    folded = _fold(text)
    type_code, number, host_type = _type_and_number(folded)
    tokens = normalise_tokens(folded)
    region_codes = matcher.find_in_tokens(tokens)
    admin_text: str | None = None
    admin_code: str | None = None
    admin_match = _ADMIN.search(folded)
    if admin_match:
        admin_text = admin_match.group(0).strip(" ,.")
        admin_code = _single_admin(matcher.find(admin_text), matcher)
    stated = admin_code is not None
    if admin_code is None and region_codes:
        admin_code = _single_admin(region_codes, matcher)
    return FacilityRef(
        type=type_code,
        number=number,
        legal_form=_legal_form(folded),
        regime=_regime(folded, type_code),
        host_type=host_type,
        administration_text=admin_text,
        administration_code=admin_code,
        administration_stated=stated,
        region_codes=region_codes,
        tokens=tokens,
    )


# --------------------------------------------------------------------------------------------------------
# Facilities and the index


@dataclass(frozen=True, slots=True)
class Facility:
    # FSIN numbers facilities per regional administration, so (type, number, administration) is the key;
    # the federal subject is stored apart because one administration can cover two subjects.
    id: str
    type: str
    number: str
    administration_code: str
    region_code: str
    official_name: str
    regime: str | None = None
    aliases: tuple[str, ...] = ()
    confidence: str = "synthetic"
    note: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.number, self.administration_code)


def facility_id(type_code: str, number: str, administration_code: str) -> str:
    return f"{administration_code}/{FACILITY_TYPES[type_code]}-{number}"


def load_facilities(
    path: Path | None = None, *, regions: RegionMatcher | None = None
) -> tuple[Facility, ...]:
    """Read and check facilities.csv: known region and administration, and an official name that parses
    back to the row's own key (so the parser and the data cannot drift apart unnoticed)."""
    matcher = regions or default_region_matcher()
    with (path or FACILITIES_CSV).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(_data_lines(handle)))
    facilities: list[Facility] = []
    for line, row in enumerate(rows, start=2):
        type_code, number, admin = row["type"], str(int(row["number"])), row["administration"]
        region = row["region"]
        if type_code not in FACILITY_TYPES:
            raise ReferenceDataError(f"facilities row {line}: unknown type")
        if region not in matcher.administration_regions(admin):
            raise ReferenceDataError(f"facilities row {line}: region {region} is not under {admin}")
        regime = row["regime"] or None
        if regime is not None and regime not in REGIMES:
            raise ReferenceDataError(f"facilities row {line}: unknown regime")
        parsed = parse_facility(row["official_name"], regions=matcher)
        if (parsed.type, parsed.number, parsed.administration_code) != (type_code, number, admin):
            raise ReferenceDataError(f"facilities row {line}: official name does not parse to its own key")
        facilities.append(
            Facility(
                id=facility_id(type_code, number, admin),
                type=type_code,
                number=number,
                administration_code=admin,
                region_code=region,
                official_name=row["official_name"],
                regime=regime,
                aliases=_split(row["aliases"]),
                confidence=row["confidence"],
                note=row.get("note", ""),
            )
        )
    return tuple(facilities)


@dataclass(frozen=True, slots=True)
class MatchResult:
    exact: Facility | None
    candidates: list[Facility]
    ref: FacilityRef


class FacilityIndex:
    """Facilities indexed by (type, number); ``match`` never guesses a region the text does not name."""

    def __init__(self, facilities: Iterable[Facility], *, regions: RegionMatcher | None = None) -> None:
        self.regions = regions or default_region_matcher()
        self._by_type_number: dict[tuple[str, str], list[Facility]] = defaultdict(list)
        self._aliases: dict[str, tuple[tuple[str, ...], ...]] = {}
        keys: set[tuple[str, str, str]] = set()
        for facility in facilities:
            if facility.key in keys:
                raise ReferenceDataError(f"facilities: duplicate key {facility.id}")
            keys.add(facility.key)
            self._by_type_number[(facility.type, facility.number)].append(facility)
            self._aliases[facility.id] = tuple(
                t for t in (normalise_tokens(_fold(a)) for a in facility.aliases) if t
            )

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_type_number.values())

    def _names_alias(self, facility: Facility, tokens: tuple[str, ...]) -> bool:
        for alias in self._aliases[facility.id]:
            width = len(alias)
            if any(tokens[i : i + width] == alias for i in range(len(tokens) - width + 1)):
                return True
        return False

    def _administrations(self, ref: FacilityRef) -> frozenset[str]:
        if ref.administration_stated and ref.administration_code is not None:
            return frozenset({ref.administration_code})
        return frozenset(self.regions.administration_of(code) for code in ref.region_codes)

    def match(self, text: str) -> MatchResult:
        ref = parse_facility(text, regions=self.regions)
        if ref.type is None or ref.number is None:
            return MatchResult(exact=None, candidates=[], ref=ref)
        bucket = self._by_type_number.get((ref.type, ref.number), [])
        admins = self._administrations(ref)
        # A named region is a filter, never a hint: another region's ИК-2 is not even a candidate.
        candidates = [f for f in bucket if f.administration_code in admins] if admins else list(bucket)
        named = [f for f in bucket if self._names_alias(f, ref.tokens)]
        exact: Facility | None = None
        if any(f not in candidates for f in named):
            # The text names another facility's locality ("ИК-7 Яблоневка, Карелия"): conflicting evidence
            # is left to a person, though the other region's facility still never becomes a candidate.
            exact = None
        elif len(admins) == 1 and len(candidates) == 1:
            exact = candidates[0]
        elif len(named) == 1:
            # A locality alias settles the choice only when exactly one candidate carries it.
            exact = named[0]
        return MatchResult(exact=exact, candidates=candidates, ref=ref)


@functools.cache
def default_facility_index() -> FacilityIndex:
    return FacilityIndex(load_facilities())
