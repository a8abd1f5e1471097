"""The Splink model over prepared records: comparisons, blocking, training, scoring, clusters.

Comparisons (each a few levels; the model learns how much each level says):

- ``surname`` key: exact (with term-frequency adjustment: a shared rare surname says more than a shared
  Иванов), the masculine/feminine pair (Иванов/Иванова, a level of its own so it is learnt as evidence
  *against*), a typo (Jaro-Winkler ≥ 0.9 and at most two edits on the key), found among the other
  record's name parts (a misread order);
- ``given``: exact key (term-frequency adjusted, as is the patronymic's), a shared diminutive expansion,
  a typo (one edit on the key: Юлия/Юлиана and Алексеевич/Александрович stay apart), an initial that
  agrees with the other side's name or initial;
- ``patronymic``: exact, typo, initial agreeing;
- ``birth_date`` with its precision: the same day; consistent partial dates with both months known (one
  lacks the day); consistent at year precision or less (a year-only date agrees with twelve times as
  many dates as a month-precise one, so the two are learnt apart); one component off (a typo in day,
  month or year, or day and month swapped); within a year; else;
- ``sex`` (as recorded, else guessed from the name), ``region``, ``facility``, ``recruited`` (days apart).

Blocking (what gets compared at all) never uses a name alone, so a common name does not explode into
millions of pairs: surname key + birth year; the three initials + birth day; given + patronymic + birth
day (a misspelt surname); surname + given + day and month of birth (a misread year).

Training is unsupervised: u from random pairs, m by EM on two blocking passes (each leaves out what it
blocks on), the prior from a strict deterministic rule; on a seeded random sample of at most
``TRAIN_SAMPLE`` records (the parameters are properties of random and of matching pairs, which a sample
of records keeps; term frequencies come from the full data at prediction). The decision thresholds are
fixed here, before any test label is seen: ``ACCEPT`` (auto-merge) and ``REVIEW`` (the clerical queue).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from kartoteka.linkage.types import PairScore

MODEL_FAMILY = "kartoteka-linkage-1"
ACCEPT = 0.95  # fixed a priori: pairs at or above are merged automatically
REVIEW = 0.5  # fixed a priori: pairs in [REVIEW, ACCEPT) go to the clerical review queue
TRAIN_SAMPLE = 100_000  # records trained on at most (a random sample of larger sets)
EngineName = Literal["duckdb", "spark"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkModel:
    """A trained model: Splink's settings (parameters included), versioned; JSON round-trips it."""

    settings: dict[str, Any]
    accept_threshold: float = ACCEPT
    review_threshold: float = REVIEW
    family: str = MODEL_FAMILY
    trained_on: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        digest = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.family}:{digest}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "family": self.family,
                "version": self.version,
                "accept_threshold": self.accept_threshold,
                "review_threshold": self.review_threshold,
                "trained_on": self.trained_on,
                "extra": self.extra,
                "settings": self.settings,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> LinkModel:
        data = json.loads(text)
        if data.get("family") != MODEL_FAMILY:
            raise ValueError("linkage model: unknown model family")
        model = cls(
            settings=data["settings"],
            accept_threshold=float(data["accept_threshold"]),
            review_threshold=float(data["review_threshold"]),
            trained_on=int(data.get("trained_on", 0)),
            extra=dict(data.get("extra", {})),
        )
        if model.version != data.get("version"):
            raise ValueError("linkage model: the parameters do not match the stated version")
        return model


# --- the model specification -----------------------------------------------------------------------------


def _contains(dialect: str, array: str, value: str) -> str:
    return f"array_contains({array}, {value})" if dialect == "spark" else f"list_contains({array}, {value})"


def _jw(dialect: str, left: str, right: str) -> str:
    fn = "jaro_winkler" if dialect == "spark" else "jaro_winkler_similarity"
    return f"{fn}({left}, {right})"


def _level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **extra}


def _null(sql: str) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": "null", "is_null_level": True}


