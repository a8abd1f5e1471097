"""Names: parsing, script-neutral terms and the full blind-index lookup path against real spellings.

The reference lists (kartoteka/data/reference/names-README.md) hold 1,095 spellings of 54 people and 35
pairs of different people with near-identical names. Run with ``pytest -s`` to see the per-convention
hit rates and the diminutive misses; docs/names.md keeps the figures.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kartoteka.lib import crypto, names

INFORMAL = {"diminutive"}


def _rows(reference_dir: Path, name: str) -> list[dict[str, str]]:
    with (reference_dir / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def variants(reference_dir: Path) -> list[dict[str, str]]:
    return _rows(reference_dir, "name-variants.csv")


@pytest.fixture(scope="module")
def hard_negatives(reference_dir: Path) -> list[dict[str, str]]:
    return _rows(reference_dir, "hard-negatives.csv")


class BlindIndex:
    """What the database holds: HMAC(term) -> record ids, under a key the test never sees again."""

    def __init__(self) -> None:
        self.key = crypto.random_key()
        self.postings: dict[int, set[str]] = defaultdict(set)
        self.names: dict[str, str] = {}

    def add(self, record_id: str, name: str) -> None:
        self.names[record_id] = name
        for term in names.stored_terms(name):
            self.postings[crypto.blind_index(self.key, term)].add(record_id)

    def search(self, query: str, *, diminutives: bool = False, year: int | None = None) -> set[str]:
        """As people.selectors does: one term of every group of :func:`names.search_terms`."""
        groups = names.search_terms(query, diminutives=diminutives)
        if not groups:
            return set()
        hits = set.intersection(
            *(
                set().union(*(self.postings.get(crypto.blind_index(self.key, t), set()) for t in group))
                for group in groups
            )
        )
        return {
            rid
            for rid in hits
            if names.compatible(query, self.names[rid], query_birth_year=year, diminutives=diminutives)
        }


def _hit_rates(
    variants: list[dict[str, str]], search: Callable[[str], set[str]]
) -> tuple[dict[str, tuple[int, int]], dict[str, list[str]], int]:
    """Per convention: (found, total); the misses; how many wrong people were returned overall."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: dict[str, list[str]] = defaultdict(list)
    wrong = 0
    for row in variants:
        result = search(row["variant"])
        wrong += len(result - {row["group_id"]})
        for convention in row["convention"].split("; "):
            total[convention] += 1
            if row["group_id"] in result:
                found[convention] += 1
            else:
                misses[convention].append(f"{row['variant']} (for {row['cyrillic']})")
    return {c: (found[c], total[c]) for c in total}, misses, wrong


def _canonical_index(variants: list[dict[str, str]]) -> BlindIndex:
    index = BlindIndex()
    for row in variants:
        if row["group_id"] not in index.names:
            index.add(row["group_id"], row["cyrillic"])
    return index


def _print_rates(title: str, rates: dict[str, tuple[int, int]]) -> None:
    print(f"\n{title}")
    for convention, (hit, total) in sorted(rates.items(), key=lambda kv: (kv[0] in INFORMAL, kv[0])):
        print(f"  {convention:<28} {hit:>3}/{total:<3} {100 * hit / total:6.1f}%")


def test_it_finds_every_standard_spelling_through_the_blind_index(variants: list[dict[str, str]]) -> None:
    index = _canonical_index(variants)
    rates, misses, wrong = _hit_rates(variants, index.search)
    _print_rates("hit rate by convention (diminutives off)", rates)
    for convention in sorted(INFORMAL & misses.keys()):
        print(f"  misses, {convention}: " + "; ".join(misses[convention]))
    standard_misses = {c: m for c, m in misses.items() if c not in INFORMAL}
    assert standard_misses == {}
    assert wrong == 0, "a spelling reached a different person"


def test_it_reports_diminutive_hit_rates_both_ways(variants: list[dict[str, str]]) -> None:
    index = _canonical_index(variants)
    plain, _, _ = _hit_rates(variants, index.search)
    expanded, misses, wrong = _hit_rates(variants, lambda q: index.search(q, diminutives=True))
    _print_rates("hit rate by convention (diminutives on)", expanded)
    for convention in sorted(INFORMAL & misses.keys()):
        print(f"  misses, {convention}: " + "; ".join(misses[convention]))
    off, on = plain["diminutive"], expanded["diminutive"]
    print(f"  diminutive: {off[0]}/{off[1]} off, {on[0]}/{on[1]} on")
    assert on[0] > off[0]
    assert {c: r for c, r in expanded.items() if c not in INFORMAL and r[0] < r[1]} == {}
    assert wrong == 0


