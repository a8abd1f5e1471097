"""Partial dates: parsing of EDTF and Russian/English forms, Excel serials, interval semantics."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kartoteka.lib.partialdate import (
    DatePoint,
    PartialDate,
    PartialDateError,
    Precision,
    from_excel_serial,
    parse,
)

# --- strategies ---------------------------------------------------------------------------------------

days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@st.composite
def points(draw: st.DrawFn) -> DatePoint:
    day = draw(days)
    precision = draw(st.sampled_from([Precision.DAY, Precision.MONTH, Precision.YEAR]))
    if precision is Precision.YEAR:
        return DatePoint(day.year)
    if precision is Precision.MONTH:
        return DatePoint(day.year, day.month)
    return DatePoint(day.year, day.month, day.day)


@st.composite
def partial_dates(draw: st.DrawFn) -> PartialDate:
    if draw(st.integers(0, 9)) == 0:
        return PartialDate.unknown()
    a, b = draw(points()), draw(points())
    if a.first() > b.last():
        a, b = b, a
    start = a
    end = a if draw(st.booleans()) else b
    if start.first() > end.last():
        end = start
    return PartialDate(start, end, uncertain=draw(st.booleans()), approximate=draw(st.booleans()))


# --- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "edtf", "precision"),
    [
        ("2023-04-10", "2023-04-10", Precision.DAY),
        ("2023-04", "2023-04", Precision.MONTH),
        ("2023", "2023", Precision.YEAR),
        ("2023-04/2023-06", "2023-04/2023-06", Precision.RANGE),
        ("2023?", "2023?", Precision.YEAR),
        ("2023-04~", "2023-04~", Precision.MONTH),
        ("2023%", "2023%", Precision.YEAR),
        ("", "XXXX", Precision.UNKNOWN),
        ("XXXX", "XXXX", Precision.UNKNOWN),
        ("10.04.2023", "2023-04-10", Precision.DAY),
        ("1.2.1975", "1975-02-01", Precision.DAY),
        ("апрель 2023", "2023-04", Precision.MONTH),
        ("апреля 2023", "2023-04", Precision.MONTH),
        ("в апреле 2023 г.", "2023-04", Precision.MONTH),
        ("04.2023", "2023-04", Precision.MONTH),
        ("2023 г.", "2023", Precision.YEAR),
        ("в 2023 году", "2023", Precision.YEAR),
        ("весна 2023", "2023-03/2023-05", Precision.RANGE),
        ("летом 2023", "2023-06/2023-08", Precision.RANGE),
        ("осень 2023", "2023-09/2023-11", Precision.RANGE),
        ("зима 2023", "2022-12/2023-02", Precision.RANGE),
        ("зима 2022/2023", "2022-12/2023-02", Precision.RANGE),
        ("Зима 2022–2023", "2022-12/2023-02", Precision.RANGE),
        ("10 апреля 2023 года", "2023-04-10", Precision.DAY),
        ("10 АПРЕЛЯ 2023г.", "2023-04-10", Precision.DAY),
        ("1 сент. 2023", "2023-09-01", Precision.DAY),
        ("April 2023", "2023-04", Precision.MONTH),
        ("10 Apr 2023", "2023-04-10", Precision.DAY),
        ("Apr 10, 2023", "2023-04-10", Precision.DAY),
        ("10th of April 2023", "2023-04-10", Precision.DAY),
        ("spring 2023", "2023-03/2023-05", Precision.RANGE),
        ("2023-21", "2023-03/2023-05", Precision.RANGE),
        ("2023-24", "2022-12/2023-02", Precision.RANGE),
        ("2023-XX", "2023", Precision.YEAR),
        ("2023-04-XX", "2023-04", Precision.MONTH),
        ("201X", "2010/2019", Precision.RANGE),
        ("около 2023", "2023~", Precision.YEAR),
        ("примерно весна 2023", "2023-03~/2023-05~", Precision.RANGE),
        ("апрель–июнь 2023", "2023-04/2023-06", Precision.RANGE),
        ("10–15.05.2023", "2023-05-10/2023-05-15", Precision.RANGE),
        ("10.04–15.05.2023", "2023-04-10/2023-05-15", Precision.RANGE),
        ("10 - 15 апреля 2023", "2023-04-10/2023-04-15", Precision.RANGE),
        ("с 10 апреля по 15 мая 2023 г.", "2023-04-10/2023-05-15", Precision.RANGE),
        ("2022-2023", "2022/2023", Precision.RANGE),
        ("2023-04-10 — 2023-05-01", "2023-04-10/2023-05-01", Precision.RANGE),
        ("2023-04/2023", "2023-04/2023", Precision.RANGE),
        ("29.02.2024", "2024-02-29", Precision.DAY),
        ("2023-04/2023-04", "2023-04", Precision.MONTH),
    ],
)
def test_it_parses_edtf_russian_and_english_forms(text: str, edtf: str, precision: Precision) -> None:
    parsed = parse(text, reference_year=2025)
    assert parsed.to_edtf() == edtf
    assert parsed.precision is precision


@pytest.mark.parametrize(
    ("text", "reference_year", "year"),
    [("10.04.23", 2025, 2023), ("10.04.25", 2025, 2025), ("10.04.26", 2025, 1926), ("10.04.75", 2025, 1975)],
)
def test_it_resolves_two_digit_years_against_the_reference_year(
    text: str, reference_year: int, year: int
) -> None:
    assert parse(text, reference_year=reference_year).earliest() == date(year, 4, 10)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("31.02.2023", "invalid_day"),
        ("29.02.2023", "invalid_day"),
        ("2023-02-29", "invalid_day"),
        ("32.01.2023", "invalid_day"),
        ("31 апреля 2023", "invalid_day"),
        ("13.2023", "invalid_month"),
        ("2023-13", "invalid_month"),
        ("10.13.2023", "invalid_month"),
        ("0000", "invalid_year"),
        ("июнь–апрель 2023", "range_reversed"),
        ("2023-06/2023-04", "range_reversed"),
        ("10/04/2023", "ambiguous_slash_date"),
        ("апрель", "missing_year"),
        ("10 апреля", "missing_year"),
        ("лето 2022/2023", "season_years"),
        ("зима 2021/2023", "season_years"),
        ("вчера", "unrecognised"),
        ("2023-04-10T12:00", "unrecognised"),
    ],
)
def test_it_rejects_impossible_or_unreadable_dates_with_a_reason_code(text: str, code: str) -> None:
    with pytest.raises(PartialDateError) as caught:
        parse(text, reference_year=2025)
    assert caught.value.code == code
    assert caught.value.message("ru") != caught.value.message("en")
    assert caught.value.message("ru")
    assert caught.value.message("en")


def test_it_keeps_the_input_text_out_of_error_messages() -> None:
    # A mis-mapped spreadsheet column may hand us a name instead of a date.
    for text in ("Петров Пётр Петрович", "Петров 31.02.2023"):
        with pytest.raises(PartialDateError) as caught:
            parse(text)
        for message in (caught.value.message_ru, caught.value.message_en, str(caught.value)):
            assert "Петров" not in message


@given(days)
def test_it_reads_russian_dotted_dates_as_the_same_day(day: date) -> None:
    assert parse(f"{day.day:02d}.{day.month:02d}.{day.year}") == PartialDate.from_date(day)
    assert parse(f"{day.day}.{day.month}.{day.year}") == PartialDate.from_date(day)


@given(partial_dates())
def test_it_round_trips_through_edtf(value: PartialDate) -> None:
    assert parse(value.to_edtf()) == value


@given(partial_dates(), st.sampled_from(["ru", "en"]))
def test_it_parses_its_own_display_form_back(value: PartialDate, lang: str) -> None:
    assert lang in ("ru", "en")
    shown = value.display("ru" if lang == "ru" else "en")
    assert parse(shown) == value


# --- Excel --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (1, date(1900, 1, 1)),
        (59, date(1900, 2, 28)),
        (61, date(1900, 3, 1)),
        (44927, date(2023, 1, 1)),
        (45026, date(2023, 4, 10)),
        (45026.99, date(2023, 4, 10)),
    ],
)
def test_it_reads_excel_1900_serials_including_the_leap_year_bug(serial: float, expected: date) -> None:
    assert from_excel_serial(serial) == PartialDate.from_date(expected)


def test_it_agrees_between_the_excel_1900_and_1904_systems() -> None:
    # Both systems name the same day for serials 1462 apart, from 1 March 1900 on.
    for serial in range(1462 + 61, 80_000, 997):
        assert from_excel_serial(serial) == from_excel_serial(serial - 1462, date1904=True)
    consecutive = [from_excel_serial(n).earliest() or date.min for n in range(61, 2000)]
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(consecutive))


@pytest.mark.parametrize(
    ("serial", "code"),
    [
        (60, "excel_phantom_leap_day"),
        (0, "excel_serial_invalid"),
        (-5, "excel_serial_invalid"),
        (float("nan"), "excel_serial_invalid"),
        (float("inf"), "excel_serial_invalid"),
        (10**9, "excel_serial_invalid"),
        (True, "excel_serial_invalid"),
    ],
)
def test_it_rejects_serials_that_are_not_days(serial: float, code: str) -> None:
    with pytest.raises(PartialDateError) as caught:
        from_excel_serial(serial)
    assert caught.value.code == code


# --- interval semantics -------------------------------------------------------------------------------


def test_it_treats_a_partial_date_as_the_interval_of_days_it_covers() -> None:
    spring = parse("весна 2023")
    assert (spring.earliest(), spring.latest()) == (date(2023, 3, 1), date(2023, 5, 31))
    assert spring.contains(date(2023, 4, 10))
    assert not spring.contains(date(2023, 6, 1))
    assert spring.contains(parse("апрель 2023"))
    assert not spring.contains(parse("2023"))
    assert spring.overlaps(parse("2023"))
    assert parse("зима 2023").contains(date(2022, 12, 15))
    assert parse("2024-02").latest() == date(2024, 2, 29)
    assert parse("2022").definitely_before(spring)
    assert not parse("2023").definitely_before(spring)


def test_it_never_claims_anything_about_an_unknown_date() -> None:
    unknown, known = PartialDate.unknown(), parse("2023")
    assert (unknown.earliest(), unknown.latest()) == (None, None)
    assert not unknown.contains(date(2023, 1, 1))
    assert not unknown.overlaps(known)
    assert not known.overlaps(unknown)
    assert not known.contains(unknown)
    assert not unknown.definitely_before(known)
    assert not known.definitely_before(unknown)


@given(partial_dates(), partial_dates())
def test_it_keeps_overlap_containment_and_order_consistent(a: PartialDate, b: PartialDate) -> None:
    assert a.overlaps(b) == b.overlaps(a)
    if a.contains(b):
        assert a.overlaps(b)
    if a.definitely_before(b):
        assert not a.overlaps(b)
        assert not b.definitely_before(a)
        assert a.sort_key() < b.sort_key()
    if a.is_known and b.is_known:
        assert a.overlaps(b) or a.definitely_before(b) or b.definitely_before(a)


@given(partial_dates(), days)
def test_it_contains_a_day_exactly_when_it_overlaps_that_day(value: PartialDate, day: date) -> None:
    single = PartialDate.from_date(day)
    assert value.contains(day) == value.overlaps(single) == value.contains(single)


def test_it_sorts_by_earliest_day_then_latest_with_unknown_last() -> None:
    texts = ["XXXX", "2023", "2023-04-10", "весна 2023", "2022", "2023-04", "2023-04-10?"]
    ordered = [p.to_edtf() for p in sorted((parse(t) for t in texts), key=PartialDate.sort_key)]
    assert ordered == ["2022", "2023", "2023-03/2023-05", "2023-04", "2023-04-10", "2023-04-10?", "XXXX"]


def test_it_compares_representations_not_intervals_with_equality() -> None:
    month = parse("2023-04")
    spelled_out = parse("2023-04-01/2023-04-30")
    assert month != spelled_out
    assert (month.earliest(), month.latest()) == (spelled_out.earliest(), spelled_out.latest())
    assert month == parse("апрель 2023")
    assert len({month, parse("04.2023"), spelled_out}) == 2


def test_it_is_immutable_and_validates_direct_construction() -> None:
    value = parse("2023-04-10")
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.uncertain = True  # type: ignore[misc]
    with pytest.raises(PartialDateError) as caught:
        PartialDate.of(2023, 2, 30)
    assert caught.value.code == "invalid_day"
    with pytest.raises(PartialDateError) as caught:
        PartialDate(DatePoint(2023), None)
    assert caught.value.code == "open_range"
    with pytest.raises(PartialDateError) as caught:
        PartialDate(uncertain=True)
    assert caught.value.code == "qualified_unknown"
