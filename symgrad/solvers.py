"""The solvers of ``symgrad.fit``: damped Newton (Levenberg-Marquardt on least squares) over
one-pass sums (L-BFGS is symgrad.lbfgs; the uncertainties at the end, symgrad.uncertainty).

They see the data only through an ``Objective``: sums over the rows of the loss and its
gradient, its Hessian, or for least squares the Gauss-Newton quantities (RSS, J^T J, J^T r).
A compiled kernel over one data set (symgrad.objectives.KernelObjective) is one; a Dask cluster
summing the same quantities over its partitions is another (symgrad.distributed). Nothing
here generates code or reads files.

The objective minimized is the summed row loss plus ``l2/2 * ||theta||^2`` over the
parameters not excluded (``Penalty``). Both second-order methods are one loop
(``trust_region``, MINPACK's lmder loop): at theta, the quadratic model f + g.d + d.B.d/2 with
B the exact Hessian (Newton) or 2 J^T J (Levenberg-Marquardt), minimized within a radius in
the norm scaled by D, the running maximum of B's diagonal (MINPACK's scaling). The step is
Newton's where that fits, else (B + lambda D) d = -g on the boundary. It is taken when the
loss falls by at least 1e-4 of what the model predicts, and the radius grows or shrinks with
how well it predicted. Where MINPACK factors J, these methods see only the sums J^T J and
J^T r (one pass over the rows, no rows x parameters matrix), and solve on the eigenvalues of
the scaled matrix. Every trial point costs one pass, which also gives the next iteration's
quantities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from .errors import SymgradError
from .gram import EPS, Gram, positive_definite, scaled
from .region import region_step
from .stalls import all_finite, mark_converged, stopped

ACCEPT = 1e-4          # a step is taken when the loss falls by this share of the prediction
MAX_POLISHING = 3       # such steps at most (Newton's convergence is quadratic)
INITIAL_RADIUS = 100.0  # times the scaled norm of the start (MINPACK's factor, its default)


class Objective(Protocol):
    """Sums over the rows of a data set (reduction "sum"), at any theta."""
    rows: int
    observations: int  # least squares: the residuals in all (rows x each row's squares)
    least_squares: bool
    factored: bool     # least squares: ``residual_rows`` gives r and J themselves

    def loss_grad(self, theta) -> tuple[float, np.ndarray]: ...

    def residual_rows(self, theta) -> tuple[np.ndarray, np.ndarray]: ...

    def hessian(self, theta) -> tuple[float, np.ndarray, np.ndarray]: ...

    def gauss_newton(self, theta) -> tuple[float, np.ndarray, np.ndarray]: ...


class NotFiniteAtStart(SymgradError):
    """The loss or its derivatives are not finite at the start (fitting names the row)."""


@dataclass(frozen=True)
class Penalty:
    """l2/2 * sum of theta_k**2 over the parameters with ``mask`` 1."""
    l2: float
    mask: np.ndarray

    def value(self, theta) -> float:
        return 0.5 * self.l2 * float(np.sum(self.mask * theta * theta)) if self.l2 else 0.0

    def gradient(self, theta) -> np.ndarray:
        return self.l2 * self.mask * theta

    def hessian(self) -> np.ndarray:
        return np.diag(self.l2 * self.mask)

    def root(self) -> np.ndarray:
        """R with R^T R = hessian(): the rows a factor of the curvature stacks below J."""
        return np.diag(np.sqrt(self.l2 * self.mask))[self.mask * self.l2 > 0]


@dataclass
class Progress:
    """Where a run is: updated in place, so an interrupted run still has its best point."""
    theta: np.ndarray
    loss: float = math.inf
    iterations: int = 0
    passes: int = 0           # evaluations over the data
    polishing: int = 0        # Newton steps taken below the loss's float64 resolution
    converged: bool = False
    reason: str = "not started"
    stalled: bool = False     # stopped short of a minimum: no step computed lowers the loss
    edge: tuple | None = None  # stalled where a step along parameter j to value v, which
                               # promised most, made the loss nan: (j, v)
    start: int = 0            # which of a fit's starts this run is (symgrad.starts)
    sampled: int = 0          # in a report: the rows of the sample the starts are compared
                              # on (symgrad.starts), 0 where the run is on all of them


# --- the damped Newton loop --------------------------------------------------------------

Quantities = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def gauss_newton_quantities(objective: Objective, penalty: Penalty) -> Quantities:
    """theta -> (RSS + penalty, its gradient 2 J^T r + ..., 2 J^T J + ...): from J itself
    where the objective holds it (``factored``; 2 J^T J + l2 P a ``Gram`` of the stacked
    sqrt(2) J and sqrt(l2 P)), else from the sums."""
    def quantities(theta):
        if objective.factored:
            r, jacobian = objective.residual_rows(theta)
            root = penalty.root()
            factor = np.vstack([math.sqrt(2) * jacobian, root])
            residual = np.concatenate([math.sqrt(2) * r, root @ theta])
            return (float(r @ r) + penalty.value(theta),
                    2 * (jacobian.T @ r) + penalty.gradient(theta), Gram(factor, residual))
        rss, jtj, jtr = objective.gauss_newton(theta)
        return (rss + penalty.value(theta), 2 * jtr + penalty.gradient(theta),
                2 * jtj + penalty.hessian())
    return quantities


def newton_quantities(objective: Objective, penalty: Penalty) -> Quantities:
    """theta -> (loss + penalty, gradient, exact Hessian)."""
    def quantities(theta):
        loss, grad, hessian = objective.hessian(theta)
        return (loss + penalty.value(theta), grad + penalty.gradient(theta),
                hessian + penalty.hessian())
    return quantities


def trust_region(quantities: Quantities, progress: Progress, tol: float, max_iter: int,
                 report=None) -> None:
    """Minimize from progress.theta, updating progress: MINPACK's trust-region loop (lmder),
    each step solved exactly in the scaled norm (``region_step``). An iteration is one step
    taken; the trials rejected on the way each cost a pass too (``progress.passes``).

    Converged when the radius falls below tol relative to the scaled parameters, when both
    the actual and the predicted relative reduction are below tol**2, or when the model
    predicts no reduction float64 can represent."""
    theta = progress.theta
    f, g, B = quantities(theta)
    progress.passes += 1
    if all_finite(f, g) and not all_finite(B):
        raise NotFiniteAtStart(f"the loss is finite ({f:.6g}) but its curvature (J^T J or the "
                               f"Hessian) overflows float64 at the initial parameters: "
                               f"rescale the data or the parameters (a derivative beyond "
                               f"about 1e154 squares past float64's range)")
    if not all_finite(f, g, B):
        raise NotFiniteAtStart(f"the loss or its derivatives are not finite at the initial "
                               f"parameters (loss {f}): start elsewhere (--init, theta0 or "
                               f"init), or look for data values so large that the loss "
                               f"overflows float64, or for a row where a weight of a "
                               f"least-squares loss is negative (a loss that means it: "
                               f"--method newton, or method='newton')")
    progress.loss = start = f
    scale = _diagonal_scale(B, np.zeros(len(theta)))
    radius = None
    while progress.iterations < max_iter:
        if f == 0.0 or not np.any(g):
            if progress.iterations == 0 and f != 0.0 and not positive_definite(B):
                progress.reason, progress.stalled, progress.edge = STATIONARY_START, True, None
                return None
            return mark_converged(progress, ZERO_AT_START if f == 0.0 and
                                  progress.iterations == 0 else "the gradient is zero")
        scale = _diagonal_scale(B, scale)
        if radius is None:
            radius = initial_radius(B, g, scale, theta)
        step, damping, predicted = region_step(B, g, scale, radius)
        length = _norm(scale, step)
        if progress.passes == 1:
            radius = min(radius, length)
        if not (predicted > 4 * EPS * abs(f)):
            polished = None if _norm(scale, step) <= tol * _norm(scale, theta) else \
                _polished(quantities, progress, theta, g, step, damping, scale, report)
            if polished is None:
                polished = stopped(progress, "no further reduction is possible in float64",
                                   (quantities, theta, f, g, B), start, tol, report)
                if polished is None:
                    return None
            theta, f, g, B = polished
            continue
        trial = theta + step
        f_trial, g_trial, B_trial = quantities(trial)
        progress.passes += 1
        actual = f - f_trial if all_finite(f_trial, g_trial, B_trial) else -math.inf
        ratio = actual / predicted
        radius = _new_radius(radius, length, ratio, damping, g @ step, actual)
        if ratio >= ACCEPT:
            theta, f, g, B = trial, f_trial, g_trial, B_trial
            progress.theta, progress.loss = theta, f
            progress.iterations += 1
            if report:
                report(progress)
        small = abs(actual) <= tol * tol * abs(f) and predicted <= tol * tol * abs(f) and \
            ratio <= 2
        if small or radius <= tol * _norm(scale, theta):
            reason = "the loss changed by less than tol**2" if small else \
                "the step changed the parameters by less than tol"
            moved = stopped(progress, reason, (quantities, theta, f, g, B), start,
                            math.sqrt(tol), report)
            if moved is None:
                return None
            theta, f, g, B = moved
    progress.reason = f"not converged in {max_iter} iteration{'s' * (max_iter != 1)}"


def initial_radius(B, g, scale, theta) -> float:
    """The first radius: MINPACK's, 100 times the scaled size of the start, or if larger
    the step to the model's minimum along the scaled gradient (the Cauchy point), so a
    start at or near zero does not crawl out by doublings."""
    unit = 1 / np.sqrt(scale)
    gradient = g * unit
    size = float(np.linalg.norm(gradient))
    direction = gradient / size if size > 0 else gradient   # so nothing overflows at 1e150
    curvature = direction @ scaled(B, unit) @ direction
    cauchy = size / curvature if curvature > 0 else 0.0
    radius = max(INITIAL_RADIUS * _norm(scale, theta), cauchy)
    return radius if 0 < radius < math.inf else 1.0


def _polished(quantities, progress, theta, g, step, damping, scale, report):
    """Below float64's resolution of the loss, a full Newton step that still moves the
    parameters by more than tol is taken while it shrinks the (scaled) gradient: the
    optimum's last digits, where the loss no longer says which point is lower. None when it
    does not (or the step is not Newton's)."""
    if damping != 0 or progress.polishing >= MAX_POLISHING or not np.any(step):
        return None
    trial = theta + step
    f, g_trial, B = quantities(trial)
    progress.passes += 1
    unit = 1 / np.sqrt(scale)
    if not (all_finite(f, g_trial, B) and
            np.linalg.norm(g_trial * unit) < np.linalg.norm(g * unit)):
        return None
    progress.polishing += 1
    progress.theta, progress.loss = trial, f
    progress.iterations += 1
    if report:
        report(progress)
    return trial, f, g_trial, B


def _new_radius(radius, length, ratio, damping, slope, actual) -> float:
    """MINPACK's update: shrink (by the minimum of the quadratic through the trial, within
    [0.1, 0.5]) on a poor step, grow to twice the step on a good one or a full Newton step."""
    if not ratio >= 0.25:  # a nan ratio (an infinite prediction) is a poor step too
        shrink = 0.5 if actual >= 0 else 0.1 if not math.isfinite(actual) else \
            min(0.5, max(0.1, 0.5 * slope / (slope + 0.5 * actual)))
        return shrink * min(radius, 10 * length)
    if damping == 0 or ratio >= 0.75:
        return 2 * length
    return radius


def _diagonal_scale(B, previous) -> np.ndarray:
    """MINPACK's scaling: the running maximum of |diag B|, so the step is the same whatever
    units each parameter is in (a and c of a*exp(-k*t) + c near 1e100 with k near 1: the
    diagonal spans 1e200). Only a parameter the loss does not (yet) depend on, a zero, takes
    a floor: eps of the largest, eps**2 for a Gram (whose J resolves columns whose squares
    differ by 1e32)."""
    scale = np.maximum(previous, np.abs(np.diag(B)))
    share = EPS * EPS if getattr(B, "factor", None) is not None else EPS  # J's resolution
    return np.where(scale > 0, scale, share * (scale.max() if scale.max() > 0 else 1.0))


def _norm(scale, v) -> float:
    return float(np.sqrt(np.sum(scale * v * v)))


ZERO_AT_START = ("the loss is 0 at the start: an exact fit, or residuals below about 1e-154 "
                 "whose squares underflow float64, and if so, rescale the data")
STATIONARY_START = ("the gradient is zero at the start but the curvature there is not positive "
                    "definite (a saddle: all zeros is one for a product such as a*sin(k*x)); "
                    "start elsewhere (--init, theta0 or init)")
