"""Fits without a start: symgrad.fit's 8 starts against one start and scipy's curve_fit.

All in one process, on the same data:

1. The eight textbook curves of tests/textbook.py (40-80 rows, noise added), each fitted
   with no start given:
   - symgrad.fit, 8 starts (its default without theta0), numba backend, warm;
   - symgrad.fit, 1 start: the CLI's single start before starts existed, 0.1 x N(0, 1) from
     seed 0;
   - scipy.optimize.curve_fit with no p0 (every parameter 1, its default), and
     scipy.optimize.least_squares(method="trf") from the same start.
   The reference minimum is curve_fit from a start near the answer (xtol = ftol = gtol =
   1e-14). A fit "reaches" it when its RSS is within 1e-6 (relative) of the reference's.
   Times are medians of --repeats warm calls.
2. The logistic curve on --rows rows (default 1,000,000): symgrad.fit from 8 starts (compared
   on a 20,000-row sample, the best finished on all rows) and from 1 start, against
   curve_fit from the start near the answer (it does not reach the minimum from 1s).

    python benchmarks/starts.py [--repeats 5] [--rows 1000000] [--skip-large]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from timing import timed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import textbook  # noqa: E402

SAME = 1e-6


def _rss(curve, rows, theta) -> float:
    with np.errstate(all="ignore"):
        value = float(np.sum((curve.predict(rows[curve.column], *theta) - rows["y"]) ** 2))
    return value if np.isfinite(value) else np.inf


def _curve_fit(curve, rows, p0, tight=False):
    from scipy.optimize import curve_fit

    settings = {"xtol": 1e-14, "ftol": 1e-14, "gtol": 1e-14, "maxfev": 20000} if tight else {}
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return curve_fit(curve.predict, rows[curve.column], rows["y"], p0=p0, **settings)[0]
    except (RuntimeError, ValueError):
        return np.full(len(curve.params), np.nan)


def _least_squares(curve, rows):
    from scipy.optimize import least_squares

    x, y = rows[curve.column], rows["y"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return least_squares(lambda theta: curve.predict(x, *theta) - y,
                             np.ones(len(curve.params)), method="trf").x


def _symgrad(curve, rows, starts):
    import symgrad

    theta0 = None if starts > 1 else 0.1 * np.random.default_rng(0).standard_normal(
        len(curve.params))
    try:
        return symgrad.fit(f"({curve.model} - y)**2", list(curve.params), [curve.column, "y"],
                           rows, theta0, starts=starts).params
    except symgrad.SymgradError:
        return np.full(len(curve.params), np.nan)


def textbook_curves(repeats: int) -> None:
    contenders = {
        "symgrad, 8 starts": lambda c, r: _symgrad(c, r, 8),
        "symgrad, 1 start": lambda c, r: _symgrad(c, r, 1),
        "curve_fit from 1s": lambda c, r: _curve_fit(c, r, None),
        "least_squares trf from 1s": _least_squares,
    }
    reached = {name: 0 for name in contenders}
    times = {name: [] for name in contenders}
    print(f"{'curve':<14}" + "".join(f"{name:>28}" for name in contenders))
    for key, curve in textbook.CURVES.items():
        rows = textbook.data(key)
        best = _rss(curve, rows, _curve_fit(curve, rows, curve.near, tight=True))
        cells = []
        for name, run in contenders.items():
            seconds, theta = timed(lambda: run(curve, rows), repeats, warm_up=True)
            ok = _rss(curve, rows, theta) <= best * (1 + SAME)
            reached[name] += ok
            times[name].append(seconds)
            cells.append(f"{'reached' if ok else 'MISSED':>8} {seconds * 1e3:9.2f} ms")
        print(f"{key:<14}" + "".join(f"{cell:>28}" for cell in cells))
    print(f"{'reached':<14}" + "".join(f"{f'{reached[n]} of {len(textbook.CURVES)}':>28}"
                                       for n in contenders))
    base = np.median(times["symgrad, 8 starts"])
    print(f"{'median ms':<14}" + "".join(f"{np.median(times[n]) * 1e3:>28.2f}"
                                         for n in contenders))
    print(f"{'median / 8st':<14}" + "".join(f"{np.median(times[n]) / base:>28.2f}"
                                            for n in contenders))


def large(rows_count: int, repeats: int) -> None:
    curve = textbook.CURVES["logistic"]
    rows = textbook.data("logistic", rows=rows_count)
    best = _rss(curve, rows, _curve_fit(curve, rows, curve.near, tight=True))
    print(f"\nthe logistic curve on {rows_count:,} rows (median of {repeats}, warm):")
    contenders = {"symgrad, 8 starts (screened)": lambda: _symgrad(curve, rows, 8),
                  "symgrad, 1 start": lambda: _symgrad(curve, rows, 1),
                  "curve_fit from near the answer": lambda: _curve_fit(curve, rows, curve.near)}
    base = None
    for name, run in contenders.items():
        seconds, theta = timed(run, repeats, warm_up=True)
        base = base or seconds
        ok = _rss(curve, rows, theta) <= best * (1 + SAME)
        print(f"  {name:<32} {seconds * 1e3:9.1f} ms  {seconds / base:5.2f}x  "
              f"{'reached' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    textbook_curves(args.repeats)
    if not args.skip_large:
        large(args.rows, max(1, args.repeats // 2))


if __name__ == "__main__":
    main()
