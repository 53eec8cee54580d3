"""The identity-resolution model: Splink (DuckDB backend) plus guarded deterministic rules.

The model is trained on the data it is asked to match, without labels:

1. ``probability_two_random_records_match`` from deterministic rules (same name and birthday,
   same phone and name, same e-mail and name) with an assumed recall;
2. u-probabilities from random record pairs (almost all of them different people);
3. m-probabilities by expectation maximisation on pairs blocked by phone, then by
   name + birthday (each session trains the comparisons its blocking rule does not use);
   a level EM cannot estimate keeps the prior written below.

Candidate pairs come from equi-join blocking rules (phone, e-mail, external id, birthday +
family-name key, postal code + family-name key, ...) so the work grows with the number of
records, not its square. A pair is a match when its probability reaches the threshold, or when
a deterministic rule (same phone, e-mail match key or external id) holds and nothing
contradicts it (name at least similar, birthday and gender not different): siblings who share
a parent's phone number are not merged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import duckdb
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from splink import DuckDBAPI, Linker, SettingsCreator
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.exceptions import SplinkException

from dangol.integration.matching.prepare import prepare_records

logger = logging.getLogger(__name__)

# Chosen on labelled synthetic data (see docs/adr/0004-identity-resolution.md): precision and
# recall are both flat between about 0.5 and 0.99, so the middle of that plateau is used.
DEFAULT_THRESHOLD = 0.9
# Reported as ``probability`` for a pair matched by a deterministic rule.
RULE_PROBABILITY = 1.0
# Phone numbers and e-mails shared by more records than this (shop counters, placeholders
# such as 010-0000-0000) are not used to generate candidate pairs.
MAX_BLOCK_SIZE = 100
# Scored pairs below this match weight (log2 odds; probability ≈ 3e-5) are dropped at once.
MIN_MATCH_WEIGHT = -15.0
# Random pairs drawn to estimate the u-probabilities (about 10 s on two cores).
U_SAMPLE_PAIRS = 1e6
U_SAMPLE_PAIRS_PER_RECORD = 100
# Assumed recall of the deterministic rules that estimate the prior match probability.
DETERMINISTIC_RECALL = 0.8


@dataclass(frozen=True)
class Level:
    """One comparison level: its label, SQL condition and prior m-probability."""

    label: str
    sql: str
    m: float
    u: float
    tf_column: str | None = None


@dataclass(frozen=True)
class Field:
    """One comparison. ``levels`` are best first; the 'else' level is added after them."""

    name: str
    column: str  # the prepared column whose presence the null level tests
    levels: tuple[Level, ...]

    def gamma(self, label: str) -> int:
        """The gamma value Splink gives ``label`` (else = 0, null = -1)."""
        labels = [level.label for level in self.levels]
        return len(labels) - labels.index(label)

    def to_splink(self) -> dict[str, Any]:
        """The Splink comparison dictionary."""
        c = self.column
        m_else = max(1e-4, 1.0 - sum(level.m for level in self.levels))
        u_else = max(1e-4, 1.0 - sum(level.u for level in self.levels))
        levels: list[dict[str, Any]] = [
            {
                "sql_condition": f'"{c}_l" IS NULL OR "{c}_r" IS NULL',
                "label_for_charts": "null",
                "is_null_level": True,
            }
        ]
        for level in self.levels:
            entry: dict[str, Any] = {
                "sql_condition": level.sql,
                "label_for_charts": level.label,
                "m_probability": level.m,
                "u_probability": level.u,
            }
            if level.tf_column:
                entry["tf_adjustment_column"] = level.tf_column
                entry["tf_adjustment_weight"] = 1.0
            levels.append(entry)
        levels.append(
            {
                "sql_condition": "ELSE",
                "label_for_charts": "else",
                "m_probability": m_else,
                "u_probability": u_else,
            }
        )
        return {
            "output_column_name": self.name,
            "comparison_description": self.name,
            "comparison_levels": levels,
        }


def _dl(column: str, distance: int) -> str:
    return f'damerau_levenshtein("{column}_l", "{column}_r") <= {distance}'


FIELDS: tuple[Field, ...] = (
    Field(
        "name",
        "name",
        (
            Level("exact", '"name_l" = "name_r"', 0.70, 1e-3, tf_column="name"),
            # family and given swapped, possibly with one jamo typed wrong as well
            Level(
                "swapped",
                '"fam_l" = "giv_r" AND "giv_l" = "fam_r" OR '
                'damerau_levenshtein("name_code_gf_l", "name_code_r") <= 1 OR '
                'damerau_levenshtein("name_code_l", "name_code_gf_r") <= 1',
                0.01,
                1e-6,
            ),
            Level("jamo_typo", _dl("name_code", 1), 0.12, 1e-3),
            Level(
                "romanized",
                '"name_key_fg_l" = "name_key_fg_r" OR "name_key_fg_l" = "name_key_gf_r" '
                'OR "name_key_gf_l" = "name_key_fg_r"',
                0.03,
                1e-4,
            ),
            Level(
                "similar",
                f"{_dl('name_code', 2)} OR "
                'jaro_winkler_similarity("name_code_l", "name_code_r") >= 0.92',
                0.05,
                5e-3,
            ),
            Level("same_given", '"giv_l" = "giv_r"', 0.02, 5e-3),
            Level("same_family", '"fam_l" = "fam_r" OR "fam_key_l" = "fam_key_r"', 0.03, 0.1),
        ),
    ),
    Field(
        "birth_date",
        "birth_date",
        (
            Level("exact", '"birth_date_l" = "birth_date_r"', 0.85, 5e-5),
            Level(
                "lunar_solar",
                '"birth_date_from_lunar_l" = "birth_date_r" '
                'OR "birth_date_l" = "birth_date_from_lunar_r"',
                0.05,
                5e-5,
            ),
            Level("day_month_swapped", '"birth_date_swapped_l" = "birth_date_r"', 0.01, 5e-5),
            Level("typo", _dl("birth_date", 1), 0.03, 2e-3),
        ),
    ),
    Field(
        "phone",
        "phone",
        (
            Level("exact", '"phone_l" = "phone_r"', 0.85, 1e-6, tf_column="phone"),
            Level("typo", _dl("phone", 1), 0.03, 1e-5),
        ),
    ),
    Field(
        "email",
        "email",
        (
            Level("exact", '"email_l" = "email_r"', 0.80, 1e-6),
            Level("same_local_part", '"email_local_l" = "email_local_r"', 0.05, 1e-5),
            # Not a similarity of local parts: they are often made of the name, so two people
            # with one name have similar ones (minjun.kim12 / minjun_kim7).
            Level("typo", _dl("email", 1), 0.04, 1e-5),
        ),
    ),
    Field(
        "address",
        "address",
        (
            Level("exact", '"address_l" = "address_r"', 0.60, 1e-5),
            Level("same_street", '"address_street_l" = "address_street_r"', 0.15, 1e-3),
            Level("same_district", '"address_region_l" = "address_region_r"', 0.10, 0.02),
        ),
    ),
    Field(
        "postal_code",
        "postal_code",
        (
            Level("exact", '"postal_code_l" = "postal_code_r"', 0.75, 1e-4),
            Level("same_area", '"postal_prefix_l" = "postal_prefix_r"', 0.10, 5e-3),
        ),
    ),
    Field(
        "gender",
        "gender",
        (Level("exact", '"gender_l" = "gender_r"', 0.97, 0.5),),
    ),
    Field(
        "external_id",
        "external_id",
        (Level("exact", '"external_id_l" = "external_id_r"', 0.9, 1e-7),),
    ),
)
FIELDS_BY_NAME = {field.name: field for field in FIELDS}

# Candidate-pair rules: (columns that must be present, SQL). Every one is an equi-join.
BLOCKING_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("phone",), "l.phone_block = r.phone_block"),
    (("email",), "l.email_block = r.email_block"),
    (("external_id",), "l.external_id = r.external_id"),
    (("birth_date", "name"), "l.birth_date = r.birth_date AND l.fam_key = r.fam_key"),
    (("birth_date", "name"), "l.birth_date = r.birth_date AND l.giv_key = r.giv_key"),
    (("birth_date", "name"), "l.birth_date = r.birth_date AND l.fam_key = r.giv_as_fam_key"),
    (
        ("birth_date", "name"),
        "l.birth_date_from_lunar = r.birth_date AND l.fam_key = r.fam_key",
    ),
    (
        ("birth_date", "name"),
        "l.birth_date = r.birth_date_from_lunar AND l.fam_key = r.fam_key",
    ),
    (("birth_date", "name"), "l.birth_date_swapped = r.birth_date AND l.fam_key = r.fam_key"),
    (("postal_code", "name"), "l.postal_code = r.postal_code AND l.fam_key = r.fam_key"),
    (("address", "name"), "l.address_street = r.address_street AND l.giv_key = r.giv_key"),
    (("email", "name"), "l.email_local = r.email_local AND l.fam_key = r.fam_key"),
)


class ModelStore(Protocol):
    """Where trained models are kept between calls (see ``model_key``): ``get`` returns the
    settings a ``put`` stored under the key, or None (unknown or too old to trust)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, settings: dict[str, Any], *, records: int) -> None: ...


