"""Where a fit starts when the user has not said: several starts, the lowest loss kept.

A nonlinear least-squares loss has local minima and flat regions that a single start near 0
falls into (a Michaelis-Menten Km < 0 beside the data's pole, a logistic's rate gone flat).
A fit is cheap next to its compile, so ``fit`` runs from ``count`` starts and keeps the one
with the lowest loss:

1. the start given (the user's values, the rest drawn from --seed: the single start's);
2. every free parameter at 1 (``scipy.optimize.curve_fit``'s start);
3. the rest drawn from ``seed``: each free parameter of size 10**U(-1, 1), positive with
   chance POSITIVE (rates, scales and amplitudes mostly are).

While they are compared each start may take SEARCH_STEPS steps (a start bound for a
valley can take a thousand); the best goes on from where it stopped if it had not finished.
On more than SCREEN_ROWS rows the starts are compared on every k-th row (at most
SCREEN_ROWS) and the best of them runs again from where it ended on all the rows: eight
starts then cost about one fit, not eight.

Parameters the user gave (``free`` False) keep their values in every start. Ties within
SAME go to the earlier start, a converged run first, so a first start that finds the
minimum gives the single start's answer exactly. ``Fit.reached`` counts the starts that
ended at the kept loss: a minimum reached from one start only may not be the lowest.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .errors import SymgradError
from .objectives import Remembered
from .solvers import NotFiniteAtStart, Penalty

DEFAULT_STARTS = 8
MOST_STARTS = 1000  # each start is a fit, kept in a list: bounded
POSITIVE = 0.75
SIZES = (-1.0, 1.0)  # log10 of a drawn start's size
SAME = 1e-6          # relative: two runs' losses this close reached one minimum
SCREEN_ROWS = 20_000  # beyond, starts are compared on a sample of this many rows
SEARCH_STEPS = 200    # steps a start may take while the starts are compared


def check_count(starts) -> int:
    return _whole(starts, "starts", 1, MOST_STARTS)


def _whole(value, name: str, least: int, most: float = math.inf) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not least <= value <= most:
        bounds = f">= {least}" if most == math.inf else f"from {least} to {most}"
        raise SymgradError(f"{name} must be a whole number {bounds}, not {value!r}")
    return int(value)


def candidates(theta0, free, count: int, seed: int) -> list[np.ndarray]:
    """``count`` starts (one where no parameter is free): theta0, its free entries at 1,
    then drawn from ``seed``."""
    theta0 = np.array(theta0, dtype=np.float64)
    free = np.ones(theta0.shape, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    if not free.any():
        return [theta0]
    starts = [theta0]
    if count > 1:
        starts.append(np.where(free, 1.0, theta0))
    drawn = np.random.default_rng([_whole(seed, 'seed', 0), 1])  # apart from --seed's first draw
    for _ in range(count - 2):
        size = 10.0 ** drawn.uniform(*SIZES, theta0.size)
        sign = np.where(drawn.random(theta0.size) < POSITIVE, 1.0, -1.0)
        starts.append(np.where(free, sign * size, theta0))
    return starts


def search(runner, objective, penalty, runs: list[np.ndarray], max_iter: int, report=None):
    """The Fit of the best of ``runs`` (starts): ``runner(objective, penalty, report, steps)``
    is (theta, index) -> the Fit of a run from theta. Each start may take SEARCH_STEPS steps
    while they are compared (on a sample beyond SCREEN_ROWS rows); the best then goes on,
    on all rows, where it had not finished."""
    if len(runs) == 1:
        return runner(objective, penalty, report, max_iter)(runs[0], 0)
    steps = min(max_iter, SEARCH_STEPS)
    screen = objective.sampled(SCREEN_ROWS)
    if screen is None:
        best = best_fit(runner(objective, penalty, report, steps), runs)
        if best.interrupted or best.converged or best.iterations < steps or steps == max_iter:
            return best  # (ended within the steps, for a reason of its own)
        run = runner(objective, penalty, report, max_iter - best.iterations)
        more = run(best.params, best.start)
        return kept(_continued(more, best.iterations), best)
    sample, step = screen  # the penalty weighed against 1/step of the rows' sum
    screening = report and (lambda progress: report(replace(progress, sampled=sample.rows)))
    best = best_fit(runner(Remembered(sample), Penalty(penalty.l2 / step, penalty.mask),
                           screening, steps), runs)
    if best.interrupted:
        return interrupted_screening(best, objective.rows)
    run = runner(objective, penalty, report, max_iter)
    try:
        return kept(run(best.params, best.start), best)
    except NotFiniteAtStart:  # at a row the sample left out: the first start instead
        fit = kept(run(runs[0], 0), best)
        return replace(fit, reached=1, warnings=fit.warnings + (
            "the best start on a sample of the rows is not finite on all of them (at a row "
            "the sample left out): fitted from the first start alone",))


def _continued(fit, before: int):
    """A run that went on from ``before`` steps, its count and reason said in all."""
    total = before + fit.iterations
    reason = f"not converged in {total} iterations" \
        if fit.reason.startswith("not converged in") else fit.reason
    return replace(fit, iterations=total, reason=reason)


def best_fit(fit_from, starts: list[np.ndarray]):
    """The Fit of lowest loss among ``fit_from(theta, index)`` over two or more starts,
    recording how many ran and reached it. A start where the loss is not finite is passed
    over (the first one's error is raised when every start is); a stop signal ends the
    search, and the best so far is returned, marked interrupted."""
    fits, refused = [], []
    for index, theta in enumerate(starts):
        try:
            fit = fit_from(theta, index)
        except NotFiniteAtStart as error:
            refused.append(error)
            continue
        fits.append(fit)
        if fit.interrupted:
            break
    if not fits:
        raise NotFiniteAtStart(f"{refused[0]} (and at each of the other {len(starts) - 1} "
                               f"starts)")
    best, stopped = replace(_lowest(fits), skipped=len(refused)), fits[-1]
    if not stopped.interrupted:
        return kept(best, best, fits)
    ran = len(fits) + len(refused)  # (the starts not run may hold a lower minimum)
    return kept(replace(best, interrupted=True, stop_signal=stopped.stop_signal,
                        converged=False, reason=f"interrupted in start {ran} of "
                                                f"{len(starts)} (the best so far kept)"),
                best, fits)


def kept(fit, best, fits=None):
    """``fit`` recording the search that chose ``best``: how many starts ran, how many
    reached its loss (a screened search's counts when ``fits`` is None)."""
    ran = len(fits) if fits else best.starts
    reached = sum(_same(other, best) for other in fits) if fits else best.reached
    return replace(fit, starts=ran, reached=reached, skipped=best.skipped,
                   warnings=fit.warnings + _alone(best, reached, ran))


def interrupted_screening(screened, rows: int):
    """The Fit of a stop while the starts were compared on a sample: the best point so far,
    its loss and standard errors not known on all the rows."""
    size = len(screened.params)
    return replace(screened, loss=math.nan, stderr=np.full(size, np.nan), covariance=None,
                   rows=rows, rss=None, dof=None, converged=False,
                   reason="interrupted while comparing starts on a sample of the rows",
                   warnings=("no standard errors: interrupted while comparing starts on a "
                             "sample of the rows",))


def _lowest(fits):
    ranked = [fit for fit in fits if _rank(fit) is not None]
    if not ranked:
        return fits[0]
    lowest = min(ranked, key=_rank)
    tied = [fit for fit in ranked if _same(fit, lowest)]
    return next((fit for fit in tied if fit.converged), tied[0])


def _rank(fit):
    """How a fit's loss compares: (0, its log2) for a loss >= 0 (Fit.loss_log2 where the loss
    left float64's range: lm on targets of 1e200 or 1e-200, whose losses read inf or 0),
    (-1, the loss) for a negative one, None where neither is known."""
    if math.isfinite(fit.loss_log2):
        return 0, fit.loss_log2
    if math.isfinite(fit.loss):
        return (0, math.log2(fit.loss) if fit.loss > 0 else -math.inf) if fit.loss >= 0 \
            else (-1, fit.loss)
    return None


def _same(fit, best) -> bool:
    """Whether ``fit`` ended at ``best``'s loss, within SAME (relative)."""
    rank, lowest = _rank(fit), _rank(best)
    if rank is None or lowest is None or rank[0] != lowest[0]:
        return False
    if rank[0] == 0:
        return rank[1] == lowest[1] or rank[1] - lowest[1] <= math.log2(1 + SAME)
    return rank[1] - lowest[1] <= SAME * abs(lowest[1])


def _alone(best, reached: int, ran: int) -> tuple[str, ...]:
    if reached > 1 or ran < 4 or not best.converged:
        return ()
    return (f"only 1 of {ran} starts reached this loss: a lower one may exist; try more "
            f"starts (--starts; starts= or n_init=) or one near the answer (--init; theta0= "
            f"or init=)",)
