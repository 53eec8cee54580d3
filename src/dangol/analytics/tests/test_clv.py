"""CLV engine: summaries, the three models against published CDNOW figures, the command.

The CDNOW 1/10 sample (2,357 customers) is third-party data and is not in this
repository: it is read from the `lifetimes==0.11.3` wheel (installed with --no-deps;
its code is never imported). Published figures: Fader, Hardie & Lee (2005) for
BG/NBD and Pareto/NBD, Fader & Hardie (2013) for Gamma-Gamma.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import math
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from scipy.special import hyp2f1

from dangol.analytics import clv

CALIBRATION_END = dt.date(1997, 9, 30)  # 39 weeks after 1997-01-01


def sig(value: float, digits: int = 3) -> float:
    """`value` rounded to `digits` significant figures."""
    return float(f"{value:.{digits - 1}e}")


def tx(*rows: tuple[str, str, float]) -> pl.DataFrame:
    return clv.parse_transactions(
        pl.DataFrame(
            {
                "customer_id": [r[0] for r in rows],
                "date": [r[1] for r in rows],
                "amount": [str(r[2]) for r in rows],
            }
        )
    )


# ------------------------------------------------------------------ CDNOW data


def cdnow_sample_path() -> Path:
    try:
        files = importlib.metadata.distribution("lifetimes").files or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("CDNOW data missing: pip install --no-deps lifetimes==0.11.3 (dev requirement)")
    path = next(f for f in files if f.name == "CDNOW_sample.txt").locate()
    return Path(str(path))


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDNOW sample as customer_id,date,amount (raw: master id, id, yyyymmdd, qty, $)."""
    lines = pl.Series(cdnow_sample_path().read_text().splitlines())
    parts = lines.str.extract_all(r"\S+")
    frame = pl.DataFrame(
        {
            "customer_id": parts.list.get(1),
            "date": parts.list.get(2).str.to_date("%Y%m%d"),
            "amount": parts.list.get(4),
        }
    )
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    frame.write_csv(path)
    return path


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_csv: Path) -> pl.DataFrame:
    return clv.summarize_transactions(
        clv.read_transactions_csv(cdnow_csv), observation_end=CALIBRATION_END, time_unit="week"
    )


def rfm(summary: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy().astype(float),
        summary["recency"].to_numpy(),
        summary["T"].to_numpy(),
        summary["monetary_value"].fill_null(np.nan).to_numpy(),
    )


def test_cdnow_summary_matches_the_published_calibration_data(cdnow_summary):
    x, _, T, m = rfm(cdnow_summary)

    assert cdnow_summary.height == 2357
    assert int((x > 0).sum()) == 946
    # customer 1: purchases 1997-01-01, 01-18, 08-02 in calibration (12-12 is later)
    first = cdnow_summary.row(0, named=True)
    assert (first["frequency"], round(first["recency"], 2), round(first["T"], 2)) == (
        2,
        30.43,
        38.86,
    )
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)
    assert T.max() == pytest.approx(272 / 7)
    assert np.nanmean(m) == pytest.approx(35.08, abs=0.005)  # Fader & Hardie (2013)


def test_bgnbd_reproduces_fader_hardie_lee_2005_on_cdnow(cdnow_summary):
    x, recency, T, _ = rfm(cdnow_summary)

    model = clv.fit_bgnbd(x, recency, T)

    assert [sig(model.r), sig(model.alpha), sig(model.a), sig(model.b)] == [
        sig(0.243),
        sig(4.414),
        sig(0.793),
        sig(2.426),
    ]
    assert round(model.log_likelihood, 1) == -9582.4


def test_pareto_nbd_reproduces_the_published_cdnow_estimates(cdnow_summary):
    x, recency, T, _ = rfm(cdnow_summary)

    model = clv.fit_pareto_nbd(x, recency, T)

    assert [sig(model.r), sig(model.alpha), sig(model.s), sig(model.beta)] == [
        sig(0.553),
        sig(10.578),
        sig(0.606),
        sig(11.669),
    ]
    assert round(model.log_likelihood, 1) == -9595.0