class MemoryModelStore:
    """A ``ModelStore`` in a dict: models live as long as the object (one import job, a test)."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.trained = 0  # how many times a model was trained and stored

    def get(self, key: str) -> dict[str, Any] | None:
        return self.models.get(key)

    def put(self, key: str, settings: dict[str, Any], *, records: int) -> None:
        self.models[key] = settings
        self.trained += 1


def model_key(present: set[str], link_type: str) -> str:
    """What a trained model is valid for: the link type, the comparison columns the data has
    and the definition of every comparison and blocking rule (a change to ``FIELDS`` or
    ``BLOCKING_RULES`` makes older models unusable)."""
    definition = {
        "link_type": link_type,
        "present": sorted(present),
        "fields": [f.to_splink() for f in FIELDS],
        "blocking": BLOCKING_RULES,
    }
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
    return f"{link_type}:{digest[:32]}"


def _reuse(trained: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any] | None:
    """``fresh`` settings carrying ``trained``'s parameters (the prior, each comparison's m
    and u); None if their comparisons differ."""
    levels = {c["output_column_name"]: c["comparison_levels"] for c in trained["comparisons"]}
    out = copy.deepcopy(fresh)
    for comparison in out["comparisons"]:
        learnt = levels.get(comparison["output_column_name"])
        if learnt is None or len(learnt) != len(comparison["comparison_levels"]):
            return None
        for level, known in zip(comparison["comparison_levels"], learnt, strict=True):
            if level.get("sql_condition") != known.get("sql_condition"):
                return None
            for name in ("m_probability", "u_probability"):
                if name in known:
                    level[name] = known[name]
    out["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    return out


@dataclass(frozen=True)
class MatchResult:
    """Scored candidate pairs and what the model learnt (for inspection and the ADR)."""

    pairs: pl.DataFrame
    settings: dict[str, Any]
    probability_two_random_records_match: float


def _present_columns(prepared: pl.DataFrame) -> set[str]:
    """The comparison columns with a value in at least two records."""
    counts = prepared.select(pl.all().is_not_null().sum()).row(0, named=True)
    return {name for name, count in counts.items() if count >= 2}


def _with_block_keys(prepared: pl.DataFrame) -> pl.DataFrame:
    """Phone and e-mail as blocking keys, except values shared by too many records."""
    return prepared.with_columns(
        phone_block=pl.when(pl.len().over("phone") <= MAX_BLOCK_SIZE).then(pl.col("phone")),
        email_block=pl.when(pl.len().over("email") <= MAX_BLOCK_SIZE).then(pl.col("email")),
    )


def build_settings(
    present: set[str], link_type: Literal["dedupe_only", "link_only"]
) -> dict[str, Any]:
    """Splink settings using the comparisons and blocking rules the present columns allow."""
    comparisons: list[ComparisonCreator | dict[str, Any]] = [
        field.to_splink() for field in FIELDS if field.column in present
    ]
    rules: list[BlockingRuleCreator | dict[str, Any]] = [
        {"blocking_rule": sql} for needed, sql in BLOCKING_RULES if set(needed) <= present
    ]
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=True,  # Splink returns the gamma columns only with these
        retain_intermediate_calculation_columns=False,
        max_iterations=20,
    ).create_settings_dict("duckdb")


def _deterministic_rule_sql(present: set[str]) -> list[str | BlockingRuleCreator]:
    """Rules that admit almost no false positives, to estimate the prior match probability."""
    rules: list[str | BlockingRuleCreator] = []
    if {"name", "birth_date"} <= present:
        rules.append("l.name = r.name AND l.birth_date = r.birth_date")
    if {"name", "phone"} <= present:
        rules.append("l.name = r.name AND l.phone = r.phone")
    if {"name", "email"} <= present:
        rules.append("l.name = r.name AND l.email = r.email")
    return rules


def _training_rules(present: set[str]) -> list[str]:
    """EM blocking rules. Each session trains the comparisons its rule does not use: phone
    frees the name and birthday, e-mail frees the phone, name + birthday frees the contacts.
    A session that fails is rolled back, and the median over the others is used."""
    rules = [f"l.{column} = r.{column}" for column in ("phone", "email") if column in present]
    if {"name", "birth_date"} <= present:
        rules.append("l.name = r.name AND l.birth_date = r.birth_date")
    if {"name", "postal_code"} <= present:
        rules.append("l.name = r.name AND l.postal_code = r.postal_code")
    return rules


def _train(linker: Linker, inputs: Any, present: set[str], n_records: int, *, seed: int) -> Linker:
    """Estimate the prior, u and m; returns the trained linker (a fresh one if an EM
    session failed half-way and had to be rolled back)."""
    rules = _deterministic_rule_sql(present)
    if rules:
        before = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_probability_two_random_records_match(
                rules, recall=DETERMINISTIC_RECALL
            )
        except ValueError:
            logger.warning("prior match probability not estimated; keeping the default")
        prior = linker.misc.save_model_to_json()["probability_two_random_records_match"]
        if not 0 < prior < 1:
            # No pair met a rule (a small base without duplicates): a prior of 0 has no match
            # weight (log 0), so scoring would fail. Keep the default prior instead.
            logger.warning("no pair met a deterministic rule; keeping the default prior")
            linker = Linker(inputs, before, log_level=None)
    pairs = n_records * (n_records - 1) / 2
    sample = min(U_SAMPLE_PAIRS, max(U_SAMPLE_PAIRS_PER_RECORD * n_records, 1e5), pairs)
    linker.training.estimate_u_using_random_sampling(max_pairs=max(sample, 1.0), seed=seed)
    for rule in _training_rules(present):
        snapshot = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        except (ValueError, SplinkException):
            # Too few pairs, or an m-probability that underflows to 0: keep what we had.
            logger.warning("EM training on %r failed; keeping prior m-probabilities", rule)
            linker = Linker(inputs, snapshot, log_level=None)
    return linker


def _identity_guard_sql(present: set[str]) -> str:
    """SQL true when the pair's personal attributes allow it to be one person.

    Contact points are shared within families: siblings and twins have the same phone,
    address and postal code, and a naive-Bayes model adds those up into a confident match.
    So the name and the birthday must agree before anything else counts: a strong name match
    (exact, swapped, one jamo off, same romanization) with a birthday that does not
    contradict it, or a looser name match (지우/지훈) with an agreeing birthday and gender,
    or no name and an agreeing birthday. With neither column in the data, the model decides
    alone.
    """
    if not {"name", "birth_date"} & present:
        return "TRUE"
    name = FIELDS_BY_NAME["name"]
    g_name = "gamma_name" if "name" in present else "-1"
    g_birth = "gamma_birth_date" if "birth_date" in present else "-1"
    g_gender = "gamma_gender" if "gender" in present else "-1"
    strong, loose = name.gamma("romanized"), name.gamma("similar")
    return (
        f"(({g_name} >= {strong} AND {g_birth} <> 0)"
        f" OR ({g_name} >= {loose} AND {g_birth} > 0 AND {g_gender} <> 0)"
        f" OR ({g_name} = -1 AND {g_birth} > 0))"
    )


def _rule_sql(present: set[str]) -> str:
    """SQL CASE naming the deterministic rule that matches a scored pair, if any: the same
    external id, phone or e-mail, when the identity guard holds and the genders agree."""
    guard = _identity_guard_sql(present)
    if "gender" in present:
        guard += " AND gamma_gender <> 0"
    cases = [
        f"WHEN gamma_{field} = {FIELDS_BY_NAME[field].gamma('exact')} THEN '{field}'"
        for field in ("external_id", "phone", "email")
        if field in present
    ]
    if not cases:
        return "CAST(NULL AS VARCHAR)"
    return f"CASE WHEN {guard} THEN CASE {' '.join(cases)} END END"


def _score(
    frames: list[pl.DataFrame],
    link_type: Literal["dedupe_only", "link_only"],
    threshold: float,
    *,
    seed: int,
    models: ModelStore | None = None,
) -> MatchResult:
    """Train on ``frames`` (prepared, with block keys) and return the matched pairs. With
    ``models``, a model stored for the same kind of data is used instead of training one, and
    a model trained here is stored for the next call."""
    combined = pl.concat(frames)
    present = _present_columns(combined)
    settings = build_settings(present, link_type)
    key = model_key(present, link_type)
    stored = models.get(key) if models is not None else None
    reused = _reuse(stored, settings) if stored is not None else None
    if reused is not None:
        settings = reused
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    db_api = DuckDBAPI(con)
    names = ["new", "existing"] if link_type == "link_only" else ["records"]
    inputs = [
        db_api.register(frame.to_arrow(), dataset_display_name=name)
        for frame, name in zip(frames, names, strict=True)
    ]
    linker_inputs = inputs if link_type == "link_only" else inputs[0]
    linker = Linker(linker_inputs, settings, log_level=None)
    logging.getLogger("splink").setLevel(logging.ERROR)
    if reused is None:
        linker = _train(linker, linker_inputs, present, len(combined), seed=seed)
    # Pairs the model all but rules out are not kept: at a million records all candidate
    # pairs with both sides' columns would take gigabytes, and no pair a deterministic rule
    # accepts scores this low (its phone or e-mail alone weighs more than the prior).
    predictions = linker.inference.predict(
        threshold_match_weight=MIN_MATCH_WEIGHT, warning_mode="never"
    )
    gammas = [f"gamma_{f.name}" for f in FIELDS if f.column in present]
    source = (
        ", source_dataset_l AS left_source, source_dataset_r AS right_source"
        if link_type == "link_only"
        else ""
    )
    # Only constants and Splink's own table name are formatted in; the threshold is a parameter.
    sql = f"""
        WITH scored AS (
            SELECT unique_id_l AS left_id, unique_id_r AS right_id,
                   match_probability, match_weight, {", ".join(gammas)},
                   {_rule_sql(present)} AS match_rule {source}
            FROM {predictions.physical_name}
        )
        SELECT *, CASE WHEN match_rule IS NOT NULL THEN {RULE_PROBABILITY}
                       ELSE match_probability END AS probability
        FROM scored
        WHERE (match_probability >= ? AND {_identity_guard_sql(present)})
           OR match_rule IS NOT NULL
    """  # noqa: S608
    pairs = con.sql(sql, params=[threshold]).pl()
    trained = linker.misc.save_model_to_json()
    con.close()
    if models is not None and reused is None:
        models.put(key, trained, records=len(combined))
    prior = float(trained["probability_two_random_records_match"])
    return MatchResult(pairs=pairs, settings=trained, probability_two_random_records_match=prior)


def _empty_pairs() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "left_id": pl.String,
            "right_id": pl.String,
            "probability": pl.Float64,
            "match_probability": pl.Float64,
            "match_weight": pl.Float64,
            "match_rule": pl.String,
        }
    )


def _order_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    """left_id < right_id (as text), one row per pair, best first."""
    evidence = [c for c in pairs.columns if c.startswith("gamma_")]
    out = pairs.with_columns(
        pl.min_horizontal("left_id", "right_id").alias("a"),
        pl.max_horizontal("left_id", "right_id").alias("b"),
    ).select(
        pl.col("a").alias("left_id"),
        pl.col("b").alias("right_id"),
        "probability",
        "match_probability",
        "match_weight",
        "match_rule",
        *evidence,
    )
    return out.unique(["left_id", "right_id"], keep="first").sort(["left_id", "right_id"])


def find_duplicate_pairs(
    records: pl.DataFrame,
    *,
    id_column: str = "id",
    threshold: float | None = None,
    transitive: bool = False,
    seed: int = 42,
    models: ModelStore | None = None,
) -> pl.DataFrame:
    """Pairs of records in ``records`` that are the same person.

    ``records`` has an id column and any of given_name, family_name, full_name, birth_date,
    phone, email, address, postal_code, gender, external_id (text; missing or empty is fine).
    Returns one row per pair with ``left_id < right_id`` (compared as text):
    ``probability`` (1.0 for a deterministic-rule match, else the model's),
    ``match_probability`` and ``match_weight`` (the model's), ``match_rule`` ('phone',
    'email', 'external_id' or null) and one ``gamma_<field>`` per comparison (-1 missing,
    0 different, higher = closer; labels in :func:`evidence_labels`).
    With ``transitive``, pairs implied by chains (a~b, b~c ⇒ a~c) are added with the
    smallest probability along the chain's direct links. ``models`` keeps trained models
    between calls (see ``_score``).
    """
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if records.height < 2:
        return _empty_pairs()
    prepared = _with_block_keys(prepare_records(records, id_column=id_column))
    result = _score([prepared], "dedupe_only", threshold, seed=seed, models=models)
    pairs = _order_pairs(result.pairs)
    if transitive:
        pairs = _close_transitively(pairs)
    return pairs


def link_records(
    new: pl.DataFrame,
    existing: pl.DataFrame,
    *,
    id_column: str = "id",
    threshold: float | None = None,
    seed: int = 42,
    models: ModelStore | None = None,
) -> pl.DataFrame:
    """Pairs (new record, existing record) that are the same person; link only, no pairs
    within ``new`` or within ``existing``. Columns as :func:`find_duplicate_pairs`, with
    ``left_id`` from ``new`` and ``right_id`` from ``existing``. With ``models``, the model is
    trained once for a kind of data and reused by later calls (an import's chunks), which
    saves the training's fixed cost of 10-20 s per call."""
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if new.is_empty() or existing.is_empty():
        return _empty_pairs()
    frames = [
        _with_block_keys(prepare_records(frame, id_column=id_column)) for frame in (new, existing)
    ]
    result = _score(frames, "link_only", threshold, seed=seed, models=models)
    pairs = result.pairs
    swap = pl.col("left_source") != "new"
    evidence = [c for c in pairs.columns if c.startswith("gamma_")]
    return pairs.select(
        pl.when(swap).then("right_id").otherwise("left_id").alias("left_id"),
        pl.when(swap).then("left_id").otherwise("right_id").alias("right_id"),
        "probability",
        "match_probability",
        "match_weight",
        "match_rule",
        *evidence,
    ).sort("left_id", "probability", descending=[False, True])


def cluster_ids(pairs: pl.DataFrame, ids: pl.Series | None = None) -> pl.DataFrame:
    """Connected components of the matched pairs: columns ``id`` and ``cluster_id`` (the
    smallest id in the cluster). ``ids`` adds singletons for records in no pair."""
    nodes = pl.concat([pairs["left_id"], pairs["right_id"]])
    if ids is not None:
        nodes = pl.concat([nodes, ids.cast(pl.String)])
    nodes = nodes.unique().sort()
    if nodes.is_empty():
        return pl.DataFrame(schema={"id": pl.String, "cluster_id": pl.String})
    index = pl.DataFrame({"id": nodes, "i": np.arange(len(nodes))})
    edges = pairs.select("left_id", "right_id").join(
        index.rename({"id": "left_id", "i": "a"}), on="left_id"
    )
    edges = edges.join(index.rename({"id": "right_id", "i": "b"}), on="right_id")
    n = len(nodes)
    graph = coo_matrix(
        (np.ones(edges.height), (edges["a"].to_numpy(), edges["b"].to_numpy())), shape=(n, n)
    )
    _count, labels = connected_components(graph, directed=False)
    out = index.with_columns(component=labels)
    return out.with_columns(cluster_id=pl.col("id").min().over("component")).select(
        "id", "cluster_id"
    )


def _close_transitively(pairs: pl.DataFrame) -> pl.DataFrame:
    """All pairs within each connected component; inferred pairs get the weakest link's
    probability and match_rule 'transitive'."""
    clusters = cluster_ids(pairs)
    members = clusters.join(clusters, on="cluster_id", suffix="_r").filter(
        pl.col("id") < pl.col("id_r")
    )
    weakest = (
        pairs.join(clusters, left_on="left_id", right_on="id")
        .group_by("cluster_id")
        .agg(pl.col("probability").min().alias("weakest"))
    )
    inferred = (
        members.join(weakest, on="cluster_id")
        .select(
            pl.col("id").alias("left_id"),
            pl.col("id_r").alias("right_id"),
            pl.col("weakest").alias("probability"),
        )
        .join(pairs.select("left_id", "right_id"), on=["left_id", "right_id"], how="anti")
        .with_columns(match_rule=pl.lit("transitive"))
    )
    return pl.concat([pairs, inferred], how="diagonal_relaxed").sort(["left_id", "right_id"])


def evidence_labels() -> dict[str, dict[int, str]]:
    """For each ``gamma_<field>`` column, the label of each value."""
    out: dict[str, dict[int, str]] = {}
    for field in FIELDS:
        labels = {-1: "missing", 0: "different"}
        for level in field.levels:
            labels[field.gamma(level.label)] = level.label
        out[f"gamma_{field.name}"] = labels
    return out