def test_it_matches_no_hard_negative(hard_negatives: list[dict[str, str]]) -> None:
    matched = []
    for row in hard_negatives:
        index = BlindIndex()
        index.add("b", row["b"])
        a_year = int(row["a_birth_year"]) if row["a_birth_year"] else None
        b_year = int(row["b_birth_year"]) if row["b_birth_year"] else None
        reached = "b" in index.search(row["a"])  # terms + compatible, no years
        accepted = names.compatible(row["a"], row["b"], query_birth_year=a_year, candidate_birth_year=b_year)
        if reached and accepted:
            matched.append(f"{row['a']} ~ {row['b']} ({row['why']})")
    assert matched == []


def test_it_tells_apart_the_hard_negatives_by_name_alone_where_no_year_is_given(
    hard_negatives: list[dict[str, str]],
) -> None:
    undated = [r for r in hard_negatives if not r["a_birth_year"]]
    reached = [r["a"] for r in undated if names.compatible(r["a"], r["b"]) and _reaches(r["a"], r["b"])]
    assert len(undated) > 20
    assert reached == []


def _reaches(query: str, stored: str) -> bool:
    terms = names.lookup_terms(query)
    return bool(terms) and set(terms) <= set(names.index_terms(stored))


def test_it_finds_every_iuliia_romanisation_of_every_canonical_name(variants: list[dict[str, str]]) -> None:
    index = _canonical_index(variants)
    forms = [(g, s, latin) for g, c in index.names.items() for s, latin in names.display_forms(c).items()]
    misses = [(scheme, latin) for group, scheme, latin in forms if group not in index.search(latin)]
    print(f"\niuliia forms found: {len(forms) - len(misses)}/{len(forms)}; misses: {misses}")
    # The one reading left to chance: GOST 7.79 B writes х as x, everyone else writes кс as x, and a
    # string like "Anton Pavlovich Chexov" carries no other sign of its convention (docs/names.md).
    assert all(scheme == "gost_7_79_b" and "x" in latin.lower() for scheme, latin in misses)
    assert len(misses) <= len(forms) // 100


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("Mixail Popov", "Михаил Попов"),
        ("Popov Fyodor Mixajlovich", "Попов Фёдор Михайлович"),
        ("Xabarov Andrej", "Хабаров Андрей"),
        ("Alexander Xenofontov", "Александр Ксенофонтов"),
        ("Maxim Axyonov", "Максим Аксёнов"),
        ("Alexej Romanovič Vorobjov", "Воробьёв Алексей Романович"),
        ("Anton Pavlovič Čexov", "Антон Павлович Чехов"),
    ],
)
def test_it_reads_x_as_kha_or_ks_from_the_rest_of_the_name(latin: str, cyrillic: str) -> None:
    assert set(names.index_terms(latin)) == set(names.index_terms(cyrillic))


@pytest.mark.parametrize(
    "spellings",
    [
        ["Пётр", "Петр", "Pyotr", "Petr", "Pjotr", "Piotr", "Pëtr", "PETR", "Peter"],
        ["Пригожин", "Prigozhin", "Prigoschin", "Prigojine", "Prigożyn", "Prigožin"],
        ["Щербаков", "Shcherbakov", "Schtscherbakow", "Chtcherbakov", "Szczerbakow", "Ščerbakov", "Ŝerbakov"],
        ["Юлия", "Yuliya", "Iuliia", "Julija", "Ûliâ", "Ioulia", "Yulia"],
        ["Подъячев", "PODIEIACHEV", 'Pod"yachev', "Pod”yachev", "Podʺâčev", "Pod``yachev", "Podyachev"],
        ["Ёлкин", "Елкин", "Yolkin", "ELKIN", "Jolkin", "Ëlkin"],
    ],
)
def test_it_gives_every_spelling_of_a_name_part_one_key(spellings: list[str]) -> None:
    keys = {names.part_key(s) for s in spellings}
    assert len(keys) == 1
    assert "" not in keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Иванов", "Иванова"),
        ("Сергеевич", "Семёнович"),
        ("Дмитрий", "Денис"),
        ("Андрей", "Алексей"),
        ("Юлия", "Юлиана"),
        ("Александр", "Александра"),
        ("Щукин", "Шукин"),
        ("Кириллов", "Кирилов"),
        ("Даниил", "Данила"),
        ("Ксения", "Женя"),
        ("Осипов", "Есипов"),
    ],
)
def test_it_keeps_different_name_parts_apart(a: str, b: str) -> None:
    assert names.part_key(a) != names.part_key(b)