def _else() -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": "else"}


def _else_fixed() -> dict[str, Any]:
    """A full given name or patronymic that disagrees beyond a typo or diminutive: a person's own name does
    not change between sources, so this m is fixed a priori (EM would learn it from its own errors)."""
    return {"sql_condition": "ELSE", "label_for_charts": "else", "fix_m_probability": True}


def _priors(levels: list[dict[str, Any]], m: Sequence[float], u: Sequence[float]) -> list[dict[str, Any]]:
    """Attach a priori m and u (used as they are when a set is too small to train on; EM starts there)."""
    out, i = [], 0
    for level in levels:
        if level.get("is_null_level"):
            out.append(level)
            continue
        out.append({**level, "m_probability": m[i], "u_probability": u[i]})
        i += 1
    return out


def comparisons(dialect: str) -> list[dict[str, Any]]:
    """Splink's comparison of each field: its levels, most alike first, with a priori m and u per level."""
    spec = [
        (
            "surname",
            _surname_levels(dialect),
            (0.9, 0.02, 0.04, 0.02, 0.02),
            (0.005, 0.002, 0.01, 0.01, 0.973),
        ),
        ("given", _given_levels(dialect), (0.85, 0.05, 0.04, 0.06, 0.001), (0.05, 0.01, 0.02, 0.05, 0.87)),
        ("patronymic", _patronymic_levels(), (0.87, 0.05, 0.08, 0.001), (0.05, 0.02, 0.05, 0.88)),
        (
            "birth_date",
            _birth_levels(),
            (0.85, 0.06, 0.03, 0.03, 0.02, 0.01),
            (0.0001, 0.0003, 0.02, 0.001, 0.04, 0.9386),
        ),
        ("sex", _exact_levels("sex"), (0.99, 0.01), (0.82, 0.18)),
        ("region", _exact_levels("region"), (0.85, 0.15), (0.1, 0.9)),
        ("facility", _exact_levels("facility"), (0.8, 0.2), (0.02, 0.98)),
        ("recruited", _recruited_levels(), (0.8, 0.15, 0.05), (0.02, 0.3, 0.68)),
    ]
    return [
        {"output_column_name": name, "comparison_levels": _priors(levels, m, u)}
        for name, levels, m, u in spec
    ]


def _surname_levels(dialect: str) -> list[dict[str, Any]]:
    typo = f"{_jw(dialect, 'surname_l', 'surname_r')} >= 0.9 AND levenshtein(surname_l, surname_r) <= 2"
    return [
        _null("surname_l IS NULL OR surname_r IS NULL"),
        _level(
            "surname_l = surname_r",
            "exact",
            tf_adjustment_column="surname",
            tf_adjustment_weight=1.0,
        ),
        _level("surname_l || 'A' = surname_r OR surname_r || 'A' = surname_l", "other sex form"),
        _level(typo, "typo"),
        _level(
            f"{_contains(dialect, 'name_keys_r', 'surname_l')} OR {_contains(dialect, 'name_keys_l', 'surname_r')}",
            "among other parts",
        ),
        _else(),
    ]


def _given_levels(dialect: str) -> list[dict[str, Any]]:
    return [
        _null("(given_l IS NULL AND given_init_l IS NULL) OR (given_r IS NULL AND given_init_r IS NULL)"),
        _level("given_l = given_r", "exact", tf_adjustment_column="given", tf_adjustment_weight=1.0),
        _level(
            "given_forms_l IS NOT NULL AND given_forms_r IS NOT NULL AND "
            + (
                "arrays_overlap(given_forms_l, given_forms_r)"
                if dialect == "spark"
                else "len(list_intersect(given_forms_l, given_forms_r)) > 0"
            ),
            "diminutive",
        ),
        _level("levenshtein(given_l, given_r) <= 1", "typo"),
        _level("(given_l IS NULL OR given_r IS NULL) AND given_init_l = given_init_r", "initial agrees"),
        _else_fixed(),
    ]


