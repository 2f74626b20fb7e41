"""Parameter uncertainties at the end of a fit: the inverse of J^T J or of the Hessian as far
as the data determine it (``inverse``), and the standard errors it gives.

A parameter the data do not determine (only a combination of it with others moves the loss,
or nothing does) gets an infinite variance; the others get their exact covariance, the
pseudo-inverse's block. Matrices are scaled to a unit diagonal first (``scaled``), as the
solvers' steps are.

A least-squares fit small enough to hold its Jacobian J passes J^T J as a ``Gram``
(symgrad.gram), which keeps J: its eigenvalues are then J's singular values squared, and a
cubic in calendar years gets finite standard errors, as from MINPACK's QR of J.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .gram import EPS, block, resolution, scaled, spectrum


@dataclass(frozen=True)
class Inverse:
    """The inverse of a symmetric positive semi-definite matrix as far as it is determined
    (``matrix``: NaN rows and columns, inf variances, for the undetermined parameters), the
    matrix's numerical rank, and ``roots``, the square roots of its diagonal taken in the
    scaled form: finite where a variance itself is beyond float64 (a slope of 1e160 with a
    standard error of 1e158 has a variance of 1e316, inf in ``matrix``), inf where the
    parameter is undetermined."""
    matrix: np.ndarray
    rank: int
    roots: np.ndarray

    def times(self, factor: float) -> np.ndarray:
        """factor x the inverse, its infinite (undetermined) variances kept infinite."""
        return np.where(np.isinf(self.matrix), self.matrix, self.matrix * factor)

    def errors(self, root: float) -> np.ndarray:
        """The standard errors of the covariance ``times(root**2)``."""
        return np.where(np.isinf(self.roots), self.roots, self.roots * root)


def inverse(matrix: np.ndarray) -> Inverse | None:
    """The inverse of a symmetric positive semi-definite matrix (J^T J, a Hessian at a
    minimum) as far as it is determined; None when the matrix is not finite or clearly
    indefinite (an eigenvalue of its unit-diagonal form below -sqrt(eps) of the largest).

    Eigenvalues of the unit-diagonal form at most p x eps of the largest (from a Gram's
    factor, its singular values at most max(rows, p) x eps of the largest) count as zero. A parameter with a part in their eigenvectors (or a zero
    diagonal) is one the data do not determine: its row and column are NaN, its variance inf. The others are determined
    whatever the undetermined ones are, and their block is the pseudo-inverse's, which is
    their exact covariance (so a*b*t leaves the standard error of c, in a*b*t + c, finite)."""
    diagonal = np.diag(np.asarray(matrix))
    if not np.all(np.isfinite(matrix)) or np.any(diagonal < 0):
        return None
    present = diagonal > 0
    unit = 1 / np.sqrt(diagonal[present])
    present_block = block(matrix, present)
    values, vectors = spectrum(present_block, unit)
    largest = values.max(initial=0.0)
    if values.size and values.min() < -np.sqrt(EPS) * largest:
        return None
    kept = values > resolution(present_block) * largest
    determined = np.zeros(len(diagonal), dtype=bool)
    determined[present] = np.all(np.abs(vectors[:, ~kept]) <= np.sqrt(EPS), axis=1)
    inside = (vectors[:, kept] / values[kept]) @ vectors[:, kept].T  # the unit-diagonal form's
    if not np.all(np.isfinite(inside)):
        return None
    result, roots = np.full(matrix.shape, np.nan), np.full(len(diagonal), np.inf)
    with np.errstate(over="ignore"):  # a variance beyond float64 is inf there; ``roots`` not
        result[np.ix_(present, present)] = scaled(inside, unit)
        roots[present] = np.sqrt(np.maximum(np.diag(inside), 0.0)) * unit
    result[~determined, :] = result[:, ~determined] = np.nan
    result[~determined, ~determined] = roots[~determined] = np.inf
    return Inverse(result, int(kept.sum()), roots)


def standard_errors(inverse: Inverse | None, root: float, size: int,
                    computed: bool = True) -> np.ndarray:
    """The standard errors of the covariance ``inverse.times(root**2)``; inf where there is
    none (a singular matrix) or the parameter is undetermined, nan where none was computed."""
    if inverse is None:
        return np.full(size, np.inf if computed else np.nan)
    return inverse.errors(root)


def rounding_rss(rss: float, theta, jtj) -> float | None:
    """For a fit exact to float64's rounding, the RSS that rounding leaves, eps**2 x sum of
    (J^T J)_jj theta_j**2 (about sum yhat**2), where rss is below it; else None. An RSS of 0
    gave every parameter a standard error of 0, one the data barely determine too (k of
    a*exp(-k*t) + c on constant y, a at 1e-18, where curve_fit's covariance is inf)."""
    terms = np.diag(jtj) * np.asarray(theta, dtype=np.float64) ** 2
    floor = EPS * EPS * float(np.sum(terms[np.isfinite(terms)]))
    return floor if rss < floor else None


UNBOUNDED = 1e100  # a parameter beyond this, not determined to within itself: no optimum


def unbounded(progress, stderr, units, flat: bool = False) -> None:
    """A run that 'converged' with parameters run off towards infinity found no optimum (a
    loss not bounded below, a bce target outside [0, 1], separable classes without l2):
    parameters beyond UNBOUNDED whose standard errors are not below their size (a curvature
    that vanishes out there), or a loss that is not finite. One the data determine is an
    optimum, however large. Judged in the ``units`` the fit ran in (symgrad.scaling:
    residuals and derivatives near 1), where an intercept of 1e196 beside targets of 3e200
    is small, and also in the parameters' own for one the data do not determine at all
    (units taken at a start far from the data can be as far off); the reason gives the
    run-off's size in the parameters' own. A smooth loss ``flat`` at a converged fit (its
    Hessian 0 in float64, and its gradient: a logistic loss of 1e-308 on separable classes,
    the parameters at 8e3) is no minimum either."""
    if flat and progress.converged:
        progress.converged = False
        progress.reason = ("the loss has no minimum here: it is flat in float64 (its gradient "
                           "and curvature 0), still falling towards its bound as parameters "
                           "grow (separable classes under bce); add an l2 penalty (--l2)")
        return
    size, given = np.abs(progress.theta), np.abs(units.theta(progress.theta))
    runaway = ~(size <= UNBOUNDED) & ~(stderr < size) | \
        ~(given <= UNBOUNDED) & ~np.isfinite(stderr)  # (units from a start far off: k
    if runaway.any() or not math.isfinite(progress.loss):  # of 1e200, its unit as large)
        largest = float(np.max(given[runaway] if runaway.any() else given))
        where = f"|theta| up to {largest:.3g}" if largest > UNBOUNDED or not runaway.any() \
            else f"a parameter at {largest:.3g}, beyond {UNBOUNDED:.0e} times its scale at " \
                 f"the start"
        progress.converged = False
        progress.reason = (f"the loss has no minimum: it keeps falling as parameters run off "
                           f"without bound ({where}); check the model and loss, or add an "
                           f"l2 penalty (--l2)")


STEP = 1e-4       # smooth_at's steps, relative to each parameter (1e-4 where it is near 0)
AGREE = 1e-2      # and how closely the gradient's differences must match the Hessian


def smooth_at(gradient, theta, hessian) -> bool:
    """Whether the Hessian at theta describes the loss around it: central differences of the
    gradient, a step of STEP along each parameter, match its columns to AGREE. Where a kink
    of the loss (mae's: residuals at 0) lies at theta, the gradient jumps across it and the
    Hessian beside it says nothing of the uncertainty; Huber's loss, whose kinks are in its
    second derivative only, keeps a continuous gradient and its standard errors."""
    theta = np.asarray(theta, dtype=np.float64)
    for j in range(theta.size):
        step = STEP * max(abs(theta[j]), STEP)
        ahead, behind = theta.copy(), theta.copy()
        ahead[j] += step
        behind[j] -= step
        column = (gradient(ahead) - gradient(behind)) / (2 * step)
        size = max(np.linalg.norm(hessian[:, j]), 1e-6 * np.linalg.norm(hessian), 1e-300)
        if not (np.all(np.isfinite(column)) and
                np.linalg.norm(column - hessian[:, j]) <= AGREE * size):
            return False
    return True
