"""Customer-lifetime-value models: BG/NBD, Pareto/NBD and Gamma-Gamma.

A pure numeric module (NumPy, SciPy, Polars; no Django) so that batch jobs, the
`analytics clv` command and notebooks share one implementation. See
docs/adr/0003-clv-models.md for the formulas, the optimiser and the validation.

The purchase models work on the customer-level sufficient statistics of the
"buy till you die" literature, in one time unit (weeks or days):

- ``frequency`` (x): the number of repeat purchase days in the calibration period,
- ``recency`` (t_x): the time from the first to the last purchase,
- ``T``: the time from the first purchase to the end of the observation period.

Fitting is maximum likelihood over the log-parameters with L-BFGS-B followed by a
Nelder-Mead polish. Identical (x, t_x, T) rows are fitted once with a weight, so the
cost grows with the number of distinct histories, not with the number of customers.
Every function is vectorised over customers; there is no per-customer Python loop.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
TimeUnit = Literal["week", "day"]

#: Days per time unit.
TIME_UNIT_DAYS: dict[str, float] = {"week": 7.0, "day": 1.0}
#: An average Gregorian month, in days, used for monthly discounting.
DAYS_PER_MONTH = 365.25 / 12
#: Fewer customers than this cannot support a four-parameter model.
MIN_CUSTOMERS = 10
#: Fewer repeat customers than this cannot support the three-parameter spend model.
MIN_REPEAT_CUSTOMERS = 3
#: Bounds on every log-parameter during optimisation (exp(±15) ≈ 3e-7 .. 3e6).
_LOG_BOUND = 15.0
#: Stand-in for a non-finite objective so that the line search backs off.
_BAD_OBJECTIVE = 1e20
#: Edge of the Nelder-Mead polishing simplex, in log-parameter units.
_POLISH_STEP = 1e-3


class CLVInputError(ValueError):
    """Input that the CLV engine cannot use; the message is one readable sentence."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class RFMArrays:
    """Customer-level sufficient statistics as float arrays of equal length."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray

    @classmethod
    def of(cls, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> RFMArrays:
        """Build from array-likes, checking shapes and the invariants 0 <= t_x <= T."""
        x = np.asarray(frequency, dtype=np.float64)
        tx = np.asarray(recency, dtype=np.float64)
        t_obs = np.asarray(T, dtype=np.float64)
        if not (x.shape == tx.shape == t_obs.shape) or x.ndim != 1:
            raise CLVInputError("frequency, recency and T must be 1-d arrays of equal length")
        if not (np.isfinite(x).all() and np.isfinite(tx).all() and np.isfinite(t_obs).all()):
            raise CLVInputError("frequency, recency and T must be finite numbers")
        if (x < 0).any() or (x != np.floor(x)).any():
            raise CLVInputError("frequency must hold non-negative whole numbers")
        if (tx < 0).any() or (tx > t_obs).any() or ((x == 0) & (tx != 0)).any():
            raise CLVInputError("recency must lie in [0, T] and be 0 when frequency is 0")
        return cls(x, tx, t_obs)


@dataclass(frozen=True)
class _Histories:
    """(x, t_x, T) rows factored for fast likelihoods.

    The special-function terms of both purchase models depend either on (x, T) or on
    (x, t_x) only, and real data has few distinct such pairs (whole days, bounded
    frequency), so they are evaluated once per pair and gathered per row by index.
    """

    weight: FloatArray  # customers per row
    x_T: FloatArray  # distinct (x, T) pairs
    T: FloatArray
    x_tx: FloatArray  # distinct (x, t_x) pairs
    tx: FloatArray
    i_T: IntArray  # row -> (x, T) pair
    i_tx: IntArray  # row -> (x, t_x) pair


def _pairs(x: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    uniq, inverse = np.unique(np.stack([x, t], axis=1), axis=0, return_inverse=True)
    return uniq[:, 0].copy(), uniq[:, 1].copy(), inverse.reshape(-1).astype(np.intp)


def _histories(data: RFMArrays, *, compress: bool) -> _Histories:
    """Factor `data`; with `compress`, identical (x, t_x, T) rows become one weighted row."""
    x, tx, t_obs = data.frequency, data.recency, data.T
    weight = np.ones_like(x)
    if compress:
        grouped = (
            pl.DataFrame({"x": x, "tx": tx, "T": t_obs})
            .group_by(["x", "tx", "T"])
            .agg(pl.len().cast(pl.Float64).alias("w"))
            .sort(["x", "tx", "T"])  # a fixed order: the same data always gives the same fit
        )
        x, tx, t_obs = grouped["x"].to_numpy(), grouped["tx"].to_numpy(), grouped["T"].to_numpy()
        weight = grouped["w"].to_numpy()
    x_T, T, i_T = _pairs(x, t_obs)
    x_tx, tx_u, i_tx = _pairs(x, tx)
    return _Histories(weight, x_T, T, x_tx, tx_u, i_T, i_tx)


# ---------------------------------------------------------------- optimisation


def _maximise(
    loglik: Callable[[FloatArray], float],
    start: FloatArray,
    total_weight: float,
) -> tuple[FloatArray, float]:
    """Maximise `loglik` over log-parameters; return (log_params, log_likelihood).

    The objective is the negative mean log-likelihood so that tolerances do not
    depend on the number of customers. L-BFGS-B (central-difference gradient) does
    the bulk of the work; Nelder-Mead polishes the optimum, which it reaches to
    about 1e-9 in the parameters on CDNOW.
    """

    def objective(theta: FloatArray) -> float:
        value = -loglik(theta) / total_weight
        return value if math.isfinite(value) else _BAD_OBJECTIVE

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    first = minimize(
        objective,
        start,
        method="L-BFGS-B",
        jac="3-point",
        bounds=bounds,
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
    )
    # Polish: Nelder-Mead from a small simplex around the L-BFGS-B optimum; it needs
    # no gradient, so it cannot stall on a finite-difference error in flat directions.
    x0 = np.asarray(first.x, dtype=np.float64)
    simplex = np.vstack([x0, x0 + _POLISH_STEP * np.eye(len(x0))])
    polished = minimize(
        objective,
        x0,
        method="Nelder-Mead",
        bounds=bounds,
        options={
            "initial_simplex": simplex,
            "xatol": 1e-8,
            "fatol": 1e-12,
            "maxiter": 200 * len(x0),
        },
    )
    best = polished if polished.fun <= first.fun else first
    theta = np.asarray(best.x, dtype=np.float64)
    return theta, loglik(theta)


# -------------------------------------------------------------------- BG/NBD


def _bgnbd_loglik(r: float, alpha: float, a: float, b: float, h: _Histories) -> FloatArray:
    """Per-row BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6).

    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
        + δ(x>0) · B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x)),
    summed in log space (log-sum-exp); the first term depends on (x, T) only and
    the second on (x, t_x) only.
    """
    const = r * math.log(alpha) - gammaln(r) - betaln(a, b)
    x = h.x_T
    stays = gammaln(r + x) + betaln(a, b + x) - (r + x) * np.log(alpha + h.T)
    x = h.x_tx
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)  # keeps betaln's argument positive where unused
    drops = np.where(
        repeat,
        gammaln(r + x) + betaln(a + 1.0, b + x_safe - 1.0) - (r + x) * np.log(alpha + h.tx),
        -np.inf,
    )
    return np.asarray(const + np.logaddexp(stays[h.i_T], drops[h.i_tx]), dtype=np.float64)


@dataclass(frozen=True)
class BGNBD:
    """A fitted BG/NBD model (Fader, Hardie & Lee 2005).

    Purchases follow a Poisson process with rate λ ~ Gamma(r, α) (α a rate); after
    each repeat purchase the customer drops out with probability p ~ Beta(a, b).
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = math.nan

    def loglik(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Log-likelihood of each customer's (x, t_x, T) under these parameters."""
        h = _histories(RFMArrays.of(frequency, recency, T), compress=False)
        return _bgnbd_loglik(self.r, self.alpha, self.a, self.b, h)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(customer still active at T | x, t_x, T) (FHL 2005, eq. 13 simplified).

        P = 1 / (1 + δ(x>0) · a/(b+x-1) · ((α+T)/(α+t_x))^(r+x)), computed in logs.
        """
        d = RFMArrays.of(frequency, recency, T)
        x = d.frequency
        repeat = x > 0
        x_safe = np.where(repeat, x, 1.0)
        log_odds_dead = (
            np.log(self.a)
            - np.log(self.b + x_safe - 1.0)
            + (self.r + x) * (np.log(self.alpha + d.T) - np.log(self.alpha + d.recency))
        )
        return np.where(repeat, expit(-log_odds_dead), 1.0)

    def p_no_purchase(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(no purchase in (T, T + t] | x, t_x, T): the model's own churn probability.

        Dead customers buy nothing; a customer alive at T drops out only right after a
        purchase, so buys nothing in the next `t` exactly when the Poisson process has no event,
        with λ | alive ~ Gamma(r + x, α + T):
        P = 1 − P(alive) + P(alive) · ((α+T)/(α+T+t))^(r+x).
        Unlike 1 − P(alive), which is 0 for every customer without a repeat purchase (BG/NBD
        lets customers drop out only after one), this also ranks one-time buyers by how long
        ago they bought.
        """
        d = RFMArrays.of(frequency, recency, T)
        if t <= 0:
            return np.zeros_like(d.frequency)
        alive = self.p_alive(d.frequency, d.recency, d.T)
        quiet = np.exp(
            (self.r + d.frequency) * (np.log(self.alpha + d.T) - np.log(self.alpha + d.T + t))
        )
        return np.asarray(1.0 - alive + alive * quiet, dtype=np.float64)

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next `t` time units (FHL eq. 10).

        The factor ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z) is rewritten with
        Euler's transformation as (1-z)^(a-1) · 2F1(a+b-1-r, a-1; a+b+x-1; z), whose
        parameters do not grow with x, so large frequencies do not overflow.
        """
        d = RFMArrays.of(frequency, recency, T)
        if t <= 0:
            return np.zeros_like(d.frequency)
        x, r, alpha, a, b = d.frequency, self.r, self.alpha, self.a, self.b
        z = t / (alpha + d.T + t)
        tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(
            a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z
        )
        numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
        return np.asarray(numerator * self.p_alive(x, d.recency, d.T), dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """Parameters and log-likelihood as a JSON-ready dict."""
        return asdict(self)


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBD:
    """Fit BG/NBD by maximum likelihood on compressed (x, t_x, T) rows."""
    data = RFMArrays.of(frequency, recency, T)
    h = _histories(data, compress=True)

    def loglik(theta: FloatArray) -> float:
        r, alpha, a, b = (float(v) for v in np.exp(theta))
        return float(h.weight @ _bgnbd_loglik(r, alpha, a, b, h))

    start = np.log([1.0, max(float(np.mean(data.T)), 1e-3), 1.0, 3.0])
    theta, ll = _maximise(loglik, start, float(h.weight.sum()))
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    return BGNBD(r=r, alpha=alpha, a=a, b=b, log_likelihood=ll)


# ---------------------------------------------------------------- Pareto/NBD


def _log_hyp2f1_c_is_a_plus_1(a: FloatArray, b: FloatArray, z: FloatArray) -> FloatArray:
    """log 2F1(a, b; a+1; z) for 0 <= z < 1, stable for large a and b.

    Pfaff's transformation gives 2F1(a, b; a+1; z) = (1-z)^(-b) · 2F1(1, b; a+1; z/(z-1));
    the right-hand function lies in (0, 1] for z/(z-1) <= 0 and never overflows.
    """
    w = z / (z - 1.0)
    return np.asarray(-b * np.log1p(-z) + np.log(hyp2f1(1.0, b, a + 1.0, w)), dtype=np.float64)


def _pareto_nbd_terms(
    r: float, alpha: float, s: float, beta: float, h: _Histories
) -> tuple[FloatArray, FloatArray]:
    """Per-row log of the two likelihood terms, both including the constant C.

    From Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model":
    L = C · [ (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A0 ],  C = Γ(r+x) α^r β^s / Γ(r),
    A0 = 2F1(r+s+x, k; r+s+x+1; (m-n)/(m+t_x)) / (m+t_x)^(r+s+x)
       - 2F1(r+s+x, k; r+s+x+1; (m-n)/(m+T)) / (m+T)^(r+s+x),
    with (m, n, k) = (α, β, s+1) if α >= β else (β, α, r+x). The first term is
    "alive at T", the second "died between t_x and T"; A0 is evaluated as
    log(e^u1 - e^u2).
    """
    const = r * math.log(alpha) + s * math.log(beta) - gammaln(r)

    def u(x: FloatArray, t: FloatArray) -> FloatArray:
        rsx = r + s + x
        if alpha >= beta:
            value = _log_hyp2f1_c_is_a_plus_1(
                rsx, np.full_like(x, s + 1.0), (alpha - beta) / (alpha + t)
            )
            return np.asarray(value - rsx * np.log(alpha + t))
        value = _log_hyp2f1_c_is_a_plus_1(rsx, r + x, (beta - alpha) / (beta + t))
        return np.asarray(value - rsx * np.log(beta + t))

    x = h.x_T
    alive = const + gammaln(r + x) - (r + x) * np.log(alpha + h.T) - s * np.log(beta + h.T)
    v2 = u(x, h.T)
    x = h.x_tx
    prefactor = const + gammaln(r + x) + math.log(s) - np.log(r + s + x)
    v1 = u(x, h.tx)
    v1_rows = v1[h.i_tx]
    ratio = np.minimum(np.exp(v2[h.i_T] - v1_rows), 1.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf when t_x == T: no time to die in
        died = prefactor[h.i_tx] + v1_rows + np.log1p(-ratio)
    return np.asarray(alive[h.i_T]), np.asarray(died)


def _pareto_nbd_loglik(r: float, alpha: float, s: float, beta: float, h: _Histories) -> FloatArray:
    """Per-row Pareto/NBD log-likelihood (log-sum-exp of the two terms)."""
    alive, died = _pareto_nbd_terms(r, alpha, s, beta, h)
    return np.asarray(np.logaddexp(alive, died), dtype=np.float64)


@dataclass(frozen=True)
class ParetoNBD:
    """A fitted Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Purchases follow a Poisson process with rate λ ~ Gamma(r, α); the unobserved
    lifetime is exponential with rate μ ~ Gamma(s, β).
    """

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = math.nan

    def loglik(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Log-likelihood of each customer's (x, t_x, T) under these parameters."""
        h = _histories(RFMArrays.of(frequency, recency, T), compress=False)
        return _pareto_nbd_loglik(self.r, self.alpha, self.s, self.beta, h)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T): the share of the likelihood from "still alive"."""
        h = _histories(RFMArrays.of(frequency, recency, T), compress=False)
        alive, died = _pareto_nbd_terms(self.r, self.alpha, self.s, self.beta, h)
        return np.asarray(expit(alive - died), dtype=np.float64)

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T] (Schmittlein et al. 1987; Fader & Hardie 2005 eq. 24).

        E = (r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive),
        with the s → 1 limit (r+x)/(α+T) · (β+T) · ln((β+T+t)/(β+T)).
        """
        d = RFMArrays.of(frequency, recency, T)
        if t <= 0:
            return np.zeros_like(d.frequency)
        log_ratio = np.log1p(t / (self.beta + d.T))  # ln((β+T+t)/(β+T))
        s1 = self.s - 1.0
        growth = log_ratio if abs(s1) < 1e-10 else -np.expm1(-s1 * log_ratio) / s1
        rate = (self.r + d.frequency) / (self.alpha + d.T) * (self.beta + d.T)
        return np.asarray(rate * growth * self.p_alive(d.frequency, d.recency, d.T))

    def as_dict(self) -> dict[str, float]:
        """Parameters and log-likelihood as a JSON-ready dict."""
        return asdict(self)


