"""Least squares in units where the residuals and the derivatives are near 1, for data whose
sums of squares leave float64's range.

A fit sums r**2, J^T r and J^T J. Residuals of 1e-200 square to 0, and a derivative of
1e-170 (k of exp(-k*t) with y of 1e-140 and t of 1e-30) squares to 0 beside one of 1e-140:
the solver then saw a loss of 0 or a parameter that cannot move, and said "converged".
MINPACK avoids this by never squaring (a QR of J, norms computed with scaling); symgrad's
solvers work on the sums, so the problem is restated instead: with rho a power of 2 near the
largest residual and D_k one near rho over the largest |dr/dtheta_k| at the start, the fit
runs on theta = D u and the loss over rho**2, whose residuals r / rho and Jacobian J D / rho
are near 1. Powers of 2 scale exactly, so this is the same problem, rounding included, and
the result is mapped back (``Units``, with ldexp: a value leaves float64's range only
where the result itself does). The Jacobian must be held (the objective is
``factored``): the residuals and derivatives themselves are in range, only their products
are not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .objectives import Remembered
from .solvers import Penalty

SAFE = 2.0 ** 400  # |r| and |dr/dtheta| within 2**+-400 (1e+-120): sums of squares in range
TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64: below, digits are lost
MOVED = 100        # the largest |r| moved by more than 2**100 (1e30) in a run: restate there
RESTATES = 3       # runs of one fit at most


@dataclass(frozen=True)
class Units:
    """theta = 2**e * u and the loss = 4**rho x the scaled loss (e = 0, rho = 0: unscaled).
    Powers of 2 applied with ldexp: exact, and in range wherever the result is."""
    e: np.ndarray
    rho: int = 0

    def theta(self, u) -> np.ndarray:
        return np.ldexp(u, self.e)

    def u(self, theta) -> np.ndarray:
        return np.ldexp(np.asarray(theta, dtype=np.float64), -self.e)

    def loss(self, value):
        return None if value is None else float(np.ldexp(value, 2 * self.rho))

    def log2(self, value, restated) -> float:
        """log2 of the loss ``value`` (in these units) where ``restated`` (its value in the
        data's units) leaves float64's normal range: inf (targets of 1e200), or 0 or
        subnormal (1e-200); nan where it is within it, or value is not."""
        if TINY <= abs(restated) < math.inf or not (math.isfinite(value) and value > 0):
            return math.nan
        return math.log2(value) + 2 * self.rho

    def errors(self, stderr) -> np.ndarray:
        return np.ldexp(stderr, self.e)

    def covariance(self, matrix):
        return None if matrix is None else np.ldexp(matrix, self.e[:, None] + self.e[None, :])

    def reporting(self, report):
        """The report callback for a run in these units: it passes each solvers.Progress
        on to ``report`` in the parameters' own units and the data's loss."""
        if report is None or not (self.e.any() or self.rho):
            return report
        return lambda progress: report(replace(progress, theta=self.theta(progress.theta),
                                               loss=self.loss(progress.loss)))


def unscaled(size: int) -> Units:
    """The Units of a fit run as it is stated (2**0 throughout)."""
    return Units(np.zeros(size, dtype=np.int64))


@dataclass
class Stated:
    """The objective and penalty a fit runs on, in ``units``; ``base`` and ``base_penalty``
    are as the caller stated them."""
    objective: object
    penalty: Penalty
    units: Units
    start: int | None = field(default=None, init=False)  # log2 of the largest |r| restated

    def __post_init__(self):
        self.base, self.base_penalty = self.objective, self.penalty

    def restate(self, progress, always: bool = False) -> None:
        """Restate at progress.theta (in these units; afterwards in the new ones)."""
        theta = self.units.theta(progress.theta)
        self.objective, self.penalty, self.units = restated(self.base, theta,
                                                           self.base_penalty, always)
        progress.theta, progress.loss = self.units.u(theta), math.inf
        self.start = self._largest(progress)

    def moved(self, progress) -> bool:
        """Whether a run that stopped should be restated and run again: its largest residual
        moved by more than 2**MOVED since the last restatement. Its units then no longer
        fit it: a loss that fell 1e200 reads as an exact fit, and a start of 1 on data of
        1e-100 left derivatives 1e-100 apart, whose steps crept to a stop short of the
        minimum. A factored objective only."""
        now = self._largest(progress)
        return not (self.start is None or now is None or abs(now - self.start) <= MOVED)

    def _largest(self, progress) -> int | None:
        """log2 of the largest |residual| at progress.theta, None where there is none."""
        if not getattr(self.base, "factored", False):
            return None
        r, _ = self.objective.residual_rows(progress.theta)
        largest = float(np.abs(r).max(initial=0.0))
        return _exponent(largest) if 0 < largest < math.inf else None


def restated(objective, theta, penalty: Penalty, always: bool = False):
    """(the objective, the penalty, Units) to fit in: the objective rescaled where its
    residuals or derivatives at theta are beyond SAFE (or below 1/SAFE), or ``always``,
    else as they are."""
    same = objective, penalty, unscaled(len(theta))
    if not getattr(objective, "factored", False):
        return same
    r, jacobian = objective.residual_rows(theta)
    sizes = np.abs(jacobian).max(axis=0, initial=0.0)
    largest = float(np.abs(r).max(initial=0.0))
    spans = [v for v in (largest, *sizes) if v > 0]
    if not np.all(np.isfinite(spans)) or not always and \
            all(1 / SAFE <= v <= SAFE for v in spans):
        return same
    rho = _exponent(largest) if largest > 0 else 0
    e = np.array([rho - _exponent(s) if s > 0 else _exponent(abs(t)) if t else 0
                  for s, t in zip(sizes, theta)], dtype=np.int64)
    units = Units(e, rho)
    # l2 over rho**2 on theta**2 = 4**e u**2; beyond float64 (a penalty on k of 1e600 times
    # the loss of data at 1e-250) it pins that parameter to 0 as 2**1000 does (its standard
    # error, the penalty's alone, is then not exact)
    weights = np.minimum(np.ldexp(penalty.l2 * penalty.mask, 2 * (e - rho)), 2.0 ** 1000)
    return Remembered(Rescaled(objective, units)), Penalty(1.0, weights), units


def _exponent(value: float) -> int:
    """n with 2**n nearest value (> 0) on a log scale."""
    return round(math.log2(value))


class Rescaled:
    """A factored least-squares objective in ``units``: at u, its residuals r / 2**rho and
    Jacobian J 2**(e - rho) at theta = 2**e u; the loss and its gradient from them; the
    Hessian (from the kernel's sums) rescaled the same way."""

    def __init__(self, objective, units: Units):
        self.objective, self.units = objective, units
        self.rows, self.observations = objective.rows, objective.observations
        self.least_squares, self.has_hessian = True, objective.has_hessian
        self.factored = True

    def residual_rows(self, u):
        r, jacobian = self.objective.residual_rows(self.units.theta(u))
        return np.ldexp(r, -self.units.rho), np.ldexp(jacobian, self.units.e - self.units.rho)

    def loss_grad(self, u):
        r, jacobian = self.residual_rows(u)
        return float(r @ r), 2 * (jacobian.T @ r)

    def gauss_newton(self, u):
        r, jacobian = self.residual_rows(u)
        return float(r @ r), jacobian.T @ jacobian, jacobian.T @ r

    def hessian(self, u):
        loss, grad, hessian = self.objective.hessian(self.units.theta(u))
        e, twice = self.units.e, 2 * self.units.rho
        return (float(np.ldexp(loss, -twice)), np.ldexp(grad, e - twice),
                np.ldexp(hessian, e[:, None] + e[None, :] - twice))

    def where_not_finite(self, u) -> str:
        return self.objective.where_not_finite(self.units.theta(u))
