"""Small-sample statistics for repeated runs, in pure Python (no SciPy on the run path).

- :func:`describe`: mean, median, sample standard deviation and a Student-t confidence
  interval of the mean.
- :func:`welch_test`: Welch's unequal-variances t-test, two-sided.
- The t distribution's CDF comes from the regularized incomplete beta function
  (continued fraction, Numerical Recipes' ``betacf``); its quantile is found by bisection on
  the CDF, so both work for the non-integer degrees of freedom Welch's test produces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95
_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x = {x} outside [0, 1]")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry
    # I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t distribution with ``df`` > 0 degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """The t quantile: the t with P(T <= t) = p (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability {p} outside (0, 1)")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:  # df = 1, p = 0.9995 needs ~637: a few doublings
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    median: float
    std: float | None
    """Sample standard deviation (n - 1); None for a single value."""
    ci_low: float | None
    ci_high: float | None
    """The CONFIDENCE (95 %) Student-t interval of the mean; None for a single value."""


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted ``ordered``, linear between ranks (numpy's
    default method)."""
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def describe(values: list[float], confidence: float = CONFIDENCE) -> Summary:
    n = len(values)
    if n == 0:
        raise ValueError("no values to describe")
    scale = max(abs(v) for v in values)
    if scale > 1e150:  # squares of 1e308 overflow: the same figures, computed scaled down
        s = describe([v / scale for v in values], confidence)
        return Summary(
            n,
            *(
                None if x is None else x * scale
                for x in (s.mean, s.median, s.std, s.ci_low, s.ci_high)
            ),
        )
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, mean, None, None, None)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, median(values), std, mean - half, mean + half)


@dataclass(frozen=True)
class WelchResult:
    t: float
    df: float
    p_value: float
    """Two-sided."""


def welch_test(a: list[float], b: list[float]) -> WelchResult:
    """Welch's t-test of mean(b) - mean(a); needs at least two values on each side."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    scale = max(abs(v) for v in (*a, *b))
    if scale > 1e150:  # t and df do not depend on the unit: test the values scaled down
        return welch_test([v / scale for v in a], [v / scale for v in b])
    sa, sb = describe(a), describe(b)
    va, vb = sa.std**2 / sa.n, sb.std**2 / sb.n
    diff = sb.mean - sa.mean
    if va + vb == 0.0:  # both sides constant: the difference is exact, or there is none
        return WelchResult(
            0.0 if diff == 0 else math.copysign(math.inf, diff),
            float(sa.n + sb.n - 2),
            1.0 if diff == 0 else 0.0,
        )
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))
    p = 2.0 * (1.0 - t_cdf(abs(t), df))
    return WelchResult(t, df, min(1.0, max(0.0, p)))
