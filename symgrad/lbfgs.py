"""L-BFGS for ``symgrad.fit``: the method for models whose dense Hessian is too large
(beyond fitting.HESSIAN_LIMIT parameters), on the same ``Progress`` as the trust region."""
from __future__ import annotations

import numpy as np

from .solvers import ACCEPT, EPS, NotFiniteAtStart, Progress
from .stalls import COORDINATES, all_finite, mark_converged

MEMORY = 10  # pairs (s, y) kept
STALL = 10   # a loss with kinks: converged when these many steps took off less than tol


def lbfgs(loss_grad, progress: Progress, tol: float, max_iter: int, report=None,
          kinked: bool = False) -> None:
    """Minimize with L-BFGS (two-loop recursion, backtracking Armijo line search): for models
    whose dense Hessian is too large, and losses with kinks (mae). Converged, as the trust
    region, when the decrease the quasi-Newton model predicts (half of -g.d), or the one a
    step achieves, is below tol**2 relative to the loss; for a ``kinked`` loss also when
    STALL steps together took off less than tol of it (at a kink the gradient does not
    vanish, and the steps zigzag across it)."""
    theta = progress.theta
    f, g = loss_grad(theta)
    progress.passes += 1
    if not all_finite(f, g):
        raise NotFiniteAtStart(f"the loss or its gradient is not finite at the initial "
                               f"parameters (loss {f}): start elsewhere (--init, theta0 or "
                               f"init), or look for data values so large that the loss "
                               f"overflows float64")
    progress.loss = f
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    recent = [f]
    while progress.iterations < max_iter:
        direction = -_two_loop(g, pairs)
        slope = g @ direction
        if not slope < 0:
            pairs, direction, slope = [], -g, -(g @ g)
        if -slope <= 2 * tol * tol * abs(f) or not np.any(g):
            return mark_converged(progress, "the predicted decrease is below tol**2")
        first = 1.0 if pairs else min(1.0, 1.0 / max(np.abs(g).sum(), EPS))
        not_defined: list[float] = []   # the steps at which the loss was nan
        found = _armijo(loss_grad, theta, f, slope, direction, first, progress, not_defined)
        if found is None:
            if -slope <= 1e-8 * abs(f):
                return mark_converged(progress, "no further reduction is possible in float64")
            edge, lower = _edge(loss_grad, theta, f, not_defined[-1] * direction, progress) \
                if not_defined else (None, None)
            if lower is None:
                progress.reason = "the line search found no lower loss"
                progress.edge, progress.stalled = edge, edge is not None
                return
            pairs, found = [], (1.0, lower[1], lower[2])  # along one parameter, from afresh
            direction = lower[0] - theta
        step_size, f_new, g_new = found
        s, y = step_size * direction, g_new - g
        if s @ y > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
            pairs = (pairs + [(s, y)])[-MEMORY:]
        decrease = f - f_new
        theta, f, g = theta + s, f_new, g_new
        progress.theta, progress.loss = theta, f
        progress.iterations += 1
        if report:
            report(progress)
        if decrease <= tol * tol * abs(f):
            return mark_converged(progress, "the loss changed by less than tol**2")
        recent = (recent + [f])[-STALL - 1:]
        if kinked and len(recent) > STALL and recent[0] - f <= tol * abs(f):
            return mark_converged(progress, f"the loss fell by less than tol in {STALL} steps, "
                                            f"at a kink")
    progress.reason = f"not converged in {max_iter} iteration{'s' * (max_iter != 1)}"


def _two_loop(g, pairs) -> np.ndarray:
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        alphas.append(alpha)
        q -= alpha * y
    if pairs:
        s, y = pairs[-1]
        q *= (s @ y) / (y @ y)
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        q += (alpha - (y @ q) / (y @ s)) * s
    return q


def _edge(loss_grad, theta, f, moves, progress):
    """(edge, lower): edge (j, value) where moving parameter j alone to value, as far as the
    line search's shortest step at which the loss was nan moved it, makes the loss nan (the
    edge of the model's domain: D at 1e-30 in sqrt(D) with data that want D < 0), unless a
    shorter move of it lowers the loss: lower is then (theta there, its loss and gradient),
    for the run to go on (b of log(b*x) bound for 3.7e-44 from 6.8e-21). The parameters
    whose move is largest beside their own size are tried first, COORDINATES of them."""
    order = np.argsort(-np.abs(moves) / np.maximum(np.abs(theta), EPS), kind="stable")
    for j in order[:COORDINATES]:
        moved = np.array(theta, dtype=np.float64)
        moved[j] += moves[j]
        if moves[j] != 0 and np.all(np.isfinite(moved)):
            progress.passes += 1
            if np.isnan(loss_grad(moved)[0]):
                lower = _lower_along(loss_grad, theta, f, j, moves[j], progress)
                return (None, lower) if lower else ((int(j), float(moved[j])), None)
    return None, None


def _lower_along(loss_grad, theta, f, j, move, progress):
    """(theta, loss, gradient) at the longest of moves of parameter j alone, halved up to
    60 times, where the loss is finite and lower than f; None where none is."""
    for k in range(1, 61):
        moved = np.array(theta, dtype=np.float64)
        moved[j] += np.ldexp(move, -k)
        progress.passes += 1
        f_moved, g_moved = loss_grad(moved)
        if all_finite(f_moved, g_moved) and f_moved < f:
            return moved, f_moved, g_moved
    return None


def _armijo(loss_grad, theta, f, slope, direction, step, progress, not_defined):
    for _ in range(60):
        f_new, g_new = loss_grad(theta + step * direction)
        progress.passes += 1
        if np.isnan(f_new):
            not_defined.append(step)
        if all_finite(f_new, g_new) and f_new <= f + ACCEPT * step * slope:
            return step, f_new, g_new
        step *= 0.5
    return None