def _patronymic_levels() -> list[dict[str, Any]]:
    return [
        _null(
            "(patronymic_l IS NULL AND patronymic_init_l IS NULL) "
            "OR (patronymic_r IS NULL AND patronymic_init_r IS NULL)"
        ),
        _level(
            "patronymic_l = patronymic_r",
            "exact",
            tf_adjustment_column="patronymic",
            tf_adjustment_weight=1.0,
        ),
        _level("levenshtein(patronymic_l, patronymic_r) <= 1", "typo"),
        _level(
            "(patronymic_l IS NULL OR patronymic_r IS NULL) AND patronymic_init_l = patronymic_init_r",
            "initial agrees",
        ),
        _else_fixed(),
    ]


def _birth_levels() -> list[dict[str, Any]]:
    return [
        _null("birth_lo_l IS NULL OR birth_lo_r IS NULL"),
        _level("birth_date_l = birth_date_r", "same day"),
        _level(
            "birth_lo_l <= birth_hi_r AND birth_lo_r <= birth_hi_l "
            "AND birth_month_l IS NOT NULL AND birth_month_r IS NOT NULL",
            "consistent, month known",
        ),
        _level("birth_lo_l <= birth_hi_r AND birth_lo_r <= birth_hi_l", "consistent, year or less"),
        _level(
            "birth_day_l IS NOT NULL AND birth_day_r IS NOT NULL AND ("
            "(birth_year_l = birth_year_r AND (birth_month_l = birth_month_r OR birth_day_l = birth_day_r "
            "OR (birth_month_l = birth_day_r AND birth_day_l = birth_month_r))) "
            "OR (birth_month_l = birth_month_r AND birth_day_l = birth_day_r))",
            "one component off",
        ),
        _level("abs(birth_lo_l - birth_lo_r) <= 366", "within a year"),
        _else(),
    ]


def _exact_levels(col: str) -> list[dict[str, Any]]:
    return [_null(f"{col}_l IS NULL OR {col}_r IS NULL"), _level(f"{col}_l = {col}_r", "exact"), _else()]


def _recruited_levels() -> list[dict[str, Any]]:
    return [
        _null("recruited_l IS NULL OR recruited_r IS NULL"),
        _level("abs(recruited_l - recruited_r) <= 31", "within a month"),
        _level("abs(recruited_l - recruited_r) <= 366", "within a year"),
        _else(),
    ]


def blocking_rules() -> list[str]:
    return [
        "l.surname = r.surname AND l.birth_year = r.birth_year",
        "l.initials = r.initials AND l.birth_date = r.birth_date",
        "l.given = r.given AND l.patronymic = r.patronymic AND l.birth_date = r.birth_date",
        "l.surname = r.surname AND l.given = r.given AND l.birth_month = r.birth_month "
        "AND l.birth_day = r.birth_day",
    ]


# Each EM pass estimates every comparison its blocking rule does not use.
TRAINING_RULES = (
    "l.birth_date = r.birth_date",
    "l.surname = r.surname AND l.given = r.given",
)
PRIOR_RULE = (
    "l.surname = r.surname AND l.given = r.given AND l.patronymic = r.patronymic "
    "AND l.birth_date = r.birth_date"
)


def settings_dict(link_type: str, dialect: str = "duckdb") -> dict[str, Any]:
    return {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons(dialect),
        "blocking_rules_to_generate_predictions": blocking_rules(),
        "probability_two_random_records_match": 1e-5,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 25,
        "em_convergence": 1e-4,
    }


# --- running Splink ----------------------------------------------------------------------------------------


@dataclass
class Backend:
    """One Splink database API for one run (in-memory DuckDB or a local Spark session)."""

    name: EngineName
    api: Any

    @property
    def dialect(self) -> str:
        return "spark" if self.name == "spark" else "duckdb"


