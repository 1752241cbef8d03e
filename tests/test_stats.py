"""The pure-Python statistics against known values (reference figures from SciPy 1.17 and
closed forms), and the repeat statistics built on them."""

from __future__ import annotations

import math

import pytest

from greenmeter.stats import betainc, describe, median, t_cdf, t_ppf, welch_test


def test_t_cdf_closed_forms():
    # df = 1 is Cauchy: 1/2 + atan(t)/pi; df = 2: 1/2 + t / (2 sqrt(2 + t^2)).
    for t in (-3.0, -0.5, 0.0, 0.7, 1.0, 4.0, 50.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-13)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-13)


@pytest.mark.parametrize(
    "t, df, expected",
    [
        (2.0, 5, 0.9490302605850708),
        (-1.5, 24.9, 0.07309416528892172),  # non-integer df, as Welch's test gives
        (3.0, 2.5, 0.9637119522254841),
    ],
)
def test_t_cdf_reference_values(t, df, expected):
    assert t_cdf(t, df) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "df, expected",
    [
        (1, 12.706204736174694),
        (2, 4.302652729749462),
        (4, 2.7764451051977934),
        (9, 2.262157162798205),
        (29, 2.045229642132703),
    ],
)
def test_t_quantile_975(df, expected):
    assert t_ppf(0.975, df) == pytest.approx(expected, rel=1e-9)
    assert t_ppf(0.025, df) == pytest.approx(-expected, rel=1e-9)


def test_t_quantile_tends_to_normal():
    assert t_ppf(0.975, math.inf) == pytest.approx(1.959963984540054, rel=1e-9)


def test_regularized_incomplete_beta():
    assert betainc(2.5, 0.5, 0.3) == pytest.approx(0.018927124071945658, rel=1e-10)
    assert betainc(10, 3, 0.8) == pytest.approx(0.5583457484800002, rel=1e-10)
    assert betainc(1, 1, 0.37) == pytest.approx(0.37, abs=1e-14)  # uniform
    assert betainc(3, 4, 0.0) == 0.0 and betainc(3, 4, 1.0) == 1.0


def test_welch_known_example():
    # Welch's t-test article, example 1 (unequal variances): t = 2.46, df = 24.99, p = 0.021.
    a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    result = welch_test(a, b)
    assert result.t == pytest.approx(2.455356398286006, rel=1e-12)
    assert result.df == pytest.approx(24.988529290231416, rel=1e-12)
    assert result.p_value == pytest.approx(0.021378001462866992, rel=1e-9)


def test_welch_significant_and_not():
    base = [100, 101, 99, 100.5, 99.5]
    assert welch_test(base, [110, 111, 109, 110.5, 109.5]).p_value == pytest.approx(
        4.073918328674922e-08, rel=1e-6
    )
    noisy = welch_test([100, 104, 96, 102, 98], [101, 105, 97, 103, 99])
    assert noisy.p_value == pytest.approx(0.6305360755569764, rel=1e-9)


def test_welch_constant_sides():
    assert welch_test([5, 5, 5], [5, 5]).p_value == 1.0
    assert welch_test([5, 5, 5], [6, 6]).p_value == 0.0
    with pytest.raises(ValueError):
        welch_test([1.0], [1.0, 2.0])


def test_describe_mean_median_sd_ci():
    values = [101.2, 98.7, 100.4, 103.9, 99.1, 100.0, 97.6, 102.3]
    s = describe(values)
    assert s.n == 8
    assert s.mean == pytest.approx(100.4, abs=1e-12)
    assert s.median == pytest.approx(100.2, abs=1e-12)
    assert s.std == pytest.approx(2.038206494515638, rel=1e-12)
    assert s.ci_low == pytest.approx(98.69601672798338, rel=1e-10)
    assert s.ci_high == pytest.approx(102.10398327201663, rel=1e-10)


def test_describe_single_value_has_no_spread():
    s = describe([42.0])
    assert (s.mean, s.median, s.std, s.ci_low, s.ci_high) == (42.0, 42.0, None, None, None)
    assert median([3, 1, 2, 10]) == 2.5


def test_repetitions_that_spread_widely_suggest_interleaving():
    from greenmeter.reports.summary import spread_advice
    from greenmeter.results import RepeatStats
    from greenmeter.stats import describe

    noisy = RepeatStats(3, 0, {"energy_j": describe([102.0, 177.0, 130.0])})
    assert "interleave" in spread_advice(noisy) and "28%" in spread_advice(noisy)
    steady = RepeatStats(3, 0, {"energy_j": describe([100.0, 101.0, 99.0])})
    assert spread_advice(steady) is None