def fit_pareto_nbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> ParetoNBD:
    """Fit Pareto/NBD by maximum likelihood on compressed (x, t_x, T) rows."""
    data = RFMArrays.of(frequency, recency, T)
    h = _histories(data, compress=True)

    def loglik(theta: FloatArray) -> float:
        r, alpha, s, beta = (float(v) for v in np.exp(theta))
        return float(h.weight @ _pareto_nbd_loglik(r, alpha, s, beta, h))

    scale = max(float(np.mean(data.T)), 1e-3)
    start = np.log([1.0, scale, 1.0, scale])
    theta, ll = _maximise(loglik, start, float(h.weight.sum()))
    r, alpha, s, beta = (float(v) for v in np.exp(theta))
    return ParetoNBD(r=r, alpha=alpha, s=s, beta=beta, log_likelihood=ll)


# --------------------------------------------------------------- Gamma-Gamma


def _gamma_gamma_loglik(p: float, q: float, v: float, x: FloatArray, m: FloatArray) -> FloatArray:
    """Log density of the mean spend m_x of x transactions (Fader & Hardie 2013, eq. 3).

    f(m_x | p,q,γ; x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m_x^(px-1) · x^(px) / (γ + m_x x)^(px+q)
    """
    px = p * x
    return np.asarray(
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * math.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + m * x),
        dtype=np.float64,
    )


