"""The trust-region step of ``symgrad.solvers``: the minimum of the quadratic model
g.d + d.B.d/2 within a radius in the scaled norm, solved on B's eigenvectors (More and
Sorensen). B is the exact Hessian or 2 J^T J, or a ``symgrad.gram.Gram`` that keeps J, whose
eigenvectors then come from J's singular value decomposition.
"""
from __future__ import annotations

import math

import numpy as np

from .gram import EPS, block, components, deficiency, resolution


def region_step(B, g, scale, radius) -> tuple[np.ndarray, float, float]:
    """(the step minimizing g.d + d.B.d/2 over ||d||_scale <= radius, its damping lambda, the
    decrease -(g.d + d.B.d/2) it promises, computed along B's eigenvectors, where a step
    of 1e15 cancels nothing):
    the Newton step where B is positive definite and the step fits, else the step solving
    (B + lambda diag(scale)) d = -g on the boundary, lambda found on B's eigenvalues by
    safeguarded Newton iteration on 1/||d(lambda)|| (More and Sorensen). A parameter with
    no gradient and no curvature (one the loss does not depend on) does not move."""
    moving = np.any(np.asarray(B) != 0, axis=1) | (g != 0)
    if not moving.all():
        step, damping, promised = np.zeros_like(g), 0.0, 0.0
        if moving.any():
            step[moving], damping, promised = region_step(block(B, moving), g[moving],
                                                          scale[moving], radius)
        return step, damping, promised
    unit = 1 / np.sqrt(scale)
    values, vectors, c = components(B, g, unit)
    if getattr(B, "factor", None) is None:
        flat = _flat(values, resolution(B))
        c = _without_noise(c, values, flat)
    else:  # J's rank deficiency, its columns each of norm 1: as many smallest directions
        flat = np.arange(len(values)) < deficiency(B)  # are zero within rounding, their U
        c = np.where(flat, 0.0, c)                      # columns and U^T r arbitrary
    lowest = values[0]
    floor = max(0.0, -lowest)
    kept = (c != 0) | ~flat  # the flat directions with noise only are left out
    if np.all(values[kept] > 0) and np.linalg.norm(c[kept] / values[kept]) <= radius:
        d = np.zeros_like(c)  # Newton's step, in the directions the loss moves in
        d[kept] = -c[kept] / values[kept]
        return vectors @ d * unit, 0.0, _promised(c, values, d)

    def length(damping):
        with np.errstate(over="ignore", divide="ignore"):
            return float(np.linalg.norm(c / np.maximum(values + damping, 1e-300)))

    low, high = floor, floor + np.linalg.norm(c) / radius
    damping = floor if length(floor) > radius else high
    if lowest < -EPS * len(values) * values[-1] and \
            length(floor * (1 + 1e-12)) < radius:  # the hard case: to the
        damping = floor * (1 + 1e-12)                         # boundary along the lowest
        # eigenvector (indefinite B only: a direction B is flat in, a parameter the loss
        # does not depend on, is left alone)
        d = -c / (values + damping)
        d[0] += math.sqrt(max(radius ** 2 - d @ d, 0.0))
        return vectors @ d * unit, damping, _promised(c, values, d)
    for _ in range(100):
        size = length(damping)
        if abs(size - radius) <= 1e-3 * radius:
            break
        low, high = (damping, high) if size > radius else (low, damping)
        guess = _newton_damping(c, values, damping, size, radius) \
            if 0 < size < math.inf and radius > 0 else high  # (else bisect: no 1/0)
        damping = guess if low < guess < high else 0.5 * (low + high)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0: a flat direction left out
        d = np.where(c == 0, 0.0, -c / (values + damping))
    return vectors @ d * unit, damping, _promised(c, values, d)


def _promised(c, values, d) -> float:
    """-(c.d + d.values.d/2): the model's decrease for the step d in eigenvector coordinates."""
    return -float(c @ d + 0.5 * np.sum(values * d * d))


def _flat(values, share: float) -> np.ndarray:
    """The eigenvalues at most ``share`` of the largest in size (uncertainty.resolution):
    B's flat directions."""
    return np.abs(values) <= share * np.max(np.abs(values))


def _without_noise(c, values, flat) -> np.ndarray:
    """The gradient's components c along B's eigenvectors, zero along a ``flat`` one (an
    eigenvalue zero within rounding, ``_flat``) where it is rounding: where the reduction a
    step along it promises, c**2/|value|, is below sqrt(eps) of what the other directions
    promise. Such is a combination of parameters the data do not determine (collinear
    columns): divided by its flat eigenvalue, the noise moved it arbitrarily far. A real
    slope along a nearly flat direction (exp(-b*x) once b*x is large) stays."""
    if not flat.any() or flat.all():
        return c
    promised = float(np.sum(c[~flat] ** 2 / np.abs(values[~flat])))
    noise = c * c <= np.sqrt(EPS) * np.abs(values) * promised
    return np.where(flat & noise, 0.0, c)


def _newton_damping(c, values, damping, size, radius) -> float:
    """One Newton step on 1/||d(lambda)|| = 1/radius (its derivative: sum of
    (d_i/||d||)**2 / (values_i + lambda), over ||d||)."""
    shifted = np.maximum(values + damping, 1e-300)
    unit = c / shifted / size
    slope = float(np.sum(unit * unit / shifted)) / size
    return damping + (1 / radius - 1 / size) / slope if slope > 0 else math.inf
