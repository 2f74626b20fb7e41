"""Where a trust-region run (symgrad.solvers) stops: converged, or stalled short of a minimum,
at the edge of the model's domain or where the derivatives are too badly scaled to solve for
a step. The run asks once its steps no longer lower the loss; the answer tries steps along
one parameter at a time, which need no solve and so still move where the full step cannot."""
from __future__ import annotations

import math

import numpy as np

from .gram import EPS

COORDINATES = 8  # Newton steps along one parameter tried before a run is called stalled

PRECISION_LOST = ("no step computed in float64 lowers the loss, yet a step along one parameter "
                  "alone would take {share} of it off (the derivatives are too badly scaled "
                  "here to solve for a step): start elsewhere, closer to the optimum (--init, "
                  "theta0 or init)")
OUTSIDE_DOMAIN = ("no step lowers the loss where it is defined: moving {name} to {value} "
                  "would lower it, but the loss is not defined there (the model leaves its "
                  "domain: sqrt or log of a negative number, say), so the best fit may lie "
                  "outside the model's domain, with {name} at its edge; check the model and "
                  "the data (a sign?)")


def apart(value: float, current: float) -> str:
    """value with 6 significant digits, or as many more as tell it from current (a step
    from D = 1 to 0.9999999999999999 in sqrt(D - 1) is not "to 1")."""
    for digits in range(6, 18):
        if f"{value:.{digits}g}" != f"{current:.{digits}g}":
            break
    return f"{value:.{digits}g}"


def stopped(progress, reason, at, start, limit, report):
    """None where the run stops: converged for ``reason`` where a Newton step along one
    parameter alone would take at most ``limit`` of the loss off, or 4 eps whatever tol
    (``coordinate_reduction``), and no concave parameter's step (``_concave_steps``) leaves
    the domain or lowers the loss; else the first of the most promising such steps
    (``_coordinate_steps``) that lowers the loss is taken, an iteration, and the new
    (theta, f, g, B) returned for the run to go on. Where none does, a loss at float64's
    rounding of its start and of ``_curvature_scale`` is an exact fit, and any other a
    stall short of a minimum (derivatives spanning 1e0 to 1e230, say), at the domain's edge
    where a step made the loss nan. ``at``: (quantities, theta, f, g, B)."""
    quantities, theta, f, g, B = at
    share = coordinate_reduction(f, g, B)
    flat = share <= max(limit, 4 * EPS)  # a smaller share is below float64's resolution of f
    edge = None
    for j, moved in _concave_steps(theta, g, B) if flat else _coordinate_steps(theta, g, B):
        f_moved, g_moved, B_moved = quantities(moved) if all_finite(moved) else (math.inf,) * 3
        progress.passes += all_finite(moved)
        if all_finite(f_moved, g_moved, B_moved) and f_moved < f:
            progress.theta, progress.loss = moved, f_moved
            progress.iterations += 1
            if report:
                report(progress)
            return moved, f_moved, g_moved, B_moved
        if edge is None and all_finite(moved) and math.isnan(f_moved) and (flat or _near_edge(
                quantities, theta, moved)):  # (an overflow, a huge step's, is inf; a concave
            # parameter's step is sized by its distance to the edge: 2(D - 1) in sqrt(D - 1))
            edge = (int(j), float(moved[j]))
    if flat and edge is None:
        return mark_converged(progress, reason)
    if not flat and abs(f) <= EPS * min(abs(start), _curvature_scale(theta, B)):
        return mark_converged(progress, "the loss fell to float64's rounding of its start "
                                        "(an exact fit)")
    progress.reason = PRECISION_LOST.format(share=f"{100 * min(share, 1):.3g}%")
    progress.stalled, progress.edge = True, edge
    return None


def _near_edge(quantities, theta, moved) -> bool:
    """Whether 1/1024 of the move to where the loss is nan is outside the domain too: the
    parameter is at the edge (D of 1e-28 in sqrt(D), a step to -1e-14), not far inside it
    (D of 1.9e276 from a start of 1e300, a step overshooting to -1.8e276)."""
    return bool(math.isnan(quantities(theta + (moved - theta) / 1024)[0]))


def _curvature_scale(theta, B) -> float:
    """sum B_jj theta_j**2 / 2: about what changing every parameter by its own size would
    add to the loss (sum yhat**2 for least squares). An exact fit's loss is rounding beside
    it; a loss that fell 1e-16 of a start far from the data (a = 1e10 on y of 3) need not be."""
    terms = np.diag(B) * np.asarray(theta, dtype=np.float64) ** 2
    return float(np.sum(terms[np.isfinite(terms) & (terms > 0)])) / 2


def _coordinate_steps(theta, g, B):
    """(j, theta after a Newton step along parameter j) for each of the COORDINATES whose
    steps promise most (g_j**2 / B_jj, the largest first)."""
    diagonal = np.diag(B)
    usable = np.isfinite(diagonal) & (diagonal > 0) & np.isfinite(g)
    promise = np.where(usable, g * g / np.where(usable, diagonal, 1.0), -1.0)
    for j in np.argsort(-promise, kind="stable")[:COORDINATES]:
        if not usable[j]:
            return
        moved = np.array(theta, dtype=np.float64)
        moved[j] -= g[j] / diagonal[j]
        yield j, moved


def _concave_steps(theta, g, B):
    """(j, theta after a step of |g_j / B_jj| downhill along parameter j) for each parameter
    along which the loss curves down (B_jj < 0, an exact Hessian's) and still slopes: no
    minimum, whatever the share the others promise. Where a parameter is pinned at the edge
    of the model's domain (D at 1e-28 in sqrt(D), the data wanting D < 0) the step crosses
    the edge: the loss curves down there as D**-1.5 and slopes as D**-0.5."""
    diagonal = np.diag(B)
    concave = np.isfinite(diagonal) & (diagonal < 0) & np.isfinite(g) & (g != 0)
    for j in np.flatnonzero(concave)[:COORDINATES]:
        moved = np.array(theta, dtype=np.float64)
        moved[j] += g[j] / diagonal[j]
        yield j, moved


def coordinate_reduction(f, g, B) -> float:
    """The largest share of the loss that a Newton step along one parameter alone would take
    off, g_j**2 / (2 B_jj |f|): the squared cosine between the residuals and a column of J
    for a sum of squares (MINPACK's gtol measure), about 0 at a minimum."""
    diagonal = np.diag(B)
    usable = np.isfinite(diagonal) & (diagonal > 0) & np.isfinite(g)
    if f == 0.0 or not usable.any():
        return 0.0
    return float(np.max((g[usable] / np.sqrt(2 * diagonal[usable])) ** 2)) / abs(f)


def all_finite(*values) -> bool:
    return all(np.all(np.isfinite(v)) for v in values)


def mark_converged(progress, reason: str) -> None:
    progress.converged, progress.reason = True, reason