def test_it_keeps_the_given_names_of_the_lexicon_apart_except_spellings_of_one_name() -> None:
    with names.DIMINUTIVES_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    by_key: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_key[names.part_key(row["full"])].add(row["full"])
    merged = sorted(sorted(group) for group in by_key.values() if len(group) > 1)
    # Наталья/Наталия are NATALIA in ICAO and English; Ульяна is the Russian form of Юлиана.
    assert merged == [["Наталия", "Наталья"], ["Ульяна", "Юлиана"]]
    assert len(by_key) > 100


# --- parse ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "surname", "given", "patronymic", "initials", "sex", "script"),
    [
        ("IVANOV<<PETR", "IVANOV", "PETR", None, (), "m", "latin"),
        ("SMIRNOVA<<ANNA<MARIIA<<<<<<<<", "SMIRNOVA", "ANNA MARIIA", None, (), "f", "latin"),
        ("PRIGOZHIN, Yevgeniy Viktorovich", "PRIGOZHIN", "Yevgeniy", "Viktorovich", (), "m", "latin"),
        ("Соловьёв, Юрий Васильевич", "Соловьёв", "Юрий", "Васильевич", (), "m", "cyrillic"),
        ("Иванов П. С.", "Иванов", None, None, ("П", "С"), "m", "cyrillic"),
        ("П.С. Иванов", "Иванов", None, None, ("П", "С"), "m", "cyrillic"),
        ("Ivanov P.S.", "Ivanov", None, None, ("P", "S"), "m", "latin"),
        ("Khabarov A.Iu.", "Khabarov", None, None, ("A", "Iu"), "m", "latin"),
        ("Aleksei A. Navalny", "Navalny", "Aleksei", None, ("A",), "m", "latin"),
        ("Смирнова Наталья Юрьевна", "Смирнова", "Наталья", "Юрьевна", (), "f", "cyrillic"),
        ("Фёдорова Анастасия", "Фёдорова", "Анастасия", None, (), "f", "cyrillic"),
        ("Пётр Иванов", "Иванов", "Пётр", None, (), "m", "cyrillic"),
        ("Иванов Пётр", "Иванов", "Пётр", None, (), "m", "cyrillic"),
        ("Ksenija Žukovová", "Žukovová", "Ksenija", None, (), "f", "latin"),
        (
            "Римский-Корсаков Николай Андреевич",
            "Римский-Корсаков",
            "Николай",
            "Андреевич",
            (),
            "m",
            "cyrillic",
        ),
        (
            "Николай Андреевич Римский–Корсаков",
            "Римский-Корсаков",
            "Николай",
            "Андреевич",
            (),
            "m",
            "cyrillic",
        ),
        ("Иванова Анна Мария Петровна", "Иванова", "Анна Мария", "Петровна", (), "f", "cyrillic"),
        ("Анна-Мария Иванова", "Иванова", "Анна-Мария", None, (), "f", "cyrillic"),
        ("Дмитрий Дмитриевич Шостакович", "Шостакович", "Дмитрий", "Дмитриевич", (), "m", "cyrillic"),
        ("Шостакович Дмитрий Дмитриевич", "Шостакович", "Дмитрий", "Дмитриевич", (), "m", "cyrillic"),
        ("Pyotr Ilyich Tchaikovsky", "Tchaikovsky", "Pyotr", "Ilyich", (), "m", "latin"),
        ("Семёнов Фёдор Ильич", "Семёнов", "Фёдор", "Ильич", (), "m", "cyrillic"),
        ("«Саша» Козлова", "Козлова", "Саша", None, (), "f", "cyrillic"),
        ("Пётр Сергеевич", None, "Пётр", "Сергеевич", (), "m", "cyrillic"),
        ("Ivanov Пётр", "Ivanov", "Пётр", None, (), "m", "mixed"),
    ],
)
def test_it_parses_the_tricky_forms(
    raw: str,
    surname: str | None,
    given: str | None,
    patronymic: str | None,
    initials: tuple[str, ...],
    sex: str | None,
    script: str,
) -> None:
    parsed = names.parse(raw)
    assert (parsed.surname, parsed.given, parsed.patronymic) == (surname, given, patronymic)
    assert (parsed.initials, parsed.sex, parsed.script) == (initials, sex, script)


def test_it_treats_yo_and_ye_alike_when_parsing_and_indexing() -> None:
    assert names.index_terms("Горбачёв Пётр Семёнович") == names.index_terms("Горбачев Петр Семенович")
    assert names.parse("Фёдорова Ольга").sex == names.parse("Федорова Ольга").sex == "f"


