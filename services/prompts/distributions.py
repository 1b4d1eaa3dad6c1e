"""The tails the experiment statistics need: Student's t (two-sided p-values, quantiles for
intervals), the standard normal (the standard library's NormalDist) and chi-square (SRM).

Written here rather than taken from scipy because the runtime must not depend on scipy; the
regularised incomplete beta and gamma functions are the textbook continued fraction and series
(Lentz's method), accurate to about 1e-12 over the ranges experiments produce, and tested against
scipy.stats in tests/prompts.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 10_000
STANDARD_NORMAL = NormalDist()


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITERATIONS):
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
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) = 1 - P(a, x)."""
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITERATIONS):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(log_front) * h


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom (df may be fractional: Welch)."""
    if math.isinf(df):
        return 1.0 - STANDARD_NORMAL.cdf(t)
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_two_sided_p(t: float, df: float) -> float:
    return min(1.0, 2.0 * t_sf(abs(t), df))


def t_pdf(t: float, df: float) -> float:
    log_density = (
        math.lgamma((df + 1) / 2)
        - math.lgamma(df / 2)
        - 0.5 * math.log(df * math.pi)
        - (df + 1) / 2 * math.log1p(t * t / df)
    )
    return math.exp(log_density)


def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t: Newton's method from the normal quantile (a few steps for the
    degrees of freedom experiments have), bisection on the tail where Newton would leave the bracket."""
    if not 0.0 < p < 1.0:
        raise ValueError("p is in (0, 1)")
    if math.isinf(df):
        return STANDARD_NORMAL.inv_cdf(p)
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    target = 1.0 - p
    low, high = 0.0, 1.0
    while t_sf(high, df) > target:
        low, high = high, high * 2.0
    x = min(max(STANDARD_NORMAL.inv_cdf(p), low), high)
    for _ in range(200):
        excess = t_sf(x, df) - target
        if excess > 0:
            low = x
        else:
            high = x
        density = t_pdf(x, df)
        step = excess / density if density > 0 else math.inf
        candidate = x + step
        if not low < candidate < high:
            candidate = (low + high) / 2.0
        if abs(candidate - x) < 1e-13 * max(1.0, abs(x)) or high - low < 1e-13 * max(1.0, high):
            return candidate
        x = candidate
    return x


def normal_two_sided_p(z: float) -> float:
    return min(1.0, 2.0 * (1.0 - STANDARD_NORMAL.cdf(abs(z))))


def chi2_sf(x: float, df: float) -> float:
    return regularized_upper_gamma(df / 2.0, x / 2.0)