def _spend_arrays(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    if x.shape != m.shape or x.ndim != 1:
        raise CLVInputError("frequency and monetary_value must be 1-d arrays of equal length")
    return x, m


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model (Fader & Hardie 2013).

    Each transaction value is Gamma(p, ν); ν varies across customers as Gamma(q, γ).
    ``v`` is γ, named as in the `lifetimes` convention.
    """

    p: float
    q: float
    v: float
    log_likelihood: float = math.nan

    @property
    def population_mean_spend(self) -> float:
        """E[M] = pγ/(q-1): the expected spend of a customer with no repeat history."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else math.inf

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[M | p,q,γ; m_x, x] = (γ + m_x x) p / (px + q - 1).

        A weighted average of the population mean pγ/(q-1) and the observed mean
        m_x, with weight px/(px+q-1) on m_x. Customers with x = 0 (or a missing or
        non-positive m_x) get the population mean.
        """
        x, m = _spend_arrays(frequency, monetary_value)
        usable = (x > 0) & np.isfinite(m) & (m > 0)
        x_used = np.where(usable, x, 0.0)
        m_used = np.where(usable, m, 0.0)
        return np.asarray(
            (self.v + m_used * x_used) * self.p / (self.p * x_used + self.q - 1.0),
            dtype=np.float64,
        )

    def as_dict(self) -> dict[str, float]:
        """Parameters and log-likelihood as a JSON-ready dict."""
        return asdict(self)


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGamma:
    """Fit Gamma-Gamma by maximum likelihood on customers with x > 0 and m_x > 0.

    `monetary_value` is each customer's mean value of the repeat purchases (the first
    purchase excluded), as in Fader & Hardie (2013).
    """
    x, m = _spend_arrays(frequency, monetary_value)
    usable = (x > 0) & np.isfinite(m) & (m > 0)
    if int(usable.sum()) < MIN_REPEAT_CUSTOMERS:
        raise CLVInputError(
            f"too few repeat customers with positive spend to fit Gamma-Gamma "
            f"(need at least {MIN_REPEAT_CUSTOMERS}, got {int(usable.sum())})"
        )
    x, m = x[usable], m[usable]

    def loglik(theta: FloatArray) -> float:
        p, q, v = (float(val) for val in np.exp(theta))
        return float(_gamma_gamma_loglik(p, q, v, x, m).sum())

    start = np.log([1.0, 2.0, float(np.mean(m))])
    theta, ll = _maximise(loglik, start, float(len(x)))
    p, q, v = (float(val) for val in np.exp(theta))
    return GammaGamma(p=p, q=q, v=v, log_likelihood=ll)


# ----------------------------------------------------------------------- CLV


class PurchaseModel(Protocol):
    """What CLV needs from a purchase model (BGNBD and ParetoNBD both provide it)."""

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchases in the next `t` time units."""
        ...


