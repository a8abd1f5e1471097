"""What `kartoteka estimate` prints: the default estimate first, why it is the default, every method side by
side, then caveats in plain language — in Russian or English.

The default is LCMCR when there are three or more lists and its diagnostics pass (log-linear search
overestimates badly when people differ in how visible they are, which is the rule for these lists); the
stepwise log-linear model if LCMCR fails its diagnostics; Chapman for two lists.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.stats import chi2

from kartoteka.estimation import lcmcr, loglinear, twolist
from kartoteka.estimation.tables import CaptureTable, Estimate, check_same_population

Lang = Literal["ru", "en"]

LABELS: dict[str, tuple[str, str]] = {  # method → (en, ru)
    "chapman": ("Chapman", "Чепмен"),
    "lincoln_petersen": ("Lincoln–Petersen", "Линкольн–Петерсен"),
    "lcmcr": ("LCMCR (Bayesian latent classes)", "LCMCR (байесовская модель латентных классов)"),
    "loglinear_stepwise_aic": ("Log-linear, stepwise by AIC", "Лог-линейная, пошаговый отбор по AIC"),
    "loglinear_stepwise_bic": ("Log-linear, stepwise by BIC", "Лог-линейная, пошаговый отбор по BIC"),
    "loglinear_independence": ("Log-linear, lists independent", "Лог-линейная, списки независимы"),
}

TEXT: dict[str, tuple[str, str]] = {  # key → (en, ru)
    "title": ("Population estimate", "Оценка численности"),
    "population": ("Population", "Совокупность"),
    "period": ("Period", "Период"),
    "lists": ("Lists", "Списки"),
    "observed": ("People on at least one list", "Людей хотя бы в одном списке"),
    "estimate": ("Estimate", "Оценка"),
    "interval": ("95% interval", "95% интервал"),
    "why": ("Why this method", "Почему этот метод"),
    "methods": ("All methods", "Все методы"),
    "caveats": ("Caveats", "Оговорки"),
    "unusable": ("not usable", "непригодна"),
    "strata": ("strata", "страт"),
    "why_two": (
        "Only two lists: Chapman's estimator (less biased than Lincoln–Petersen) is the default.",
        "Списков только два: по умолчанию оценка Чепмена (смещена меньше, чем Линкольна–Петерсена).",
    ),
    "why_lcmcr": (
        "Three or more lists and the sampler converged (R-hat {rhat} < 1.05, effective sample size "
        "{ess} > 400): LCMCR allows people to differ in how likely they are to be listed.",
        "Списков три и более, и сэмплер сошёлся (R-hat {rhat} < 1,05, эффективный размер выборки "
        "{ess} > 400): LCMCR учитывает, что люди по-разному заметны для списков.",
    ),
    "why_loglinear": (
        "Three or more lists but LCMCR did not converge (R-hat {rhat}, effective sample size {ess}); "
        "the stepwise log-linear model is shown instead. Treat it with extra caution.",
        "Списков три и более, но LCMCR не сошёлся (R-hat {rhat}, эффективный размер выборки {ess}); "
        "вместо него — пошаговая лог-линейная модель. Относитесь к ней с особой осторожностью.",
    ),
    "why_fallback": (
        "No model with a stable answer; the independence model is shown and is likely too low.",
        "Ни одна модель не дала устойчивого ответа; показана модель независимости, она, вероятно, занижает.",
    ),
    "dependence_two": (
        "List dependence: with two lists nobody can check whether being on one list makes being on the "
        "other more (or less) likely. If it does, the estimate is too low (or too high).",
        "Зависимость списков: по двум спискам нельзя проверить, не повышает (или понижает) ли попадание в "
        "один список шанс попасть в другой. Если да, оценка занижена (или завышена).",
    ),
    "dependence_found": (
        "List dependence: the lists are not independent (the independence model fits badly: deviance "
        "{dev} on {df} degrees of freedom). Models that ignore this can be far off.",
        "Зависимость списков: списки не независимы (модель независимости плохо описывает данные: девиация "
        "{dev} при {df} степенях свободы). Модели, игнорирующие это, могут сильно ошибаться.",
    ),
    "dependence_ok": (
        "List dependence: the independence model fits acceptably (deviance {dev} on {df} degrees of "
        "freedom), but a good fit cannot rule out dependence that also touches the unseen.",
        "Зависимость списков: модель независимости описывает данные приемлемо (девиация {dev} при {df} "
        "степенях свободы), но это не исключает зависимости, затрагивающей и неучтённых.",
    ),
    "heterogeneity": (
        "Heterogeneity: some people are far easier to document than others (known names, families who "
        "report, facilities under watch). Methods that assume everyone is alike then underestimate.",
        "Неоднородность: одних людей задокументировать намного проще, чем других (известные имена, "
        "родственники, которые сообщают, колонии под наблюдением). Методы, считающие всех одинаковыми, "
        "тогда занижают.",
    ),
    "spread": (
        "The methods disagree: usable estimates range from {low} to {high}; the spread is itself a measure "
        "of how much the answer depends on assumptions.",
        "Методы расходятся: пригодные оценки лежат от {low} до {high}; этот разброс сам показывает, "
        "насколько ответ зависит от допущений.",
    ),
    "why_strata": (
        "Strata were estimated separately and their defaults differ; the first method summed is shown.",
        "Страты оценены по отдельности, и методы по умолчанию в них различаются; показан первый из сумм.",
    ),
    "small_cells": (
        "Small cells: {small} of the {cells} possible list combinations hold fewer than 5 people ({empty} "
        "hold none). Estimates then lean on model assumptions more than on data.",
        "Малые ячейки: в {small} из {cells} возможных сочетаний списков меньше 5 человек (в {empty} — никого). "
        "Тогда оценки опираются больше на допущения модели, чем на данные.",
    ),
    "small_overlap": (
        "Small overlap: only {m} people are on both lists; below about 7 the two-list estimate is unstable.",
        "Малое пересечение: в обоих списках только {m} человек; при менее чем 7 оценка по двум спискам "
        "неустойчива.",
    ),
    "extrapolation": (
        "Most people are unseen: the estimate is {ratio} times the number documented, so it rests "
        "heavily on the model.",
        "Большинство людей не учтено: оценка в {ratio} раза больше числа задокументированных, поэтому "
        "она сильно зависит от модели.",
    ),
    "linkage": (
        "Linkage: a missed match (one person counted twice) pushes the estimate up; a false merge pushes it "
        "down. The estimate is only as good as the linkage of the lists.",
        "Связывание: пропущенное совпадение (один человек учтён дважды) завышает оценку, ложное слияние — "
        "занижает. Оценка не лучше, чем связывание списков.",
    ),
    "scope": (
        "The estimate covers only the declared population and period; people who could not appear on any "
        "of these lists are outside it.",
        "Оценка относится только к заявленной совокупности и периоду; люди, которые не могли попасть ни в "
        "один из этих списков, в неё не входят.",
    ),
}


@dataclass(frozen=True)
class Reason:
    key: str
    values: Mapping[str, float | int | str]


@dataclass(frozen=True)
class EstimationReport:
    population: str
    period: str
    lists: tuple[str, ...]
    n_observed: int
    default: Estimate
    reason: Reason
    methods: tuple[Estimate, ...]
    caveats: tuple[Reason, ...]
    strata: Mapping[str, Estimate] = dataclasses.field(default_factory=dict)


def _t(key: str, lang: Lang, **values: float | int | str) -> str:
    en, ru = TEXT[key]
    return (ru if lang == "ru" else en).format(**values)


def _label(method: str, lang: Lang) -> str:
    base, _, pair = method.partition(":")
    en, ru = LABELS.get(base, (base, base))
    name = ru if lang == "ru" else en
    return f"{name} ({pair})" if pair else name


def _number(value: float, lang: Lang) -> str:
    if not math.isfinite(value):
        return "∞"
    text = f"{value:,.0f}"
    return text.replace(",", "\u00a0") if lang == "ru" else text


def _with_method(est: Estimate, method: str) -> Estimate:
    return dataclasses.replace(est, method=method)


def _methods(table: CaptureTable, settings: lcmcr.LCMCRSettings | None) -> list[Estimate]:
    if table.n_lists == 2:
        counts = twolist.two_list_counts(table, *table.lists)
        return [twolist.chapman(counts), twolist.lincoln_petersen(counts)]
    out = [lcmcr.fit_lcmcr(table, settings).estimate]
    out += [
        loglinear.stepwise(table, criterion="aic").estimate,
        loglinear.stepwise(table, criterion="bic").estimate,
        loglinear.independence(table).estimate,
    ]
    for (a, b), (_, chap) in twolist.pairwise(table).items():
        out.append(_with_method(chap, f"chapman:{a}+{b}"))
    return out


def _choose(methods: Sequence[Estimate], n_lists: int) -> tuple[Estimate, Reason]:
    by = {e.method: e for e in methods}
    if n_lists == 2:
        return by["chapman"], Reason("why_two", {})
    lc = by["lcmcr"]
    if lc.usable:
        return lc, Reason("why_lcmcr", {"rhat": float(lc.details["rhat"]), "ess": float(lc.details["ess"])})
    step = by["loglinear_stepwise_aic"]
    if step.usable:
        return step, Reason(
            "why_loglinear", {"rhat": float(lc.details["rhat"]), "ess": float(lc.details["ess"])}
        )
    return by["loglinear_independence"], Reason("why_fallback", {})


def _caveats(table: CaptureTable, methods: Sequence[Estimate], default: Estimate) -> list[Reason]:
    out: list[Reason] = []
    if table.n_lists == 2:
        out.append(Reason("dependence_two", {}))
        m = twolist.two_list_counts(table, *table.lists).m
        if m < 7:
            out.append(Reason("small_overlap", {"m": m}))
    else:
        ind = loglinear.independence(table)
        p_fit = float(chi2.sf(ind.deviance, ind.df_resid))
        key = "dependence_found" if p_fit < 0.05 else "dependence_ok"
        out.append(Reason(key, {"dev": ind.deviance, "df": ind.df_resid}))
    out.append(Reason("heterogeneity", {}))
    usable = [e.estimate for e in methods if e.usable and ":" not in e.method and math.isfinite(e.estimate)]
    if table.n_lists > 2 and usable and max(usable) > 1.2 * min(usable):
        out.append(Reason("spread", {"low": min(usable), "high": max(usable)}))
    _, cells = table.full_counts()
    small = int((cells < 5).sum())
    if small:
        out.append(
            Reason("small_cells", {"small": small, "cells": cells.size, "empty": int((cells == 0).sum())})
        )
    ratio = default.estimate / max(table.n_observed, 1)
    if ratio > 3:
        out.append(Reason("extrapolation", {"ratio": ratio}))
    return out + _closing()


def _closing() -> list[Reason]:
    return [Reason("linkage", {}), Reason("scope", {})]


def estimate(table: CaptureTable, *, settings: lcmcr.LCMCRSettings | None = None) -> EstimationReport:
    """Every applicable method on one table, the default chosen, caveats attached."""
    methods = _methods(table, settings)
    default, reason = _choose(methods, table.n_lists)
    return EstimationReport(
        table.population, table.period, table.lists, table.n_observed, default, reason,
        tuple(methods), tuple(_caveats(table, methods, default)),
    )  # fmt: skip


def estimate_stratified(
    tables: Mapping[str, CaptureTable], *, settings: lcmcr.LCMCRSettings | None = None
) -> EstimationReport:
    """Each stratum (region, period) estimated on its own, methods summed across strata."""
    population = check_same_population(tables.values())
    cfg = settings or lcmcr.LCMCRSettings()
    per = {name: estimate(t, settings=cfg) for name, t in tables.items()}
    first = next(iter(per.values()))
    summed: list[Estimate] = []
    for est in first.methods:
        if ":" in est.method:
            continue  # pairwise lines per stratum would swamp the table
        parts = {name: next(e for e in r.methods if e.method == est.method) for name, r in per.items()}
        summed.append(loglinear.sum_strata(parts, seed=cfg.seed))
    default_method = (
        first.default.method if all(r.default.method == first.default.method for r in per.values()) else None
    )
    default = next((e for e in summed if e.method == default_method), summed[0])
    caveats = [c for r in per.values() for c in r.caveats]
    unique = list({(c.key, tuple(sorted(c.values.items()))): c for c in caveats}.values())
    periods = sorted({t.period for t in tables.values()})
    return EstimationReport(
        population, ", ".join(periods), first.lists, sum(r.n_observed for r in per.values()), default,
        first.reason if default_method else Reason("why_strata", {}),
        tuple(summed), (*[c for c in unique if c.key not in ("linkage", "scope")], *_closing()),
        strata={name: r.default for name, r in per.items()},
    )  # fmt: skip


DECIMALS = {"rhat": 3, "ess": 0, "dev": 1, "ratio": 1}


def _value(key: str, value: float | int | str, lang: Lang) -> str:
    if isinstance(value, str):
        return value
    if key in DECIMALS:
        text = f"{value:.{DECIMALS[key]}f}"
        return text.replace(".", ",") if lang == "ru" else text
    return _number(float(value), lang)


def _reason_text(reason: Reason, lang: Lang) -> str:
    return _t(reason.key, lang, **{k: _value(k, v, lang) for k, v in reason.values.items()})


def render(report: EstimationReport, lang: Lang = "en") -> str:
    """Plain text: estimate and interval, why, every method, caveats."""
    d = report.default
    lines = [
        f"{_t('title', lang)}: {_number(d.estimate, lang)}  "
        f"({_t('interval', lang)} {_number(d.lower, lang)} – {_number(d.upper, lang)}), {_label(d.method, lang)}",
        f"{_t('population', lang)}: {report.population}; {_t('period', lang)}: {report.period}; "
        f"{_t('lists', lang)}: {', '.join(report.lists)}; {_t('observed', lang)}: {_number(report.n_observed, lang)}",
        "",
        f"{_t('why', lang)}: {_reason_text(report.reason, lang)}",
        "",
        f"{_t('methods', lang)}:",
    ]
    width = max(len(_label(e.method, lang)) for e in report.methods)
    for e in report.methods:
        interval = f"{_number(e.lower, lang)} – {_number(e.upper, lang)}"
        # Method notes are English diagnostics; the Russian table keeps only the verdict.
        flag = "" if e.usable else f"  [{_t('unusable', lang)}" + (f": {e.note}]" if lang == "en" else "]")
        lines.append(
            f"  {_label(e.method, lang):<{width}}  {_number(e.estimate, lang):>9}  {interval:<21}{flag}"
        )
    if report.strata:
        lines += ["", f"{_t('estimate', lang)} ({len(report.strata)} {_t('strata', lang)}):"]
        for name, e in report.strata.items():
            lines.append(
                f"  {name}: {_number(e.estimate, lang)} ({_number(e.lower, lang)} – {_number(e.upper, lang)}), "
                f"{_label(e.method, lang)}"
            )
    lines += ["", f"{_t('caveats', lang)}:"]
    lines += [f"  - {_reason_text(c, lang)}" for c in report.caveats]
    return "\n".join(lines)


@dataclass(frozen=True)
class MethodLine:
    method: str
    label: str
    estimate: float | None
    lower: float | None
    upper: float | None
    usable: bool
    note: str


@dataclass(frozen=True)
class ReportView:
    """The report as data, for the analyst page and the API: the same words as :func:`render`."""

    title: str
    population: str
    period: str
    lists: tuple[str, ...]
    n_observed: int
    default: MethodLine
    why: str
    methods: tuple[MethodLine, ...]
    strata: tuple[tuple[str, MethodLine], ...]
    caveats: tuple[str, ...]


def _finite(value: float) -> float | None:
    return round(value, 1) if math.isfinite(value) else None


def _line(e: Estimate, lang: Lang) -> MethodLine:
    return MethodLine(
        e.method, _label(e.method, lang), _finite(e.estimate), _finite(e.lower), _finite(e.upper), e.usable,
        e.note if lang == "en" else "",
    )  # fmt: skip


def view(report: EstimationReport, lang: Lang = "en") -> ReportView:
    return ReportView(
        title=_t("title", lang), population=report.population, period=report.period, lists=report.lists,
        n_observed=report.n_observed, default=_line(report.default, lang),
        why=_reason_text(report.reason, lang), methods=tuple(_line(e, lang) for e in report.methods),
        strata=tuple((name, _line(e, lang)) for name, e in report.strata.items()),
        caveats=tuple(_reason_text(c, lang) for c in report.caveats),
    )  # fmt: skip


# --- the `kartoteka estimate --table FILE.csv` door (arguments in kartoteka/estimation/cli.py) -----------


def run(args: argparse.Namespace, out: Callable[[str], object] = print) -> int:
    """Run the estimate command; table errors propagate as TableError for the caller to print."""
    from kartoteka.estimation.tables import strata_from_csv, table_from_csv

    settings = lcmcr.LCMCRSettings(
        chains=args.chains, iterations=args.iterations, seed=args.seed,
        max_iterations=max(args.iterations * 4, lcmcr.LCMCRSettings.max_iterations),
    )  # fmt: skip
    if args.by_stratum:
        tables = strata_from_csv(args.table, population=args.population, period=args.period)
        report = estimate_stratified(tables, settings=settings)
    else:
        table = table_from_csv(args.table, population=args.population, period=args.period)
        report = estimate(table, settings=settings)
    out(render(report, args.lang))
    return 0