def duckdb_backend(con: Any | None = None) -> Backend:
    from splink import DuckDBAPI

    from kartoteka.linkage.engine.backends import duckdb_connection

    return Backend("duckdb", DuckDBAPI(con if con is not None else duckdb_connection()))


def spark_backend(session: Any) -> Backend:
    from splink import SparkAPI

    # "persist" keeps intermediate tables in Spark's memory (and its encrypted local dir), never parquet.
    return Backend("spark", SparkAPI(spark_session=session, break_lineage_method="persist"))  # type: ignore[no-untyped-call]


def _for_dialect(settings: dict[str, Any], dialect: str) -> dict[str, Any]:
    """The same model's SQL for another backend: comparison SQL rebuilt, trained m/u carried over."""
    rebuilt = settings_dict(settings["link_type"], dialect)
    ours = {c["output_column_name"]: c for c in settings["comparisons"]}
    for comparison in rebuilt["comparisons"]:
        trained = ours.get(comparison["output_column_name"])
        if trained is None:
            continue
        for new, old in zip(comparison["comparison_levels"], trained["comparison_levels"], strict=True):
            for key in ("m_probability", "u_probability", "tf_minimum_u_value"):
                if key in old:
                    new[key] = old[key]
    for key, value in settings.items():
        if key not in ("comparisons", "sql_dialect"):
            rebuilt[key] = value
    rebuilt["blocking_rules_to_generate_predictions"] = settings["blocking_rules_to_generate_predictions"]
    return rebuilt


def _linker(backend: Backend, frames: Sequence[pd.DataFrame], settings: dict[str, Any]) -> Any:
    from splink import Linker

    tables = [backend.api.register(frame) for frame in frames]
    return Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR)


def _blocking_rule_sql(rule: Any) -> str:
    return str(rule["blocking_rule"] if isinstance(rule, dict) else rule)


def model_train(
    df: pd.DataFrame,
    df_right: pd.DataFrame | None = None,
    *,
    labels: Sequence[tuple[uuid.UUID, uuid.UUID, bool]] | None = None,
    backend: Backend | None = None,
    settings: dict[str, Any] | None = None,
    training_rules: Sequence[str] = TRAINING_RULES,
    prior_rule: str | None = PRIOR_RULE,
    prior_recall: float = 0.7,
    max_u_pairs: float = 2e6,
    sample: int | None = TRAIN_SAMPLE,
    seed: int = 42,
) -> LinkModel:
    """Train by EM (u from random pairs, m by EM); never looks at test labels.

    A frame larger than ``sample`` is trained on a random sample of that many of its records (seeded):
    sampling records keeps the share of matching pairs among all pairs, u is a property of random pairs
    and m of matching ones, so a sample estimates the same parameters, at a fraction of the blocked pairs;
    term frequencies are taken from the full data when predicting. ``labels`` (accepted/rejected review
    decisions) refine m of the levels the matches fall in, when there are enough accepted pairs to say
    anything (≥ 20)."""
    backend = backend or duckdb_backend()
    n = len(df) + (0 if df_right is None else len(df_right))
    frames = [_sample(f, sample, seed) for f in ([df] if df_right is None else [df, df_right])]
    link_type = "dedupe_only" if df_right is None else "link_only"
    base = settings or settings_dict(link_type, backend.dialect)
    spec = "kartoteka" if settings is None else "custom"
    linker = _linker(backend, frames, base)
    if prior_rule:
        try:
            linker.training.estimate_probability_two_random_records_match([prior_rule], recall=prior_recall)
        except ValueError:
            _log.info("prior left at its default: the deterministic rule admits too many pairs")
    linker.training.estimate_u_using_random_sampling(max_pairs=max_u_pairs, seed=seed)
    for rule in training_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except Exception as exc:
            _log.info("EM pass skipped (%s)", type(exc).__name__)
    if labels:
        _train_from_labels(linker, backend, labels)
    trained = linker.misc.save_model_to_json()
    sampled = sum(len(f) for f in frames)
    extra: dict[str, Any] = {"spec": spec} | ({"sample": sampled, "seed": seed} if sampled < n else {})
    return LinkModel(settings=_plain(trained), trained_on=n, extra=extra)