def test_gamma_gamma_reproduces_fader_hardie_2013_on_cdnow(cdnow_summary):
    x, _, _, m = rfm(cdnow_summary)

    model = clv.fit_gamma_gamma(x, m)

    assert [sig(model.p), sig(model.q), sig(model.v)] == [6.25, 3.74, 15.4]
    assert model.v == pytest.approx(15.44, abs=0.005)
    assert model.log_likelihood == pytest.approx(-4055.92, abs=0.01)


def test_bgnbd_conditional_expectation_matches_the_papers_worked_example():
    model = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)

    # FHL (2005): a customer with x=2, t_x=30.43, T=38.86 buys 1.226 times in 39 weeks
    assert model.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)


# ----------------------------------------------------------- model properties


def test_bgnbd_expectation_equals_the_untransformed_formula():
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    model = clv.BGNBD(r=r, alpha=alpha, a=a, b=b)
    x = np.array([0.0, 1, 2, 5, 10])
    recency = np.array([0.0, 3, 30.43, 20, 35])
    T = np.full(5, 38.86)
    t = 39.0

    direct = (
        (a + b + x - 1)
        / (a - 1)
        * (
            1
            - ((alpha + T) / (alpha + T + t)) ** (r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        )
        / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + recency)) ** (r + x))
    )

    np.testing.assert_allclose(model.expected_purchases(t, x, recency, T), direct, rtol=1e-10)


def test_pareto_nbd_loglik_and_p_alive_equal_the_direct_formulas():
    r, alpha, s, beta = 0.553, 10.578, 0.606, 11.669
    x = np.array([0.0, 1, 3, 7])
    recency = np.array([0.0, 5, 20, 30])
    T = np.full(4, 38.0)
    for a_, b_ in [(alpha, beta), (beta, alpha)]:  # both branches of the 2F1 choice
        model = clv.ParetoNBD(r=r, alpha=a_, s=s, beta=b_)
        big, small, k = (a_, b_, s + 1) if a_ >= b_ else (b_, a_, r + x)
        rsx = r + s + x
        a0 = hyp2f1(rsx, k, rsx + 1, (big - small) / (big + recency)) / (big + recency) ** rsx
        a0 -= hyp2f1(rsx, k, rsx + 1, (big - small) / (big + T)) / (big + T) ** rsx
        c = np.exp(np.vectorize(math.lgamma)(r + x) - math.lgamma(r))
        c *= a_**r * b_**s
        alive = 1 / ((a_ + T) ** (r + x) * (b_ + T) ** s)
        died = s / rsx * a0

        np.testing.assert_allclose(model.loglik(x, recency, T), np.log(c * (alive + died)))
        np.testing.assert_allclose(model.p_alive(x, recency, T), alive / (alive + died))


def test_unconditional_expectations_match_simulation():
    rng = np.random.default_rng(7)
    n = 200_000
    bgnbd = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
    pareto = clv.ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=11.669)
    lam = rng.gamma(pareto.r, 1 / pareto.alpha, n)
    lifetime = rng.exponential(1 / rng.gamma(pareto.s, 1 / pareto.beta, n))

    simulated_bgnbd = clv.simulate_bgnbd(n, bgnbd, 52.0, rng).frequency.mean()
    simulated_pareto = rng.poisson(lam * np.minimum(lifetime, 52.0)).mean()

    # a brand-new customer (x = t_x = T = 0) is the unconditional E[X(t)]
    assert bgnbd.expected_purchases(52, [0], [0], [0])[0] == pytest.approx(
        simulated_bgnbd, rel=0.02
    )
    assert pareto.expected_purchases(52, [0], [0], [0])[0] == pytest.approx(
        simulated_pareto, rel=0.02
    )


def test_bgnbd_fit_recovers_simulated_parameters():
    rng = np.random.default_rng(11)
    truth = clv.BGNBD(r=0.5, alpha=6.0, a=0.7, b=2.5)
    data = clv.simulate_bgnbd(20_000, truth, rng.integers(8, 53, size=20_000).astype(float), rng)
    recency = np.minimum(np.ceil(data.recency * 7) / 7, data.T)  # purchases on whole days

    fitted = clv.fit_bgnbd(data.frequency, recency, data.T)

    assert fitted.r == pytest.approx(truth.r, rel=0.08)
    assert fitted.alpha == pytest.approx(truth.alpha, rel=0.1)
    assert fitted.a == pytest.approx(truth.a, rel=0.15)
    assert fitted.b == pytest.approx(truth.b, rel=0.2)