def test_it_does_not_index_initials() -> None:
    assert (
        names.index_terms("Иванов П. С.")
        == names.index_terms("Ivanov P.S.")
        == ["n1:" + names.part_key("Иванов")]
    )
    assert names.lookup_terms("Ye. P. Shcherbakov") == ["n1:" + names.part_key("Щербаков")]


def test_it_reaches_every_compatible_name_by_initials_terms(variants: list[dict[str, str]]) -> None:
    """An initials query fetches by composite terms only; it must still reach every stored name (canonical
    forms, Latin variants, surname-only and initials-only records) that the surname term reached and
    ``compatible`` accepts, and the composite terms must cut the candidates below the surname's."""
    stored = sorted({r["cyrillic"] for r in variants} | {r["variant"] for r in variants})
    stored += ["Иванов", "Иванов П.", "Иванов Y.", "Пётр Иванов", "IVANOV<<PETR", "Иванов Павел Семёнович"]
    index = BlindIndex()
    for i, name in enumerate(stored):
        index.add(str(i), name)
    queries = set()
    for name in stored:
        parsed = names.parse(name)
        if parsed.surname and parsed.given and parsed.patronymic:
            queries.add(f"{parsed.surname} {parsed.given[0]}. {parsed.patronymic[0]}.")
            queries.add(f"{parsed.given[0]}. {parsed.surname}")
    missed, composite = [], 0
    for query in sorted(queries):
        composite += all(t.startswith(names.INITIAL_PREFIX) for g in names.search_terms(query) for t in g)
        by_surname = {
            rid
            for rid in set.intersection(
                *(
                    index.postings.get(crypto.blind_index(index.key, t), set())
                    for t in names.lookup_terms(query)
                )
            )
            if names.compatible(query, index.names[rid]) and names.parse(index.names[rid]).surname is not None
        }
        missed += [f"{query} -> {index.names[r]}" for r in by_surname - index.search(query)]
    assert composite > 100
    assert missed == []


def test_it_reads_plain_names_as_the_full_parse_does(variants: list[dict[str, str]]) -> None:
    """initial_terms skips the full parse for plain names; the roles it finds must be the parse's."""
    stored = {r["cyrillic"] for r in variants} | {r["variant"] for r in variants}
    stored |= {"IVANOV PETR SERGEEVICH", "Анна-Мария Петрова", "Иванов-Петров Пётр Сергеевич", "Petr Ivanov"}
    plain = {name: parts for name in sorted(stored) if (parts := names._plain_parts(name)) is not None}
    assert len(plain) > len(stored) // 2
    assert "Иванов П. С." not in plain and names._plain_parts("Иванов, Пётр") is None
    differ = [
        n for n, parts in plain.items() if parts != names._analyse(n).parts or names._analyse(n).initials
    ]
    assert differ == []
    full_parse = {n: names.index_terms(n) + names._initials_of(names._analyse(n).parts, ()) for n in plain}
    assert {n: names.stored_terms(n) for n in plain} == full_parse


def test_it_looks_up_initials_by_composite_terms_only_when_they_are_definite() -> None:
    assert names.search_terms("Иванов П. С.") == names.search_terms("Ivanov P.S.")
    assert names.search_terms("Иванов П. С.") == names.search_terms("П. С. Иванов")
    # (surname, П or no given initial, any patronymic sound): no (surname, given) term is stored
    single = names.search_terms("Иванов П.")
    assert len(single) == 1 and {t.rsplit(":", 2)[1] for t in single[0]} == {"P", "*"}
    assert len(single[0]) == 2 * len({t.rsplit(":", 1)[1] for t in single[0]}) > 2
    assert names.search_terms("Иванов Y.") == [(t,) for t in names.lookup_terms("Иванов Y.")]  # Ю/Я/Е: open
    assert names.search_terms("Иванов Пётр") == [(t,) for t in names.lookup_terms("Иванов Пётр")]
    stored = set(names.stored_terms("Иванов Пётр Сергеевич"))
    assert names.INITIAL_PREFIX + names.part_key("Иванов") + ":P:S" in stored
    assert names.INITIAL_PREFIX + names.part_key("Иванов") + ":P" not in stored
    assert set(names.search_terms("Иванов П. А.")[0]) & stored == set()


def test_it_looks_up_a_single_initial_under_every_sound_a_stored_name_can_have(
    variants: list[dict[str, str]],
) -> None:
    """A single-initial query enumerates the patronymic sounds; a sound missing from that list would lose
    every record whose patronymic starts with it."""
    spellings = {r["cyrillic"] for r in variants} | {r["variant"] for r in variants}
    sounds = {t.rsplit(":", 1)[1] for group in names.search_terms("Иванов П.") for t in group}
    stored = {t.rsplit(":", 1)[1] for n in spellings for t in names.initial_terms(n)}
    stored |= {names.part_key(w)[:1] for n in spellings for w in names.normalise(n).split(" ")} - {""}
    assert len(stored) > 10
    assert stored <= sounds


