"""Leak regression: is a memory series growing, how fast, and when would memory run out?

The method, for one series of (time, bytes) samples:

1. **Warm-up excluded**: the first ``warmup_fraction`` of the series (10% by default) or an
   explicit ``warmup_s``; caches fill and pools grow there, which is not a leak.
2. **Floors, not points**: the rest is cut into ``windows`` equal windows (40 by default, each at
   least three sample intervals long, and at least 1.1 periods of a sawtooth found in the
   autocorrelation) and only each window's lowest sample is kept. A garbage
   collector's sawtooth — memory climbing until a collection drops it back — has a flat floor
   when nothing leaks and a rising floor when something does; regressing on every point would
   mistake the teeth for growth or drown a slow leak in them.
3. **Slope**: Theil–Sen (median of pairwise slopes, with its 95% confidence interval) beside
   ordinary least squares (slope, standard error, R²), in MB per hour (MB = 10^6 bytes).
4. **Trend test**: Mann–Kendall, i.e. Kendall's tau between time and the floors; its p-value is
   corrected for autocorrelation (Hamed & Rao 1998), the plain one is reported beside it.
5. **Verdict** (the rule, also in :data:`RULE_TEXT`):
   - *leak*: tau > 0 with p < ``alpha`` (0.01), the Theil–Sen interval's lower bound > 0, and the
     floor grows over the observed span by at least ``min_growth_pct`` (2%) of its median level
     and at least ``min_growth_bytes`` (1 MB);
   - *no leak*: the interval's upper bound times the span is below that practical size, so a
     leak that large is ruled out;
   - *inconclusive*: anything else (too few windows, a trend too noisy to rule in or out).
6. **Time to exhaustion**: available memory at the end divided by the Theil–Sen slope.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["RULE_TEXT", "LeakResult", "LeakRule", "PendingLeak", "analyze_leak", "import_statistics", "judge_leak",
           "measure_leak", "window_floors"]

MB = 1e6
LEAK, NO_LEAK, INCONCLUSIVE = "leak", "no leak", "inconclusive"


@dataclass(frozen=True)
class LeakRule:
    """The knobs of the leak verdict; the defaults are the documented rule."""

    alpha: float = 0.01
    min_growth_pct: float = 2.0
    min_growth_bytes: float = 1 * MB
    windows: int = 40
    min_windows: int = 8
    warmup_fraction: float = 0.10
    warmup_s: float | None = None

    def text(self) -> str:
        """The rule in one paragraph, with these numbers."""
        return (f"Warm-up excluded (first {self.warmup_s:g} s)" if self.warmup_s is not None else
                f"Warm-up excluded (first {self.warmup_fraction:.0%} of the series)") + (
            f"; the rest cut into {self.windows} windows (each at least 1.1 GC-sawtooth periods) and regressed "
            f"on each window's floor (minimum). LEAK when Mann-Kendall tau > 0 with p < {self.alpha:g} "
            f"(Hamed-Rao autocorrelation-corrected), the Theil-Sen 95% CI of the slope is "
            f"above 0, and the floor grows over the observed span by >= {self.min_growth_pct:g}% of its "
            f"median level and >= {self.min_growth_bytes / MB:g} MB. NO LEAK when the CI's upper bound "
            f"times the span is below that size. INCONCLUSIVE otherwise, or with fewer than "
            f"{self.min_windows} windows.")


RULE_TEXT = LeakRule().text()


@dataclass
class LeakResult:
    """The regression of one memory series and its verdict."""

    series: str
    verdict: str
    reason: str
    host: str = ""
    kind: str = ""
    name: str = ""
    n_points: int = 0
    n_windows: int = 0
    warmup_s: float = 0.0
    window_s: float = 0.0
    span_h: float = 0.0
    level_mb: float | None = None
    last_mb: float | None = None
    slope_mb_per_h: float | None = None
    ci_low_mb_per_h: float | None = None
    ci_high_mb_per_h: float | None = None
    ols_slope_mb_per_h: float | None = None
    ols_stderr_mb_per_h: float | None = None
    r2: float | None = None
    kendall_tau: float | None = None
    kendall_p: float | None = None
    kendall_p_uncorrected: float | None = None
    sawtooth_period_s: float | None = None
    growth_mb: float | None = None
    growth_pct: float | None = None
    hours_to_exhaustion: float | None = None
    fit_t0: float | None = None
    fit_intercept_mb: float | None = None
    floors_t: list[float] = field(default_factory=list)
    floors_mb: list[float] = field(default_factory=list)

    def as_dict(self, floors: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not floors:
            data.pop("floors_t")
            data.pop("floors_mb")
        return data

    def fitted(self, t: np.ndarray) -> np.ndarray | None:
        """The Theil–Sen line (MB) at wall-clock times ``t``, for charts."""
        if self.slope_mb_per_h is None or self.fit_t0 is None or self.fit_intercept_mb is None:
            return None
        return self.fit_intercept_mb + self.slope_mb_per_h * (np.asarray(t, dtype=float) - self.fit_t0) / 3600.0


def window_floors(t: np.ndarray, y: np.ndarray, start: float, window_s: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each window's lowest sample (its time and value); empty windows are left out."""
    idx = np.floor((t - start) / window_s).astype(np.int64)
    keep = (idx >= 0) & (idx < n) & np.isfinite(y)
    idx, tt, yy = idx[keep], t[keep], y[keep]
    if not len(idx):
        return np.empty(0), np.empty(0)
    if np.all(np.diff(idx) >= 0):  # time-ordered (the usual case): one argmin per window slice
        bounds = np.flatnonzero(np.diff(idx)) + 1
        starts = np.r_[0, bounds]
        ends = np.r_[bounds, len(idx)]
        picks = np.array([lo + int(np.argmin(yy[lo:hi])) for lo, hi in zip(starts, ends, strict=False)])
        return tt[picks], yy[picks]
    order = np.lexsort((yy, idx))
    idx, tt, yy = idx[order], tt[order], yy[order]
    first = np.ones(len(idx), dtype=bool)
    first[1:] = idx[1:] != idx[:-1]
    return tt[first], yy[first]