def _sample(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    if size is None or len(frame) <= size:
        return frame
    return frame.sample(n=size, random_state=seed).reset_index(drop=True)


def _train_from_labels(
    linker: Any, backend: Backend, labels: Sequence[tuple[uuid.UUID, uuid.UUID, bool]]
) -> None:
    accepted = [(str(a), str(b)) for a, b, ok in labels if ok]
    if len(accepted) < 20:
        return
    frame = pd.DataFrame(
        {
            "source_dataset_l": "__splink__input_table_0",
            "unique_id_l": [a for a, _ in accepted],
            "source_dataset_r": "__splink__input_table_0",
            "unique_id_r": [b for _, b in accepted],
        }
    )
    table = backend.api.register(frame)
    try:
        linker.training.estimate_m_from_pairwise_labels(table)
    except Exception as exc:
        _log.info("labels not used (%s)", type(exc).__name__)


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy floats and infinities out)."""
    text = json.dumps(value, default=float)
    return json.loads(text)


def predict(
    df_left: pd.DataFrame,
    df_right: pd.DataFrame | None,
    model: LinkModel,
    *,
    engine: EngineName = "duckdb",
    backend: Backend | None = None,
    threshold: float | None = None,
) -> Iterator[PairScore]:
    """Scored pairs at or above ``threshold`` (default: the model's review threshold), record_a < record_b."""
    if backend is None:
        if engine == "spark":
            raise ValueError("the spark engine needs a backend from spark_backend(session)")
        backend = duckdb_backend()
    frames = [df_left] if df_right is None else [df_left, df_right]
    settings = dict(model.settings)
    settings["link_type"] = "dedupe_only" if df_right is None else "link_only"
    if settings.get("sql_dialect", "duckdb") != backend.dialect:
        if model.extra.get("spec", "kartoteka") != "kartoteka":
            raise ValueError("this model's SQL was written for one backend only")
        settings = _for_dialect(settings, backend.dialect)
    linker = _linker(backend, frames, settings)
    cut = model.review_threshold if threshold is None else threshold
    result = linker.inference.predict(threshold_match_probability=cut, warning_mode="never")
    yield from _pairs(result, [c["output_column_name"] for c in settings["comparisons"]])


def _pairs(result: Any, names: list[str]) -> Iterator[PairScore]:
    gammas = [f"gamma_{n}" for n in names]
    wanted = ["unique_id_l", "unique_id_r", "match_probability", "match_weight", *gammas]
    frame = result.as_pandas_dataframe()
    if len(frame) == 0:
        return
    frame = frame[wanted]
    for row in frame.itertuples(index=False, name=None):
        a, b = uuid.UUID(str(row[0])), uuid.UUID(str(row[1]))
        if b < a:
            a, b = b, a
        weight = float(row[3])
        yield PairScore(
            a,
            b,
            float(row[2]),
            weight if math.isfinite(weight) else (50.0 if weight > 0 else -50.0),
            {n: int(g) for n, g in zip(names, row[4:], strict=True)},
        )


# --- clusters ------------------------------------------------------------------------------------------------


def cluster(
    pairs: Sequence[PairScore] | Iterator[PairScore], threshold: float = ACCEPT
) -> list[list[uuid.UUID]]:
    """Connected components of the pairs at or above ``threshold``; clusters of two or more, sorted."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def find(x: uuid.UUID) -> uuid.UUID:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for pair in pairs:
        if pair.match_probability < threshold:
            continue
        ra, rb = find(pair.record_a_id), find(pair.record_b_id)
        parent.setdefault(ra, ra)
        parent.setdefault(rb, rb)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[uuid.UUID, list[uuid.UUID]] = {}
    for node in parent:
        groups.setdefault(find(node), []).append(node)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])