def test_it_indexes_both_halves_of_a_hyphenated_surname_and_finds_either() -> None:
    terms = names.index_terms("Римский-Корсаков Николай Андреевич")
    assert {"n1:" + names.part_key("Римский"), "n1:" + names.part_key("Корсаков")} <= set(terms)
    assert names.compatible("Rimsky-Korsakov", "Римский-Корсаков Николай Андреевич")
    assert names.compatible("Nikolai Korsakov", "Римский-Корсаков Николай Андреевич")


# --- compatible -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "candidate", "expected"),
    [
        ("Иванов П. С.", "Иванов Пётр Сергеевич", True),
        ("Иванов П. С.", "Иванов Сергей Петрович", False),
        ("Ivanov P.", "Иванов Пётр Сергеевич", True),
        ("Ivanov S.", "Иванов Пётр Сергеевич", False),
        ("Yu. V. Solovyov", "Соловьёв Юрий Васильевич", True),
        ("Ye. V. Solovyov", "Соловьёв Юрий Васильевич", False),
        ("Пригожин Е. В.", "Evgeny Prigozhin", True),
        ("Пригожин А. В.", "Evgeny Prigozhin", False),
        ("Иванов Пётр", "Иванова Пётр", False),
        ("A. S. Ivanov", "A. S. Ivanova", False),
        ("Пётр Иванов", "Иванов Пётр Сергеевич", True),
        ("Пётр Семёнович", "Иванов Пётр Сергеевич", False),
    ],
)
def test_it_refines_candidates_by_initials_parts_and_sex(query: str, candidate: str, expected: bool) -> None:
    assert names.compatible(query, candidate) is expected


def test_it_requires_equal_birth_years_only_when_both_are_known() -> None:
    name = "Смирнов Андрей Андреевич"
    assert not names.compatible(name, name, query_birth_year=1951, candidate_birth_year=1978)
    assert names.compatible(name, name, query_birth_year=1951, candidate_birth_year=1951)
    assert names.compatible(name, name, query_birth_year=1951)


def test_it_expands_diminutives_only_when_asked_and_only_when_the_sex_settles_them() -> None:
    assert names.lookup_terms("Петя Иванов") != names.lookup_terms("Пётр Иванов")
    assert names.lookup_terms("Петя Иванов", diminutives=True) == names.lookup_terms("Пётр Иванов")
    assert names.lookup_terms("Саша Козлов", diminutives=True) == names.lookup_terms("Александр Козлов")
    assert names.lookup_terms("Саша Козлова", diminutives=True) == names.lookup_terms("Александра Козлова")
    assert names.lookup_terms("Слава Богданов", diminutives=True) == names.lookup_terms("Богданов")
    assert names.compatible("Слава Богданов", "Богданов Вячеслав", diminutives=True)
    assert not names.compatible("Слава Богданов", "Богданов Вячеслав")


# --- display forms ------------------------------------------------------------------------------------


def test_it_romanises_by_the_official_schemes() -> None:
    forms = names.display_forms("Соловьёв Юрий Васильевич")
    assert forms["icao_9303"] == "Solovev Iurii Vasilevich"
    assert forms["ru_passport_1997"] == "Solov'ev Yuriy Vasilyevich"
    assert forms["gost_7_79_a"] == "Solovʹëv Ûrij Vasilʹevič"
    assert forms["icao_9303_mrz"] == "SOLOVEV<<IURII"
    assert all("ё" not in form for form in forms.values())


# --- properties and speed -------------------------------------------------------------------------------

_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяabcdefghijklmnopqrstuvwxyzčšžłëïé’-"
_WORDS = st.text(alphabet=_LETTERS, min_size=1, max_size=12)
_SPACES = st.text(alphabet=" \t\u00a0", min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_WORDS, min_size=1, max_size=4), gaps=st.lists(_SPACES, min_size=5, max_size=5))
def test_it_indexes_regardless_of_case_whitespace_and_yo(words: list[str], gaps: list[str]) -> None:
    plain = " ".join(words)
    spaced = gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=False)) + gaps[-1]
    terms = names.index_terms(plain)
    assert names.index_terms(plain.upper()) == terms
    assert names.index_terms(plain.title()) == terms
    assert names.index_terms(spaced) == terms
    assert names.index_terms(plain.replace("ё", "е")) == terms
    assert names.compatible(plain, spaced.upper())