def sawtooth_period(t: np.ndarray, y: np.ndarray) -> float | None:
    """The dominant period (seconds) of a regular oscillation such as a GC sawtooth, or None.

    The autocorrelation of the detrended series (by FFT, on at most 20,000 evenly thinned points)
    is searched for its first peak after it has dipped below zero; a peak under 0.2 is no period.
    """
    n = len(t)
    if n < 32:
        return None
    step = max(1, n // 20000)
    tt, yy = t[::step], y[::step]
    dt = float(np.median(np.diff(tt)))
    if not dt > 0:
        return None
    x = yy - np.polyval(np.polyfit(tt - tt[0], yy, 1), tt - tt[0])
    if not np.any(x):
        return None
    size = 1 << int(np.ceil(np.log2(2 * len(x))))
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(x) // 2]
    if acf[0] <= 0:
        return None
    acf = acf / acf[0]
    below = np.flatnonzero(acf < 0)
    if not len(below):
        return None
    rest = acf[below[0]:]
    peak = int(np.argmax(rest)) + below[0]
    if acf[peak] < 0.2:
        return None
    return peak * dt


def _scipy_stats():
    from scipy import stats  # ~0.6 s: imported when first needed (see import_statistics)

    return stats


def import_statistics() -> None:
    """Import what :func:`judge_leak` needs now, e.g. while waiting for a helper process."""
    _scipy_stats()


def mann_kendall(y: np.ndarray) -> tuple[float, float, float]:
    """(tau, p, p corrected for autocorrelation) of a time-ordered series.

    The correction is Hamed & Rao (1998): the variance of S is inflated by the significant
    autocorrelations of the ranks of the detrended series, so slowly wandering memory is not
    taken for a trend as readily as the plain test would.
    """
    sps = _scipy_stats()
    n = len(y)
    kt = sps.kendalltau(np.arange(n), y)
    tau, p = float(kt.statistic), float(kt.pvalue)
    if not np.isfinite(tau):
        return 0.0, 1.0, 1.0
    diffs = np.sign(y[None, :] - y[:, None])
    s = float(np.triu(diffs, 1).sum())
    var_s = n * (n - 1) * (2 * n + 5) / 18.0
    slope = float(np.median((y[None, :] - y[:, None])[np.triu_indices(n, 1)] /
                            (np.arange(n)[None, :] - np.arange(n)[:, None])[np.triu_indices(n, 1)]))
    ranks = sps.rankdata(y - slope * np.arange(n))
    ranks = ranks - ranks.mean()
    denom = float(np.sum(ranks ** 2))
    factor = 1.0
    if denom > 0:
        bound = 1.96 / np.sqrt(n)
        for k in range(1, n - 2):
            rho = float(np.sum(ranks[:-k] * ranks[k:]) / denom)
            if abs(rho) > bound:
                factor += 2.0 / (n * (n - 1) * (n - 2)) * (n - k) * (n - k - 1) * (n - k - 2) * rho
    var_corrected = var_s * max(factor, 1.0)
    z = (s - np.sign(s)) / np.sqrt(var_corrected) if s else 0.0
    p_corrected = float(2 * sps.norm.sf(abs(z)))
    return tau, p, p_corrected


@dataclass
class PendingLeak:
    """A series measured by :func:`measure_leak` and waiting for :func:`judge_leak`: its window
    floors (hours since the fit's start, MB) and what the verdict needs besides."""

    result: LeakResult
    hours: np.ndarray
    floors_mb: np.ndarray
    rule: LeakRule
    available_bytes: float | None = None


def analyze_leak(t: np.ndarray, y: np.ndarray, *, series: str = "", host: str = "", kind: str = "",
                 name: str = "", available_bytes: float | None = None, rule: LeakRule | None = None) -> LeakResult:
    """Regress one memory series (``t`` wall-clock seconds, ``y`` bytes) and give its verdict."""
    measured = measure_leak(t, y, series=series, host=host, kind=kind, name=name, available_bytes=available_bytes,
                            rule=rule)
    return judge_leak(measured) if isinstance(measured, PendingLeak) else measured


def measure_leak(t: np.ndarray, y: np.ndarray, *, series: str = "", host: str = "", kind: str = "",
                 name: str = "", available_bytes: float | None = None,
                 rule: LeakRule | None = None) -> LeakResult | PendingLeak:
    """The part of :func:`analyze_leak` that needs numpy only (warm-up, sawtooth, window floors):
    a finished :class:`LeakResult` when the series is too short to judge, else a
    :class:`PendingLeak` for :func:`judge_leak`. The report measures in its helper process and
    judges in the main one, which imports scipy.stats (~0.6 s) while it waits for the helper."""
    rule = rule or LeakRule()
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    result = LeakResult(series=series or name, verdict=INCONCLUSIVE, reason="", host=host, kind=kind, name=name,
                        n_points=len(t))
    if len(t) < 2:
        result.reason = f"only {len(t)} sample(s)"
        return result
    if np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, y = t[order], y[order]
    total = float(t[-1] - t[0])
    warmup = rule.warmup_s if rule.warmup_s is not None else rule.warmup_fraction * total
    warmup = max(0.0, min(warmup, total))
    start = float(t[0]) + warmup
    span = float(t[-1]) - start
    result.warmup_s = warmup
    result.last_mb = float(y[-1]) / MB
    interval = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    if span <= 0:
        result.reason = "nothing left after the warm-up"
        return result
    period = sawtooth_period(t[t >= start], y[t >= start])
    result.sawtooth_period_s = period
    window = max(span / rule.windows, 3 * interval, 1.1 * period if period else 0.0)
    n = int(span // window) if window > 0 else 0
    if n * window < span:  # the last partial window still counts if it is at least half a window
        n += 1 if (span - n * window) >= window / 2 else 0
    result.window_s = window
    ft, fy = window_floors(t, y, start, window, max(n, 1))
    result.n_windows = len(ft)
    result.span_h = span / 3600.0
    if len(ft) < rule.min_windows:
        result.reason = (f"only {len(ft)} window(s) after the warm-up (need {rule.min_windows}): "
                         "the series is too short or too sparse to judge"
                         + (f" (windows must span the {period:.0f} s sawtooth)" if period else ""))
        return result
    th = (ft - start) / 3600.0
    fmb = fy / MB
    result.floors_t = [round(float(v), 3) for v in ft]
    result.floors_mb = [round(float(v), 6) for v in fmb]
    result.level_mb = float(np.median(fmb))
    result.fit_t0 = start
    return PendingLeak(result, th, fmb, rule, available_bytes)


def judge_leak(pending: PendingLeak) -> LeakResult:
    """Slope (Theil–Sen, least squares), trend test and verdict of a measured series (scipy.stats)."""
    result, th, fmb, rule, available_bytes = (pending.result, pending.hours, pending.floors_mb, pending.rule,
                                              pending.available_bytes)
    level = float(result.level_mb or 0.0)
    if np.ptp(fmb) == 0:
        slope = low = high = intercept = 0.0
        result.ols_slope_mb_per_h, result.ols_stderr_mb_per_h, result.r2 = 0.0, 0.0, 0.0
        tau, p = 0.0, 1.0
    else:
        sps = _scipy_stats()
        ts = sps.theilslopes(fmb, th, alpha=0.95)
        slope, intercept, low, high = float(ts.slope), float(ts.intercept), float(ts.low_slope), float(ts.high_slope)
        ols = sps.linregress(th, fmb)
        result.ols_slope_mb_per_h = float(ols.slope)
        result.ols_stderr_mb_per_h = float(ols.stderr)
        result.r2 = float(ols.rvalue ** 2)
        tau, p_plain, p = mann_kendall(fmb)
        result.kendall_p_uncorrected = p_plain
    result.slope_mb_per_h, result.ci_low_mb_per_h, result.ci_high_mb_per_h = slope, low, high
    result.fit_intercept_mb = intercept if np.ptp(fmb) else level
    result.kendall_tau, result.kendall_p = tau, p
    hours = result.span_h
    result.growth_mb = slope * hours
    result.growth_pct = 100.0 * slope * hours / level if level > 0 else None
    practical_mb = max(rule.min_growth_pct / 100.0 * level, rule.min_growth_bytes / MB)
    if available_bytes is not None and np.isfinite(available_bytes) and slope > 0:
        result.hours_to_exhaustion = float(available_bytes) / MB / slope
    if tau > 0 and p < rule.alpha and low > 0 and slope * hours >= practical_mb:
        result.verdict = LEAK
        result.reason = (f"floor grows {slope:.3g} MB/h (95% CI {low:.3g}..{high:.3g}), "
                         f"+{slope * hours:.3g} MB over {hours:.2g} h, Mann-Kendall p={p:.2g}")
    elif high * hours < practical_mb:
        result.verdict = NO_LEAK
        result.reason = (f"growth of at most {max(high, 0) * hours:.3g} MB over {hours:.2g} h is ruled out "
                         f"above {practical_mb:.3g} MB (CI upper bound {high:.3g} MB/h)")
    else:
        why = []
        if not (tau > 0 and p < rule.alpha):
            why.append(f"no significant upward trend (tau={tau:.2f}, p={p:.2g})")
        elif low <= 0:
            why.append(f"slope CI includes 0 ({low:.3g}..{high:.3g} MB/h)")
        else:
            why.append(f"growth {slope * hours:.3g} MB is below the practical size {practical_mb:.3g} MB")
        why.append(f"but a growth up to {high * hours:.3g} MB over the span cannot be ruled out")
        result.verdict = INCONCLUSIVE
        result.reason = "; ".join(why)
    return result
