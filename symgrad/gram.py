"""The curvature of a least-squares fit kept as its factor: ``Gram(F, r)`` is the matrix
F^T F (2 J^T J + l2 P, with F the stacked sqrt(2) J and the penalty's square root) and knows
F and the stacked residuals r whose F^T r is the gradient.

Formed in float64, J^T J squares J's condition number: a cubic in calendar years has J's
condition 1e8 once scaled, J^T J's 1e16, and eigh of J^T J then sees noise in its smallest
directions (the fit wandered for 1,000 iterations, every standard error inf). From F itself
the eigenvalues are its singular values squared, good to eps times the largest singular
value; the gradient's components along them come from U^T r (error eps |r|), not from
J^T r divided by a small eigenvalue (the solver's predicted decrease, too, is summed along
the eigenvectors: symgrad.region). That is
MINPACK's accuracy (it factors J by QR), for a fit small enough to hold J
(symgrad.objectives.FACTORED_LIMIT). A plain matrix goes through the same functions by eigh.

Anything computed from a Gram (a ufunc's result, its diagonal) is a plain array; a slice
is a Gram without a factor (``block`` keeps one).
"""
from __future__ import annotations

import numpy as np

EPS = np.finfo(float).eps


class Gram(np.ndarray):
    """F^T F for a factor F (rows x params), keeping F (``factor``) and, where given, the
    residuals r (``residual``) with F^T r the gradient at the same point."""

    def __new__(cls, factor: np.ndarray, residual: np.ndarray | None = None) -> "Gram":
        gram = np.asarray(factor.T @ factor).view(cls)
        gram.factor, gram.residual = factor, residual
        return gram

    def __array_finalize__(self, obj) -> None:
        self.factor = self.residual = None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        """A ufunc's result (B != 0, B @ v, 2 * B) is a plain array."""
        return array[()] if return_scalar else np.asarray(array)

    def diagonal(self, *args, **kwargs) -> np.ndarray:
        return np.asarray(self).diagonal(*args, **kwargs)


def scaled(matrix, unit) -> np.ndarray:
    """diag(unit) matrix diag(unit), a factor at a time: the outer product of units of 1e156
    (sums of 1e-312, from weights of 1e-310) overflowed, and eigh of inf failed."""
    return np.asarray(matrix) * unit[:, None] * unit[None, :]


def spectrum(matrix, unit) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues ascending, eigenvectors) of diag(unit) matrix diag(unit)."""
    values, vectors, _ = _decomposed(matrix, unit)
    return values, vectors


def components(matrix, gradient, unit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``spectrum`` and the scaled gradient's components along its eigenvectors: V^T (g unit),
    or for a Gram with residuals s U^T r (no cancellation in forming F^T r first)."""
    values, vectors, left = _decomposed(matrix, unit)
    residual = getattr(matrix, "residual", None)
    if left is None or residual is None:
        return values, vectors, vectors.T @ (gradient * unit)
    return values, vectors, np.sqrt(values) * (left.T @ residual)


def _decomposed(matrix, unit):
    factor = getattr(matrix, "factor", None)
    if factor is None:
        return (*np.linalg.eigh(scaled(matrix, unit)), None)
    rows, size = factor.shape
    if rows < size:  # the zero singular values a short factor has, as rows of zeros
        factor = np.vstack([factor, np.zeros((size - rows, size))])
    left, singular, right = np.linalg.svd(factor * unit, full_matrices=False)
    if rows < size:
        left = left[:rows]
    return singular[::-1] ** 2, right[::-1].T, left[:, ::-1]


def resolution(matrix) -> float:
    """The eigenvalues of ``spectrum`` at most this share of the largest are zero within
    rounding: p x eps from eigh, (max(rows, p) x eps)**2 from a factor's singular values."""
    factor = getattr(matrix, "factor", None)
    if factor is None:
        return len(matrix) * EPS
    return (max(factor.shape) * EPS) ** 2  # numpy.linalg.matrix_rank's tolerance, squared


def deficiency(gram: Gram) -> int:
    """How many singular values of the factor, its columns scaled to norm 1, are zero
    within rounding (``resolution``): collinear columns count, a column that is merely
    small (exp(-57*x), BoxBOD's b2 after a long step) does not, as it would in the solver's
    running scale."""
    norms = np.linalg.norm(gram.factor, axis=0)
    singular = np.linalg.svd(gram.factor / np.where(norms > 0, norms, 1.0), compute_uv=False)
    return int(np.sum(singular ** 2 <= resolution(gram) * singular.max(initial=0.0) ** 2))


def block(matrix, kept) -> np.ndarray:
    """The rows and columns of ``kept`` (a mask), a Gram's from its factor's columns."""
    factor = getattr(matrix, "factor", None)
    if factor is None:
        return np.asarray(matrix)[np.ix_(kept, kept)]
    return Gram(factor[:, kept], matrix.residual)


def positive_definite(B: np.ndarray) -> bool:
    """Whether the curvature B (the exact Hessian or J^T J, with the penalty) is positive
    definite beyond rounding, so a zero gradient there is a minimum."""
    eigenvalues = spectrum(B, np.ones(len(B)))[0]
    return bool(eigenvalues[0] > resolution(B) * max(abs(eigenvalues[-1]), 1e-300))