def test_grouped_fit_reports_the_per_customer_likelihood(cdnow_summary):
    x, recency, T, _ = rfm(cdnow_summary)  # 2,357 customers, far fewer distinct histories

    bgnbd = clv.fit_bgnbd(x, recency, T)
    pareto = clv.fit_pareto_nbd(x, recency, T)

    assert bgnbd.log_likelihood == pytest.approx(bgnbd.loglik(x, recency, T).sum(), rel=1e-12)
    assert pareto.log_likelihood == pytest.approx(pareto.loglik(x, recency, T).sum(), rel=1e-12)


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_inactivity():
    model = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)

    alive = model.p_alive([0, 3, 3, 3], [0, 10, 10, 10], [20, 20, 30, 40])

    assert alive[0] == 1.0
    assert 1 > alive[1] > alive[2] > alive[3] > 0


def test_large_frequencies_stay_finite():
    bgnbd = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
    pareto = clv.ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=50.0)
    args = ([2000.0], [300.0], [310.0])

    for model in (bgnbd, pareto):
        assert np.isfinite(model.loglik(*args)).all()
        assert np.isfinite(model.expected_purchases(52, *args)).all()
        assert 0 < model.p_alive(*args)[0] <= 1


def test_gamma_gamma_expected_spend_shrinks_towards_the_population_mean():
    model = clv.GammaGamma(p=6.25, q=3.74, v=15.44)

    spend = model.expected_spend([0, 1, 50], [np.nan, 100.0, 100.0])

    assert spend[0] == pytest.approx(model.population_mean_spend)
    assert model.population_mean_spend < spend[1] < spend[2] < 100.0


def test_clv_is_discounted_expected_spend_times_purchases():
    bgnbd = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend = clv.GammaGamma(p=6.25, q=3.74, v=15.44)
    args = ([0, 2, 7], [0, 30.43, 35], [38.86, 38.86, 38.86], [np.nan, 22.0, 40.0])

    undiscounted = clv.customer_lifetime_value(bgnbd, spend, *args, monthly_discount_rate=0.0)
    discounted = clv.customer_lifetime_value(bgnbd, spend, *args, monthly_discount_rate=0.01)

    year = 12 * clv.DAYS_PER_MONTH / 7
    expected = bgnbd.expected_purchases(year, *args[:3]) * spend.expected_spend(args[0], args[3])
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-12)
    assert (discounted < undiscounted).all()
    assert (discounted > undiscounted / 1.01**12).all()


# ------------------------------------------------------------------- summaries


def test_a_single_purchase_gives_frequency_zero():
    summary = clv.summarize_transactions(
        tx(("c1", "2024-01-01", 10.0)), observation_end=dt.date(2024, 1, 15), time_unit="week"
    )

    row = summary.row(0, named=True)
    assert (row["frequency"], row["recency"], row["T"], row["monetary_value"]) == (0, 0, 2, None)


def test_same_day_purchases_merge_and_sum():
    rows = tx(
        ("c1", "2024-01-01", 10.0),
        ("c1", "2024-01-01", 5.0),
        ("c1", "2024-01-08", 20.0),
        ("c1", "2024-01-08", 2.0),
        ("c1", "2024-01-15", 30.0),
    )

    row = clv.summarize_transactions(
        rows, observation_end=dt.date(2024, 1, 15), time_unit="day"
    ).row(0, named=True)

    assert (row["frequency"], row["recency"], row["T"]) == (2, 14, 14)
    assert row["monetary_value"] == pytest.approx((22.0 + 30.0) / 2)  # first day excluded


