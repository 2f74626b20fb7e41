"""Leaving a saddle point: a second-order fit that stops at a zero gradient (or where no step
it can compute lowers the loss) while the exact Hessian there has a negative eigenvalue has
found no minimum: the loss still falls along that eigenvector. Levenberg-Marquardt cannot
see such a direction (J^T J is never negative), and a zero gradient gives Newton's step
nothing to follow, so ``symgrad.fitting`` walks out along the eigenvector to the first
minimum on that ray and runs the method again from there.

All zeros is such a point for a product like ``a*sin(k*x)`` (the library's default start),
and ``a*b*t + c`` stalls at ``a = b = 0`` when the product must change sign.
"""
from __future__ import annotations

import math

import numpy as np

from .gram import EPS, positive_definite

NEGATIVE = 1e-8  # an eigenvalue below -NEGATIVE x the largest in size: the loss falls there
ESCAPES = 5      # saddles left in one fit at most
RAY = 2.0 ** np.arange(-40, 21)  # the trial steps along the ray, times max(1, |theta|)


def still_at(objective, theta, penalty, progress) -> bool:
    """Whether a run that 'converged' where the curvature is singular, and could not leave,
    stands on a saddle: then it has not converged, and its reason says so. The fall is
    checked, not read off the Hessian alone: at a kink (mae's minimum, where residuals are
    0) the Hessian beside it has negative eigenvalues while the loss rises every way."""
    _, grad, hessian = objective.hessian(theta)
    direction = falling_direction(hessian + penalty.hessian())
    if direction is None or first_minimum(
            lambda t: objective.loss_grad(t)[0] + penalty.value(t), theta,
            grad + penalty.gradient(theta), direction) is None:
        return False
    progress.converged = False
    progress.reason = ("a saddle point, not a minimum: the loss still falls along a "
                       "direction where the exact Hessian is negative; start elsewhere "
                       "(--init, theta0 or init)")
    return True


def left(method, objective, penalty, progress, max_iter, report) -> bool:
    """Whether a run that stopped (converged, or stalled short of a minimum) stood on a saddle
    and moved off it to the first minimum along the falling direction: an iteration, after
    which the caller runs the method again. Levenberg-Marquardt is checked only where its
    J^T J is singular, so a fit that ends well never compiles the Hessian's pass."""
    if method == "lbfgs" or not objective.has_hessian or \
            not (progress.converged or progress.stalled) or progress.iterations >= max_iter:
        return False
    theta = progress.theta
    if method == "lm" and positive_definite(objective.gauss_newton(theta)[1] +
                                            0.5 * penalty.hessian()):
        return False
    _, grad, hessian = objective.hessian(theta)
    direction = falling_direction(hessian + penalty.hessian())
    if direction is None:
        return False
    moved = first_minimum(lambda t: objective.loss_grad(t)[0] + penalty.value(t), theta,
                          grad + penalty.gradient(theta), direction)
    if moved is None:
        return False
    (progress.theta, progress.loss), progress.iterations = moved, progress.iterations + 1
    progress.converged = progress.stalled = False
    progress.reason = "left a saddle point"
    if report is not None:
        report(progress)
    return True


def falling_direction(hessian: np.ndarray) -> np.ndarray | None:
    """The unit eigenvector of the most negative eigenvalue of ``hessian``, or None where
    no eigenvalue is negative beyond rounding, or where the Hessian cannot say (entries that
    overflow float64: a Gaussian's on data of size 1e120 and x of 1e50)."""
    if not np.all(np.isfinite(hessian)):
        return None
    try:
        eigenvalues, vectors = np.linalg.eigh(hessian)
    except np.linalg.LinAlgError:
        return None
    if not eigenvalues[0] < -NEGATIVE * np.max(np.abs(eigenvalues)):
        return None
    return vectors[:, 0]


def first_minimum(loss, theta: np.ndarray, gradient: np.ndarray,
                  direction: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(point, loss) where ``loss`` (theta -> float) stops falling, walking out from theta
    along ``direction`` (turned downhill of ``gradient``; both ways when it is flat) in
    doubling steps; None where neither way lowers the loss beyond float64's rounding of it."""
    start = loss(theta)
    slope = float(gradient @ direction)
    turns = (-1.0,) if slope > 0 else (1.0,) if slope < 0 else (1.0, -1.0)
    for sign in turns:
        found = _walk(loss, theta, start, sign * direction)
        if found is not None:
            return found
    return None


def _walk(loss, theta, start, direction):
    noise = 4 * EPS * abs(start)
    reach = max(1.0, float(np.max(np.abs(theta))))
    best, lowest = None, start
    for alpha in RAY * reach:
        trial = theta + alpha * direction
        value = loss(trial)
        if not math.isfinite(value) or (best is not None and value > lowest + noise):
            break
        if value < lowest - noise:
            best, lowest = trial, value
    return None if best is None else (best, lowest)