def customer_lifetime_value(
    model: PurchaseModel,
    spend: GammaGamma,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    time_unit: TimeUnit = "week",
    months: int = 12,
    monthly_discount_rate: float = 0.01,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next `months`.

    CLV_i = Σ_{k=1..months} E[M_i] · (E[Y_i(k·L)] - E[Y_i((k-1)·L)]) / (1 + d)^k,

    where L is one month (365.25/12 days) in the model's time unit, E[Y_i(t)] the
    purchase model's conditional expectation, E[M_i] the Gamma-Gamma conditional
    expected spend and d the monthly discount rate: purchases expected in month k
    are discounted as if they happened at its end.
    """
    if months < 1:
        raise CLVInputError("months must be at least 1")
    if monthly_discount_rate <= -1.0:
        raise CLVInputError("the monthly discount rate must be greater than -1")
    d = RFMArrays.of(frequency, recency, T)
    month = DAYS_PER_MONTH / TIME_UNIT_DAYS[time_unit]
    expected_spend = spend.expected_spend(d.frequency, monetary_value)
    value = np.zeros_like(d.frequency)
    previous = np.zeros_like(d.frequency)
    for k in range(1, months + 1):  # over months, never over customers
        cumulative = model.expected_purchases(k * month, d.frequency, d.recency, d.T)
        value += (cumulative - previous) / (1.0 + monthly_discount_rate) ** k
        previous = cumulative
    return np.asarray(value * expected_spend, dtype=np.float64)


# ----------------------------------------------------------- transactions → RFM


def read_transactions_csv(path: str | Path) -> pl.DataFrame:
    """Read a customer_id,date,amount CSV into typed columns (String, Date, Float64).

    Dates are ISO ``YYYY-MM-DD`` (a time part after the date is ignored). Raises
    CLVInputError with a one-line reason for a missing file, missing columns or
    unparseable values.
    """
    path = Path(path)
    if not path.is_file():
        raise CLVInputError(f"transactions file not found: {path}")
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CLVInputError(f"cannot read {path} as CSV: {first_line}") from exc
    return parse_transactions(raw)


def parse_transactions(raw: pl.DataFrame) -> pl.DataFrame:
    """Type a frame of string columns customer_id, date, amount; reject bad rows."""
    found = raw.columns
    raw = raw.rename({c: c.strip().lower() for c in found})
    missing = [c for c in ("customer_id", "date", "amount") if c not in raw.columns]
    if missing:
        raise CLVInputError(
            f"missing column(s) {', '.join(missing)}; expected customer_id,date,amount "
            f"(found {','.join(found) or 'none'})"
        )
    typed = raw.select(
        pl.col("customer_id").cast(pl.String).str.strip_chars(),
        pl.col("date")
        .cast(pl.String)
        .str.strip_chars()
        .str.slice(0, 10)
        .str.to_date("%Y-%m-%d", strict=False),
        pl.col("amount").cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False),
        pl.col("date").cast(pl.String).alias("_date_raw"),
        pl.col("amount").cast(pl.String).alias("_amount_raw"),
    ).with_row_index("_line", offset=2)  # line 1 is the header
    checks = [
        (pl.col("customer_id").is_null() | (pl.col("customer_id") == ""), "empty customer_id"),
        (pl.col("date").is_null(), "date is not YYYY-MM-DD"),
        (pl.col("amount").is_null() | ~pl.col("amount").is_finite(), "amount is not a number"),
        (pl.col("amount") < 0, "amount is negative"),
    ]
    for condition, reason in checks:
        bad = typed.filter(condition)
        if bad.height:
            row = bad.row(0, named=True)
            raise CLVInputError(
                f"{bad.height} row(s) with {reason}, first on line {row['_line']} "
                f"(date={row['_date_raw']!r}, amount={row['_amount_raw']!r})"
            )
    return typed.select("customer_id", "date", "amount")


def summarize_transactions(
    transactions: pl.DataFrame,
    *,
    observation_end: dt.date,
    time_unit: TimeUnit = "week",
) -> pl.DataFrame:
    """Customer-level RFM summary from customer_id, date (Date), amount rows.

    Rows after `observation_end` are ignored. Purchases on the same day are one
    purchase with their amounts summed. Per customer:

    - ``frequency``: purchase days after the first (repeat purchases),
    - ``recency``: first to last purchase day, in `time_unit`,
    - ``T``: first purchase day to `observation_end`, in `time_unit`,
    - ``monetary_value``: mean amount of the repeat purchase days (first day
      excluded); null when frequency is 0,
    - ``first_purchase``: the first purchase day.
    """
    if time_unit not in TIME_UNIT_DAYS:
        raise CLVInputError(f"time unit must be one of {', '.join(TIME_UNIT_DAYS)}")
    unit = TIME_UNIT_DAYS[time_unit]
    end = pl.lit(observation_end, dtype=pl.Date)
    days = (
        transactions.lazy()
        .filter(pl.col("date") <= end)
        .group_by(["customer_id", "date"])
        .agg(pl.col("amount").sum())
    )
    summary = (
        days.group_by("customer_id")
        .agg(
            pl.len().alias("purchase_days"),
            pl.col("date").min().alias("first_purchase"),
            pl.col("date").max().alias("last_purchase"),
            pl.col("amount").sum().alias("total"),
            pl.col("amount").sort_by("date").first().alias("first_amount"),
        )
        .select(
            "customer_id",
            (pl.col("purchase_days") - 1).cast(pl.Int64).alias("frequency"),
            ((pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days() / unit).alias(
                "recency"
            ),
            ((end - pl.col("first_purchase")).dt.total_days() / unit).alias("T"),
            pl.when(pl.col("purchase_days") > 1)
            .then((pl.col("total") - pl.col("first_amount")) / (pl.col("purchase_days") - 1))
            .otherwise(None)
            .alias("monetary_value"),
            "first_purchase",
        )
        .sort("customer_id")
    )
    return summary.collect()


# ------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class CLVResult:
    """Everything `analytics clv` reports: fitted models and per-customer predictions."""

    bgnbd: BGNBD
    pareto_nbd: ParetoNBD
    gamma_gamma: GammaGamma
    customers: pl.DataFrame  # summary plus p_alive, expected_purchases, expected_spend, clv
    time_unit: TimeUnit
    observation_end: dt.date
    model: Literal["bgnbd", "pareto_nbd"]  # the purchase model behind the predictions
    months: int
    monthly_discount_rate: float


def run_clv(
    transactions: pl.DataFrame,
    *,
    observation_end: dt.date,
    time_unit: TimeUnit = "week",
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    model: Literal["bgnbd", "pareto_nbd"] = "bgnbd",
) -> CLVResult:
    """Summarise transactions, fit all three models and predict per customer.

    Per-customer predictions (P(alive), expected purchases over `months`, CLV) use
    the purchase model named by `model`; both purchase models are always fitted.
    """
    summary = summarize_transactions(
        transactions, observation_end=observation_end, time_unit=time_unit
    )
    repeat = int((summary["frequency"] > 0).sum())
    if summary.height < MIN_CUSTOMERS or repeat < MIN_REPEAT_CUSTOMERS:
        raise CLVInputError(
            f"too few customers up to {observation_end.isoformat()}: {summary.height} "
            f"({repeat} with repeat purchases); need at least {MIN_CUSTOMERS} "
            f"({MIN_REPEAT_CUSTOMERS} with repeat purchases)"
        )
    x = summary["frequency"].to_numpy().astype(np.float64)
    tx = summary["recency"].to_numpy()
    t_obs = summary["T"].to_numpy()
    m = summary["monetary_value"].fill_null(np.nan).to_numpy()

    bgnbd = fit_bgnbd(x, tx, t_obs)
    pareto = fit_pareto_nbd(x, tx, t_obs)
    spend = fit_gamma_gamma(x, m)
    chosen: BGNBD | ParetoNBD = bgnbd if model == "bgnbd" else pareto
    horizon = months * DAYS_PER_MONTH / TIME_UNIT_DAYS[time_unit]
    customers = summary.with_columns(
        pl.Series("p_alive", chosen.p_alive(x, tx, t_obs)),
        pl.Series("expected_purchases", chosen.expected_purchases(horizon, x, tx, t_obs)),
        pl.Series("expected_spend", spend.expected_spend(x, m)),
        pl.Series(
            "clv",
            customer_lifetime_value(
                chosen,
                spend,
                x,
                tx,
                t_obs,
                m,
                time_unit=time_unit,
                months=months,
                monthly_discount_rate=monthly_discount_rate,
            ),
        ),
    )
    return CLVResult(
        bgnbd=bgnbd,
        pareto_nbd=pareto,
        gamma_gamma=spend,
        customers=customers,
        time_unit=time_unit,
        observation_end=observation_end,
        model=model,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
    )


# ------------------------------------------------------------------ simulation


def simulate_bgnbd(
    n: int,
    params: BGNBD,
    T: ArrayLike,
    rng: np.random.Generator,
) -> RFMArrays:
    """Draw (x, t_x, T) for `n` customers from the BG/NBD generative process.

    λ ~ Gamma(r, rate α), p ~ Beta(a, b). The number of repeat purchases a
    customer would make before dropping out is Geometric(p) on {1, 2, ...}; the
    purchases in (0, T] are Poisson(λT), and given that count N the x-th arrival
    time is T · Beta(x, N - x + 1) (order statistics of uniforms). Vectorised.
    """
    t_obs = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    p = rng.beta(params.a, params.b, size=n)
    before_dropout = rng.geometric(p)
    arrivals = rng.poisson(lam * t_obs)
    x = np.minimum(before_dropout, arrivals)
    has = x > 0
    tx = np.zeros(n)
    tx[has] = t_obs[has] * rng.beta(x[has], arrivals[has] - x[has] + 1)
    return RFMArrays(x.astype(np.float64), tx, t_obs)