def test_rows_after_the_observation_end_are_ignored():
    rows = tx(
        ("c1", "2024-01-01", 10.0),
        ("c1", "2024-01-29", 99.0),
        ("c2", "2024-02-01", 5.0),  # first purchase after the end: not a customer yet
    )

    summary = clv.summarize_transactions(rows, observation_end=dt.date(2024, 1, 22))

    assert summary["customer_id"].to_list() == ["c1"]
    assert summary.row(0, named=True)["frequency"] == 0
    assert summary.row(0, named=True)["T"] == 3


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame({"customer_id": ["a"], "day": ["2024-01-01"], "amount": ["1"]}), "date"),
        (
            pl.DataFrame({"customer_id": ["a"], "date": ["01/02/2024"], "amount": ["1"]}),
            "YYYY-MM-DD",
        ),
        (
            pl.DataFrame({"customer_id": ["a"], "date": ["2024-01-01"], "amount": ["x"]}),
            "not a number",
        ),
        (
            pl.DataFrame({"customer_id": ["a"], "date": ["2024-01-01"], "amount": ["-1"]}),
            "negative",
        ),
        (
            pl.DataFrame({"customer_id": [""], "date": ["2024-01-01"], "amount": ["1"]}),
            "customer_id",
        ),
    ],
)
def test_bad_transactions_are_rejected_with_a_reason(frame, message):
    with pytest.raises(clv.CLVInputError, match=message):
        clv.parse_transactions(frame)


def test_bad_rfm_arrays_are_rejected():
    with pytest.raises(clv.CLVInputError, match="recency"):
        clv.fit_bgnbd([1, 2], [5, 3], [4, 10])


# --------------------------------------------------------------------- command


def run_analytics(*args: str) -> str:
    out = StringIO()
    call_command("analytics", *args, stdout=out)
    return out.getvalue()


def test_command_reports_cdnow_models_as_json(cdnow_csv, tmp_path):
    output = tmp_path / "customers.csv"

    report = json.loads(
        run_analytics(
            "clv",
            "--transactions",
            str(cdnow_csv),
            "--observation-end",
            "1997-09-30",
            "--time-unit",
            "week",
            "--output",
            str(output),
            "--json",
        )
    )

    assert report["customers"] == 2357
    assert report["repeat_customers"] == 946
    assert round(report["bgnbd"]["log_likelihood"], 1) == -9582.4
    assert sig(report["bgnbd"]["alpha"]) == sig(4.414)
    assert sig(report["pareto_nbd"]["beta"]) == sig(11.669)
    assert round(report["pareto_nbd"]["log_likelihood"], 1) == -9595.0
    assert sig(report["gamma_gamma"]["p"]) == 6.25
    assert set(report["gamma_gamma"]) >= {"p", "q", "v"}
    customers = pl.read_csv(output)
    assert customers.height == 2357
    assert {"p_alive", "expected_purchases", "expected_spend", "clv"} <= set(customers.columns)
    assert customers["clv"].sum() == pytest.approx(report["clv"]["total"])


def test_command_prints_a_table_without_json(cdnow_csv):
    text = run_analytics("clv", "--transactions", str(cdnow_csv), "--observation-end", "1997-09-30")

    assert "BG/NBD" in text
    assert "-9582.43" in text
    assert "Customers: 2,357" in text


def write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_command_errors_are_command_errors(tmp_path):
    few = write_csv(
        tmp_path / "few.csv", "customer_id,date,amount\na,2024-01-01,1\na,2024-01-05,2\n"
    )
    bad_columns = write_csv(tmp_path / "cols.csv", "id,when,amount\na,2024-01-01,1\n")
    cases = [
        (
            ["--transactions", str(tmp_path / "missing.csv"), "--observation-end", "2024-02-01"],
            "not found",
        ),
        (["--transactions", bad_columns, "--observation-end", "2024-02-01"], "missing column"),
        (["--transactions", few, "--observation-end", "2024-02-30"], "YYYY-MM-DD"),
        (["--transactions", few, "--observation-end", "2024-02-01"], "too few customers"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message):
            run_analytics("clv", *args)


def test_command_line_error_is_one_line_without_traceback(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dangol.settings"}

    done = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [
            sys.executable,
            "-m",
            "django",
            "analytics",
            "clv",
            "--transactions",
            str(tmp_path / "missing.csv"),
            "--observation-end",
            "2024-01-01",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"CommandError: transactions file not found: {tmp_path / 'missing.csv'}"
    ]
