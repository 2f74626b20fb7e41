"""The Kernel's second-order members (``compile(..., order=2)``): the exact Hessian, the
Gauss-Newton sums of a least-squares loss, and the prediction's Jacobian per row."""
from __future__ import annotations

import math

import numpy as np

from ..errors import SymgradError
from .calls import kernel_call
from .columns import data_row

HESSIAN_LIMIT = 24  # parameters: beyond, compile(order=2) writes no Hessian (its code grows
                    # as their square; symgrad.curvature)


class SecondOrder:
    """Mixed into ``Kernel`` (symgrad.runtime.kernel), whose ``_checked``, ``_columns``,
    ``_sums`` and ``_theta`` these use."""

    def hessian(self, theta, data=None) -> tuple[float, np.ndarray, np.ndarray]:
        """(loss, grad, H): the loss, its gradient and its exact Hessian (params x params,
        symmetric) in one pass over the data, reduced as the loss is (mean or sum)."""
        return self._checked(self.hessian_columns, self.evaluate_hessian, theta, data)

    def gauss_newton(self, theta, data=None) -> tuple[float, np.ndarray, np.ndarray]:
        """(RSS, J^T J, J^T r) of a loss that is a sum of squares of residuals r (per row,
        loss = sum r_i**2; J = dr/dtheta), in one pass over the data without storing J,
        reduced as the loss is: with ``reduction="mean"`` each is divided by the rows."""
        return self._checked(self.gauss_newton_columns, self.evaluate_gauss_newton, theta,
                             data)

    def jacobian(self, theta, data=None) -> np.ndarray:
        """The prediction's Jacobian with respect to theta for every row: (rows, params), or
        (rows, outputs, params) for a model with several outputs (order=2, a Model with a
        prediction). E.g. the delta method's variance of each prediction, J cov J^T."""
        meta = self._second("jacobian")  # (new data need no target, as for predict)
        n, columns = self._columns(self._named_by_prediction(data), meta["columns"])
        with kernel_call():
            values = self.module.jacobian(self._theta(theta), n, *columns)
        return values[:, 0, :] if meta["outputs"] == 1 else values

    def residual_rows(self, theta, n: int, columns) -> tuple[np.ndarray, np.ndarray, bool]:
        """(r, J, data were finite) on validated columns (``gauss_newton_columns``): every
        row's residuals (rows x residuals_per_row, flattened row by row) and their Jacobian
        (one row of params per residual), scaled as ``gauss_newton`` reduces (r.r is its
        RSS, J^T J and J^T r its sums). Not on the cuda backend (``has_residual_rows``)."""
        meta = self._second("gauss_newton")
        index, m = meta["jacobian_index"], meta["residuals"]
        with kernel_call():
            values = self.module.residual_rows(self._theta(theta), n, *columns)
        root = math.sqrt(1.0 / n) if self.reduction == "mean" else 1.0
        residuals = values[:, :, 0].reshape(n * m) * root
        jacobian = np.zeros((n * m, len(self.params)))
        jacobian[:, index] = values[:, :, 1:].reshape(n * m, len(index)) * root
        # the data scanned only where a value came out non-finite, not on every pass
        finite = bool(np.isfinite(values).all()) or all(np.isfinite(c).all() for c in columns)
        return residuals, jacobian, finite

    @property
    def has_residual_rows(self) -> bool:
        """Compiled as least squares on a backend that stores every row's residuals and
        Jacobian (numba, numpy): ``residual_rows`` works."""
        return self.least_squares and hasattr(self.module, "residual_rows")

    @property
    def least_squares(self) -> bool:
        """Compiled with order=2 and the loss a sum of squares: ``gauss_newton`` works."""
        return self._meta.get("gauss_newton") is not None

    @property
    def residuals_per_row(self) -> int:
        """The squares each row's loss sums (least squares; else 1): a row's observations."""
        meta = self._meta.get("gauss_newton")
        return meta["residuals"] if meta else 1

    @property
    def kinked(self) -> bool:
        """The loss has kinks or jumps (abs, max, where: symgrad.codegen.spec.kinked)."""
        return bool(self._meta.get("kinked"))

    @property
    def has_hessian(self) -> bool:
        """Compiled with order=2 and few enough parameters for a dense Hessian
        (symgrad.curvature.HESSIAN_LIMIT): ``hessian`` works."""
        return self._meta.get("hessian") is not None

    def hessian_columns(self, data) -> tuple[int, list]:
        return self._columns(data, self._second("hessian")["columns"])

    def gauss_newton_columns(self, data, name=data_row) -> tuple[int, list]:
        """The columns the Gauss-Newton sums read; a weight column (the loss's w in
        w * f**2, whose square root is a residual's factor) must be >= 0, or > 0 where the
        loss divides by it (``name(i)``: where row i is, for the message)."""
        problem = self.weight_problem(data, name)
        if problem:
            raise SymgradError(problem)
        return self._columns(data, self._second("gauss_newton")["columns"])

    def weight_problem(self, data, name=data_row) -> str:
        """Why these data are not least squares for this loss (a weight column negative, or
        0 where the loss divides by it), or ''."""
        meta = self._second("gauss_newton")
        _, columns = self._columns(data, meta["columns"])
        for j, strict in meta.get("weights", ()):
            values = columns[meta["columns"].index(j)]
            bad = np.flatnonzero(values <= 0 if strict else values < 0)
            if bad.size:
                return (f"{name(bad[0])}, column {self.inputs[j]!r} is {values[bad[0]]}: the "
                        f"loss weights squares by it, and a least-squares weight must be "
                        f"{'> 0' if strict else '>= 0'}")
        return ""

    def evaluate_hessian(self, theta, n: int, columns):
        """(loss, grad, H, data were finite) on validated columns."""
        meta = self._second("hessian")
        sums, scale = self._sums(self.module.hessian_sums, theta, n, columns)
        p, g = len(self.params), len(meta["gradient_index"])
        grad = np.zeros(p)
        grad[meta["gradient_index"]] = sums[1:1 + g] * scale
        hessian = np.zeros((p, p))
        if meta["pairs"]:
            k, j = np.array(meta["pairs"]).T
            hessian[k, j] = hessian[j, k] = sums[1 + g:-1] * scale
        return float(sums[0] * scale), grad, hessian, math.isfinite(sums[-1])

    def evaluate_gauss_newton(self, theta, n: int, columns):
        """(RSS, J^T J, J^T r, data were finite) on validated columns."""
        meta = self._second("gauss_newton")
        sums, scale = self._sums(self.module.gauss_newton_sums, theta, n, columns)
        index = meta["jacobian_index"]
        q, p = len(index), len(self.params)
        upper = np.zeros((q, q))
        upper[np.triu_indices(q)] = sums[1 + q:-1]
        jtj, jtr = np.zeros((p, p)), np.zeros(p)
        jtj[np.ix_(index, index)] = (upper + np.triu(upper, 1).T) * scale
        jtr[index] = sums[1:1 + q] * scale
        return float(sums[0] * scale), jtj, jtr, math.isfinite(sums[-1])

    def _second(self, kind: str) -> dict:
        if self._meta.get("order") != 2:
            raise SymgradError("this kernel has no second derivatives: compile it with "
                               "order=2")
        meta = self._meta[kind]
        if meta is None and kind == "jacobian":
            raise SymgradError("this kernel was compiled from a bare loss; compile a Model "
                               "with a prediction for its Jacobian")
        if meta is None and kind == "gauss_newton":
            raise SymgradError("the loss is not a sum of squares (per row, sum of c*r**2): "
                               "no Gauss-Newton quantities; use hessian()")
        if meta is None:
            raise SymgradError(f"no dense Hessian kernel for {len(self.params)} parameters "
                               f"(at most {HESSIAN_LIMIT}); use gauss_newton() or a "
                               f"first-order method")
        return meta
