"""The ledger evaluator against shared/reference/ledger-scenarios.md (scenarios 1–14) and further cases.

Each scenario test asserts the statuses, due dates and amounts the scenario table gives, and that the
explanation mentions what the scenario says it must mention. No Django: the engine is pure.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kartoteka.law import (
    Delivery,
    Facts,
    Ledger,
    LedgerLine,
    LineStatus,
    Promise,
    RegimeSet,
    ServiceEvent,
    StatusEntry,
    evaluate,
)
from kartoteka.lib.partialdate import PartialDate, parse

S = LineStatus


@pytest.fixture(scope="module")
def regimes() -> RegimeSet:
    return RegimeSet.load()


def d(text: str) -> PartialDate:
    return parse(text)


def rub(n: int) -> Decimal:
    return Decimal(n)


def one(ledger: Ledger, kind: str, sequence: int = 0) -> LedgerLine:
    found = [line for line in ledger.lines if line.kind == kind and line.sequence == sequence]
    assert len(found) == 1, f"{kind}#{sequence}: {[(x.kind, x.sequence, x.status) for x in ledger.lines]}"
    return found[0]


def both(line: LedgerLine) -> str:
    return line.explanation_en + "\n" + line.explanation_ru


def no_broken(ledger: Ledger) -> None:
    assert S.BROKEN not in ledger.statuses()


# --- the reference scenarios ----------------------------------------------------------------------------


def test_it_scenario_01_wagner_pardon_kept_and_monthly_pay_overdue(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2022-09-15"),
        legal_status="convicted",
        recruiter="wagner",
        status_history=(StatusEntry("returned", d("2023-03-20")),),
        promises=(
            Promise("pardon", "pardon", condition="after_6_months"),
            Promise("pay", "monthly_pay", rub(100_000), "monthly"),
        ),
        deliveries=(Delivery("pardon", "delivered", None, d("2023-03")),),
    )
    ledger = evaluate(facts, as_of=date(2024, 1, 1), regimes=regimes)
    pardon = one(ledger, "pardon")
    assert pardon.status is S.KEPT
    assert pardon.due == d("2023-03-15")
    assert pardon.regime_id == "wagner-2022"
    assert "2023-03-15" in pardon.explanation_en
    assert "W-2022" in pardon.explanation_en
    assert "[C]" in pardon.explanation_en
    pay = ledger.by_kind("monthly_pay")
    assert [line.due for line in pay] == [
        d(x) for x in ("2022-10-15", "2022-11-15", "2022-12-15", "2023-01-15", "2023-02-15", "2023-03-15")
    ]
    assert all(line.status is S.OVERDUE for line in pay)
    assert all(line.amount_missing == rub(100_000) for line in pay)
    assert all("[R]" in line.explanation_en and "R" in line.confidence for line in pay)
    no_broken(ledger)


def test_it_scenario_02_wagner_death_compensation_overdue_not_broken(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2022-10-01"),
        legal_status="convicted",
        recruiter="wagner",
        events=(ServiceEvent("death", d("2022-12-10")),),
        promises=(Promise("death", "death_compensation", rub(5_000_000), "on_death"),),
    )
    ledger = evaluate(facts, as_of=date(2024, 1, 1), regimes=regimes)
    line = one(ledger, "death_compensation")
    assert line.status is S.OVERDUE
    assert line.due == d("2022-12-10")
    assert line.amount_due == rub(5_000_000)
    assert "2022-12-10" in line.explanation_en
    assert "[R]" in line.explanation_en
    assert line.promise_ids == ("death",)
    no_broken(ledger)
    # Still overdue, not broken, years later.
    later = evaluate(facts, as_of=date(2030, 1, 1), regimes=regimes)
    assert one(later, "death_compensation").status is S.OVERDUE
    no_broken(later)


def test_it_scenario_03_storm_z_pardon_kept_injury_payment_beyond_the_law(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2023-04-10"),
        legal_status="convicted",
        recruiter="mod_storm_z",
        events=(ServiceEvent("wound", d("2023-07-01")),),
        promises=(
            Promise("inj", "injury_payment", rub(3_000_000), "on_wound"),
            Promise("pardon", "pardon", condition="after_6_months"),
        ),
        deliveries=(Delivery("pardon", "delivered", None, d("2023-10")),),
    )
    ledger = evaluate(facts, as_of=date(2024, 1, 1), regimes=regimes)
    pardon = one(ledger, "pardon")
    assert pardon.status is S.KEPT
    assert pardon.due == d("2023-10-10")
    assert "Z-2023" in pardon.explanation_en
    assert "[C]" in pardon.explanation_en
    injury = one(ledger, "injury_payment")
    assert injury.status is S.BEYOND_THE_LAW
    assert "no insurance payouts" in injury.explanation_en
    assert "[C]" in injury.explanation_en
    assert "страховых выплат" in injury.explanation_ru


def test_it_scenario_04_storm_v_conditional_release_not_pardon(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2023-11-01"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        promises=(
            Promise("pardon", "pardon", condition="after_6_months"),
            Promise("home", "fixed_term_return", condition="after_12_months"),
            Promise("cr", "conditional_release", condition="on_signing"),
        ),
        deliveries=(Delivery("cr", "delivered", None, d("2023-11-01")),),
    )
    ledger = evaluate(facts, as_of=date(2024, 6, 1), regimes=regimes)
    release = one(ledger, "conditional_release")
    assert release.status is S.KEPT
    assert "270-FZ" in release.explanation_en
    assert "[C]" in release.explanation_en
    pardon = one(ledger, "pardon")
    assert pardon.status is S.BEYOND_THE_LAW
    assert "conditional release" in pardon.explanation_en
    assert "not a pardon" in pardon.explanation_en
    cleared = one(ledger, "record_cleared")
    assert cleared.status is S.PENDING
    assert set(cleared.trigger_pending) == {"state_award", "discharge"}
    assert "State award" in cleared.explanation_en
    assert "Discharge" in cleared.explanation_en
    home = one(ledger, "fixed_term_return")
    assert home.status is S.BEYOND_THE_LAW
    assert "renew automatically" in home.explanation_en
    assert "Decree No. 647" in home.explanation_en
    assert "point 4" in home.explanation_en
    assert "[C]" in home.explanation_en


def test_it_scenario_05_64fz_award_makes_final_release_overdue(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-05-10"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        events=(ServiceEvent("state_award", d("2024-09-01")),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    assert ledger.regime_id == "fz64-2024"
    final = one(ledger, "record_cleared")
    assert final.status is S.OVERDUE
    assert final.due == d("2024-09-01")
    assert "2024-09-01" in final.explanation_en
    assert "80.2" in final.explanation_en
    assert "86" in final.explanation_en
    assert "[C]" in final.explanation_en
    assert "final release" in final.explanation_en
    no_broken(ledger)


def test_it_scenario_06_78_1_release_kept_and_notes_the_delay(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-04-15"),
        legal_status="suspect",
        recruiter="pretrial_contract",
        events=(ServiceEvent("discharge", d("2025-02-01"), "health"),),
        promises=(Promise("rel", "release_from_liability"),),
        deliveries=(Delivery("rel", "delivered", None, d("2025-03-10")),),
    )
    ledger = evaluate(facts, as_of=date(2025, 6, 1), regimes=regimes)
    line = one(ledger, "release_from_liability")
    assert line.status is S.KEPT
    assert line.due == d("2025-02-01")
    assert "78.1" in line.explanation_en
    assert "[C]" in line.explanation_en
    assert "37 days" in line.explanation_en
    assert "37 дн." in line.explanation_ru


def test_it_scenario_07_defendant_on_trial_before_340fz_is_a_legal_question(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-08-01"),
        legal_status="on_trial",
        recruiter="pretrial_contract",
        promises=(Promise("drop", "case_dropped"),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    line = one(ledger, "release_from_liability")
    assert line.status is S.UNKNOWN
    assert line.legal_question
    assert line.promise_ids == ("drop",)
    assert {r.regime_id for r in line.readings} == {"fz64-2024", "fz340-2024"}
    by_regime = {r.regime_id: r for r in line.readings}
    assert by_regime["fz64-2024"].status is S.NOT_APPLICABLE
    assert by_regime["fz340-2024"].status is S.PENDING
    text = line.explanation_en
    assert "legal question" in text
    assert "2024-10-02" in text
    assert "not defendants whose trial is already under way" in text
    assert "No transition rule" in text
    assert "neither is chosen" in text
    assert "transition_rule" in line.missing_facts


def test_it_scenario_08_excluded_offence(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-06-01"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        articles=("134",),
        promises=(Promise("cr", "conditional_release", condition="on_signing"),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    release = one(ledger, "conditional_release")
    assert release.status is S.BEYOND_THE_LAW
    cleared = one(ledger, "record_cleared")
    assert cleared.status is S.NOT_APPLICABLE
    for line in (release, cleared):
        assert "[R]" in line.explanation_en
        assert "[U]" in line.explanation_en
        assert "exact list of excluded articles is unconfirmed" in line.explanation_en
        assert {"R", "U"} <= set(line.confidence)


def test_it_scenario_09_decree_644_signup_payment_overdue(regimes: RegimeSet) -> None:
    facts = Facts(signed=d("2024-09-15"), legal_status="convicted", recruiter="mod_storm_v", term_months=12)
    ledger = evaluate(facts, as_of=date(2025, 1, 10), regimes=regimes)
    line = one(ledger, "signup_bonus")
    assert line.status is S.OVERDUE
    assert line.due == d("2024-09-15")
    assert line.amount_due == rub(400_000)
    assert line.amount_missing == rub(400_000)
    assert "Decree No. 644 of 31 Jul 2024" in line.explanation_en
    assert "1 Aug – 31 Dec 2024" in line.explanation_en
    assert "[C]" in line.explanation_en
    assert not ledger.by_kind("monthly_pay")  # pay lines wait for a recorded pay promise


def test_it_scenario_10_no_signup_payment_in_custody_from_2025(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2025-02-01"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        in_custody_on_signing=True,
        term_months=12,
        promises=(Promise("bonus", "signup_bonus", rub(400_000), "on_signing"),),
    )
    ledger = evaluate(facts, as_of=date(2025, 6, 1), regimes=regimes)
    line = one(ledger, "signup_bonus")
    assert line.status is S.BEYOND_THE_LAW
    assert "28 Dec 2024" in line.explanation_en
    assert "[C]" in line.explanation_en
    assert "number is unconfirmed [U]" in line.explanation_en


def test_it_scenario_11_signup_payment_partly_kept(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2022-12-20"),
        recruiter="other",
        term_months=12,
        promises=(Promise("bonus", "signup_bonus", None, "on_signing"),),
        deliveries=(Delivery("bonus", "delivered", rub(100_000), d("2023-01-15")),),
    )
    ledger = evaluate(facts, as_of=date(2023, 6, 1), regimes=regimes)
    line = one(ledger, "signup_bonus")
    assert line.status is S.PARTLY_KEPT
    assert line.amount_due == rub(195_000)
    assert line.amount_delivered == rub(100_000)
    assert line.amount_missing == rub(95_000)
    assert "Decree No. 787 of 2 Nov 2022" in line.explanation_en
    assert "[C]" in line.explanation_en
    assert "missing 95,000 RUB" in line.explanation_en
    assert "95\u00a0000\u00a0руб." in line.explanation_ru


def test_it_scenario_12_new_offence_voids_record_clearing(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2023-12-01"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        events=(ServiceEvent("new_offence", d("2024-07-15")),),
        promises=(Promise("cr", "conditional_release", condition="on_signing"),),
        deliveries=(Delivery("cr", "delivered", None, d("2023-12-01")),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    assert one(ledger, "conditional_release").status is S.KEPT
    cleared = one(ledger, "record_cleared")
    assert cleared.status is S.NOT_APPLICABLE
    assert "earlier sentence into account" in cleared.explanation_en
    assert "[R]" in cleared.explanation_en
    assert "2024-07-15" in cleared.explanation_en
    # The event falls after 270-FZ's repeal: judged under 64-FZ by the (uncertain) transition rule.
    assert "270fz-events-under-64fz" in cleared.explanation_en
    assert "U" in cleared.confidence
    assert dict(cleared.versions).keys() >= {"storm-v-270fz-2023", "fz64-2024", "transitions"}


def test_it_scenario_13_year_only_signing_and_unknown_recruiter(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2023"),
        legal_status="convicted",
        recruiter="unknown",
        promises=(Promise("pardon", "pardon", condition="after_6_months"),),
    )
    ledger = evaluate(facts, as_of=date(2024, 6, 1), regimes=regimes)
    assert ledger.lines
    assert all(line.status is S.UNKNOWN for line in ledger.lines)
    assert all("recruiter" in line.missing_facts for line in ledger.lines)
    pardon = one(ledger, "pardon")
    assert pardon.missing_facts[:2] == ("recruiter", "signing_month")
    assert "the signing month" in pardon.explanation_en
    assert "the recruiter" in pardon.explanation_en
    for short in ("Z-2023", "V-2023"):
        assert short in pardon.explanation_en


def test_it_scenario_14_monthly_pay_until_missing(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-01-01"),
        legal_status="convicted",
        recruiter="mod_storm_v",
        events=(ServiceEvent("missing", d("2024-04-10")),),
        promises=(Promise("pay", "monthly_pay", rub(204_000), "monthly"),),
        deliveries=(
            Delivery("pay", "delivered", rub(204_000), d("2024-02-05")),
            Delivery("pay", "delivered", rub(150_000), d("2024-03-05")),
        ),
    )
    ledger = evaluate(facts, as_of=date(2024, 5, 15), regimes=regimes)
    pay = ledger.by_kind("monthly_pay")
    assert [line.due for line in pay] == [d("2024-02-01"), d("2024-03-01"), d("2024-04-01")]
    assert [line.status for line in pay] == [S.KEPT, S.PARTLY_KEPT, S.OVERDUE]
    assert pay[1].amount_missing == rub(54_000)
    assert pay[2].amount_missing == rub(204_000)
    assert "2024-04-10" in pay[-1].explanation_en
    assert "Missing in action" in pay[-1].explanation_en
    assert "no pay is due for later months" in pay[-1].explanation_en


# --- further cases -----------------------------------------------------------------------------------------


def _storm_v(signed: str, **kw: object) -> Facts:
    base: dict[str, object] = {"legal_status": "convicted", "recruiter": "mod_storm_v", "term_months": 12}
    base.update(kw)
    return Facts(signed=d(signed), **base)  # type: ignore[arg-type]


def test_it_uses_270fz_on_its_last_day_and_64fz_the_day_after(regimes: RegimeSet) -> None:
    assert evaluate(_storm_v("2024-03-22"), as_of=date(2025, 1, 1), regimes=regimes).regime_id == (
        "storm-v-270fz-2023"
    )
    assert evaluate(_storm_v("2024-03-23"), as_of=date(2025, 1, 1), regimes=regimes).regime_id == "fz64-2024"


def test_it_starts_storm_v_on_270fz_day_and_not_before(regimes: RegimeSet) -> None:
    before = evaluate(_storm_v("2023-06-23"), as_of=date(2024, 1, 1), regimes=regimes)
    assert before.regime_id is None
    assert not before.by_kind("conditional_release")
    on = evaluate(_storm_v("2023-06-24"), as_of=date(2024, 1, 1), regimes=regimes)
    assert on.regime_id == "storm-v-270fz-2023"


def test_it_covers_wagner_from_first_to_last_known_recruitment_day(regimes: RegimeSet) -> None:
    def regime_on(day: str) -> str | None:
        facts = Facts(signed=d(day), legal_status="convicted", recruiter="wagner")
        return evaluate(facts, as_of=date(2024, 1, 1), regimes=regimes).regime_id

    assert regime_on("2022-06-30") is None
    assert regime_on("2022-07-01") == "wagner-2022"
    assert regime_on("2023-02-07") == "wagner-2022"
    assert regime_on("2023-02-08") is None


def test_it_switches_signup_amount_between_31_jul_and_1_aug_2024(regimes: RegimeSet) -> None:
    last = one(evaluate(_storm_v("2024-07-31"), as_of=date(2025, 1, 1), regimes=regimes), "signup_bonus")
    first = one(evaluate(_storm_v("2024-08-01"), as_of=date(2025, 1, 1), regimes=regimes), "signup_bonus")
    assert (last.amount_due, first.amount_due) == (rub(195_000), rub(400_000))
    assert "Decree No. 787" in last.explanation_en
    assert "Decree No. 644" in first.explanation_en


def test_it_gives_no_signup_payment_before_21_sep_2022(regimes: RegimeSet) -> None:
    facts = Facts(signed=d("2022-09-20"), recruiter="other", term_months=12)
    assert not evaluate(facts, as_of=date(2023, 1, 1), regimes=regimes).by_kind("signup_bonus")
    facts = Facts(signed=d("2022-09-21"), recruiter="other", term_months=12)
    assert one(evaluate(facts, as_of=date(2023, 1, 1), regimes=regimes), "signup_bonus").status is S.OVERDUE


def test_it_requires_a_one_year_contract_for_the_signup_payment(regimes: RegimeSet) -> None:
    short = _storm_v("2024-09-15", term_months=6)
    assert not evaluate(short, as_of=date(2025, 1, 1), regimes=regimes).by_kind("signup_bonus")


def test_it_applies_the_custody_cutoff_only_from_1_jan_2025(regimes: RegimeSet) -> None:
    dec = _storm_v("2024-12-31", in_custody_on_signing=True)
    jan = _storm_v("2025-01-01", in_custody_on_signing=True)
    assert one(evaluate(dec, as_of=date(2025, 6, 1), regimes=regimes), "signup_bonus").status is S.OVERDUE
    cut = one(evaluate(jan, as_of=date(2025, 6, 1), regimes=regimes), "signup_bonus")
    assert cut.status is S.NOT_APPLICABLE
    assert cut.amount_due is None


def test_it_asks_whether_in_custody_when_2025_signup_depends_on_it(regimes: RegimeSet) -> None:
    line = one(evaluate(_storm_v("2025-03-01"), as_of=date(2025, 6, 1), regimes=regimes), "signup_bonus")
    assert line.status is S.UNKNOWN
    assert line.missing_facts == ("in_custody_on_signing",)
    assert {r.status for r in line.readings} == {S.PENDING, S.NOT_APPLICABLE}
    free = _storm_v("2025-03-01", in_custody_on_signing=False)
    settled = one(evaluate(free, as_of=date(2025, 6, 1), regimes=regimes), "signup_bonus")
    assert settled.status is S.OVERDUE
    assert "U" in settled.confidence  # the 2025 continuation is itself unconfirmed


def test_it_names_the_missing_day_when_a_month_straddles_two_regimes(regimes: RegimeSet) -> None:
    ledger = evaluate(
        _storm_v("2024-03", promises=(Promise("cr", "conditional_release"),)),
        as_of=date(2025, 1, 1),
        regimes=regimes,
    )
    assert ledger.regime_id is None
    assert ledger.missing_facts == ("signing_day",)
    line = one(ledger, "conditional_release")
    assert line.status is S.UNKNOWN
    assert "the exact signing day" in line.explanation_en
    assert "V-2023" in line.explanation_en
    assert "A-2024" in line.explanation_en


def test_it_settles_a_month_precision_signing_inside_one_regime(regimes: RegimeSet) -> None:
    ledger = evaluate(_storm_v("2024-05"), as_of=date(2025, 1, 1), regimes=regimes)
    assert ledger.regime_id == "fz64-2024"
    release = one(ledger, "conditional_release")
    assert release.due == d("2024-05")
    assert release.status is S.OVERDUE


def test_it_treats_month_precision_due_dates_as_pending_within_the_month(regimes: RegimeSet) -> None:
    ledger = evaluate(_storm_v("2024-05"), as_of=date(2024, 5, 20), regimes=regimes)
    assert one(ledger, "conditional_release").status is S.PENDING


def test_it_asks_for_the_signing_date_when_unknown(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=PartialDate.unknown(),
        legal_status="convicted",
        recruiter="mod_storm_v",
        promises=(Promise("cr", "conditional_release"),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    assert ledger.regime_id is None
    assert "signing_date" in ledger.missing_facts
    assert all(line.status is S.UNKNOWN for line in ledger.lines)


def test_it_asks_for_legal_status_when_it_decides_the_regime(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-11-01"),
        recruiter="pretrial_contract",
        promises=(Promise("rel", "release_from_liability"),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    assert ledger.regime_id is None
    assert "legal_status" in ledger.missing_facts
    assert one(ledger, "release_from_liability").status is S.UNKNOWN


def test_it_applies_340fz_to_defendants_who_sign_after_2_oct_2024(regimes: RegimeSet) -> None:
    on = Facts(signed=d("2024-10-02"), legal_status="on_trial", recruiter="pretrial_contract")
    before = Facts(signed=d("2024-10-01"), legal_status="on_trial", recruiter="pretrial_contract")
    after = evaluate(on, as_of=date(2025, 1, 1), regimes=regimes)
    assert after.regime_id == "fz340-2024"
    line = one(after, "release_from_liability")
    assert line.status is S.PENDING
    assert not line.legal_question
    earlier = one(evaluate(before, as_of=date(2025, 1, 1), regimes=regimes), "release_from_liability")
    assert earlier.legal_question
    assert earlier.status is S.UNKNOWN


def test_it_shows_no_340fz_reading_before_340fz_exists(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2024-08-01"),
        legal_status="on_trial",
        recruiter="pretrial_contract",
        promises=(Promise("drop", "case_dropped"),),
    )
    ledger = evaluate(facts, as_of=date(2024, 9, 1), regimes=regimes)
    line = one(ledger, "case_dropped")
    assert line.status is S.UNKNOWN
    assert not line.legal_question
    assert "regime_file" in line.missing_facts


def test_it_matches_excluded_article_parts_but_not_neighbours(regimes: RegimeSet) -> None:
    excluded = evaluate(_storm_v("2024-06-01", articles=("205.1",)), as_of=date(2025, 1, 1), regimes=regimes)
    assert one(excluded, "conditional_release").status is S.NOT_APPLICABLE
    allowed = evaluate(_storm_v("2024-06-01", articles=("158.3",)), as_of=date(2025, 1, 1), regimes=regimes)
    release = one(allowed, "conditional_release")
    assert release.status is S.OVERDUE
    assert "not checked" not in release.explanation_en
    assert (
        "excluded offences were not checked"
        in one(
            evaluate(_storm_v("2024-06-01"), as_of=date(2025, 1, 1), regimes=regimes), "conditional_release"
        ).explanation_en
    )


def test_it_voids_record_clearing_after_a_new_offence_under_64fz(regimes: RegimeSet) -> None:
    facts = _storm_v(
        "2024-05-01",
        events=(ServiceEvent("new_offence", d("2024-08-01")), ServiceEvent("state_award", d("2024-09-01"))),
    )
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "record_cleared")
    assert line.status is S.NOT_APPLICABLE
    assert "R" in line.confidence


def test_it_keeps_270fz_for_a_new_offence_before_its_repeal(regimes: RegimeSet) -> None:
    # 270-FZ (as recorded) attaches nothing to a new offence; the transition rule only reaches later events.
    facts = _storm_v("2023-09-01", events=(ServiceEvent("new_offence", d("2024-01-10")),))
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "record_cleared")
    assert line.status is S.PENDING


def test_it_asks_for_the_discharge_ground(regimes: RegimeSet) -> None:
    facts = _storm_v("2024-05-01", events=(ServiceEvent("discharge", d("2024-12-01")),))
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "record_cleared")
    assert line.status is S.UNKNOWN
    assert line.missing_facts == ("discharge_ground",)
    assert "the ground of discharge" in line.explanation_en


def test_it_does_not_clear_the_record_on_discharge_for_a_prison_sentence(regimes: RegimeSet) -> None:
    facts = _storm_v("2024-05-01", events=(ServiceEvent("discharge", d("2024-12-01"), "prison_sentence"),))
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "record_cleared")
    assert line.status is S.NOT_APPLICABLE


def test_it_owes_the_statutory_death_payment_to_a_contract_soldiers_family(regimes: RegimeSet) -> None:
    facts = _storm_v("2024-05-01", status_history=(StatusEntry("killed", d("2024-10-03")),))
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    line = one(ledger, "death_compensation")
    assert line.status is S.OVERDUE
    assert line.due == d("2024-10-03")
    assert line.amount_due == rub(5_000_000)
    assert "Decree No. 996" in line.explanation_en
    assert "12.4 million" in line.explanation_en
    assert "[R]" in line.explanation_en
    assert one(ledger, "record_cleared").status is S.NOT_APPLICABLE  # died before any trigger


def test_it_owes_one_injury_payment_per_wound(regimes: RegimeSet) -> None:
    facts = _storm_v(
        "2024-05-01",
        events=(ServiceEvent("wound", d("2024-07-01")), ServiceEvent("wound", d("2024-11-20"))),
        promises=(Promise("inj", "injury_payment", rub(3_000_000), "on_wound"),),
        deliveries=(Delivery("inj", "delivered", rub(3_000_000), d("2024-08-15")),),
    )
    ledger = evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes)
    first, second = one(ledger, "injury_payment", 1), one(ledger, "injury_payment", 2)
    assert (first.status, second.status) == (S.KEPT, S.OVERDUE)
    assert second.due == d("2024-11-20")
    assert "U" in first.confidence  # the instrument's number is not in the reference notes


def test_it_keeps_a_promised_injury_payment_pending_until_a_wound(regimes: RegimeSet) -> None:
    facts = _storm_v("2024-05-01", promises=(Promise("inj", "injury_payment", rub(3_000_000), "on_wound"),))
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "injury_payment")
    assert line.status is S.PENDING
    assert line.trigger_pending == ("wound",)


def test_it_gives_storm_z_no_death_payment(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2023-05-01"),
        legal_status="convicted",
        recruiter="mod_storm_z",
        events=(ServiceEvent("death", d("2023-06-01")),),
        promises=(Promise("death", "death_compensation", rub(5_000_000), "on_death"),),
    )
    ledger = evaluate(facts, as_of=date(2024, 1, 1), regimes=regimes)
    assert one(ledger, "death_compensation").status is S.BEYOND_THE_LAW
    assert one(ledger, "pardon").status is S.NOT_APPLICABLE  # died before 6 months


def test_it_never_turns_overdue_into_broken_but_a_recorded_refusal_is_broken(regimes: RegimeSet) -> None:
    promise = (Promise("bonus", "signup_bonus", rub(400_000), "on_signing"),)
    facts = _storm_v("2024-09-15", promises=promise)
    for year in (2025, 2027, 2035):
        assert (
            one(evaluate(facts, as_of=date(year, 1, 1), regimes=regimes), "signup_bonus").status is S.OVERDUE
        )
    refused = _storm_v("2024-09-15", promises=promise, deliveries=(Delivery("bonus", "not_delivered"),))
    assert one(evaluate(refused, as_of=date(2025, 1, 1), regimes=regimes), "signup_bonus").status is S.BROKEN
    reversed_ = _storm_v(
        "2024-09-15",
        promises=promise,
        deliveries=(
            Delivery("bonus", "delivered", rub(400_000), d("2024-10-01")),
            Delivery("bonus", "reversed", rub(400_000), d("2024-11-01")),
        ),
    )
    line = one(evaluate(reversed_, as_of=date(2025, 1, 1), regimes=regimes), "signup_bonus")
    assert line.status is S.BROKEN
    assert line.amount_delivered == rub(0)


def test_it_says_when_a_promise_beyond_the_law_was_delivered_by_another_route(regimes: RegimeSet) -> None:
    facts = _storm_v(
        "2023-11-01",
        promises=(Promise("pardon", "pardon", condition="after_6_months"),),
        deliveries=(Delivery("pardon", "delivered", None, d("2024-06-01")),),
    )
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "pardon")
    assert line.status is S.BEYOND_THE_LAW
    assert "by some other route" in line.explanation_en
    assert "2024-06-01" in line.explanation_en


def test_it_marks_a_promise_no_regime_addresses_as_unknown(regimes: RegimeSet) -> None:
    facts = _storm_v("2024-06-01", promises=(Promise("reg", "regional_bonus", rub(400_000)),))
    line = one(evaluate(facts, as_of=date(2025, 1, 1), regimes=regimes), "regional_bonus")
    assert line.status is S.UNKNOWN
    assert line.missing_facts == ("legal_basis",)


def test_it_stops_wagner_pay_at_the_six_month_term(regimes: RegimeSet) -> None:
    facts = Facts(
        signed=d("2022-09-15"),
        legal_status="convicted",
        recruiter="wagner",
        promises=(Promise("pay", "monthly_pay", rub(100_000), "monthly"),),
    )
    pay = evaluate(facts, as_of=date(2024, 1, 1), regimes=regimes).by_kind("monthly_pay")
    assert len(pay) == 6
    assert "term of service is 6 months" in pay[-1].explanation_en


def test_it_counts_monthly_pay_to_as_of_while_serving_with_month_end_anniversaries(
    regimes: RegimeSet,
) -> None:
    facts = _storm_v("2024-01-31", promises=(Promise("pay", "monthly_pay", rub(195_000), "monthly"),))
    pay = evaluate(facts, as_of=date(2024, 6, 15), regimes=regimes).by_kind("monthly_pay")
    assert [line.due for line in pay] == [
        d(x) for x in ("2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31")
    ]


def test_it_marks_a_month_unknown_when_the_end_of_service_is_only_a_month(regimes: RegimeSet) -> None:
    facts = _storm_v(
        "2024-01-10",
        events=(ServiceEvent("missing", d("2024-04")),),
        promises=(Promise("pay", "monthly_pay", rub(195_000), "monthly"),),
    )
    pay = evaluate(facts, as_of=date(2024, 8, 1), regimes=regimes).by_kind("monthly_pay")
    assert [line.status for line in pay] == [S.OVERDUE, S.OVERDUE, S.UNKNOWN]
    assert pay[-1].missing_facts == ("service_end_date",)


def test_it_gives_every_line_a_provision_mark_and_version(regimes: RegimeSet) -> None:
    facts = _storm_v(
        "2024-04-01",
        events=(ServiceEvent("wound", d("2024-09-03")),),
        promises=(Promise("pay", "monthly_pay", rub(204_000), "monthly"), Promise("p", "pardon")),
    )
    ledger = evaluate(facts, as_of=date(2025, 6, 15), regimes=regimes)
    for line in ledger.lines:
        assert line.provisions, line.kind
        assert line.confidence
        assert set(line.confidence) <= {"C", "R", "U"}
        assert line.regime_version == regimes[line.regime_id or ""].version
        assert any(f"[{m}]" in line.explanation_ru for m in line.confidence)
