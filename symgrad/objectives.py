"""The objectives ``symgrad.fit`` minimizes (``solvers.Objective``): ``KernelObjective``, a
kernel compiled with order=2 and reduction "sum" over one data set, and ``Remembered``, which
keeps any objective's last answers so the uncertainties at the optimum cost no extra pass."""
from __future__ import annotations

import numpy as np

from .errors import SymgradError

FACTORED_LIMIT = 1 << 22  # residuals x (parameters + 1) held at once: J itself, not J^T J


class KernelObjective:
    """The sums ``solvers`` need, from a kernel compiled with order=2 and reduction "sum",
    over one data set (validated once)."""

    def __init__(self, kernel, data, row_name=None):
        from .runtime.columns import data_row

        if kernel.reduction != "sum":
            raise SymgradError("fit needs a kernel compiled with reduction='sum'")
        self.kernel, self.data = kernel, data
        self.row_name = row_name or data_row  # row_name(i): where row i is, for a message
        self.rows, self._gradient_columns = kernel.columns(data)
        # a negative weight column: a loss to fit by Newton's method, not least squares
        self.weight_problem = kernel.weight_problem(data, self.row_name) \
            if kernel.least_squares else ""
        self.least_squares = kernel.least_squares and not self.weight_problem
        self.has_hessian, self.kinked = kernel.has_hessian, kernel.kinked
        self.observations = self.rows * kernel.residuals_per_row
        self.factored = self.least_squares and kernel.has_residual_rows and \
            self.observations * (len(kernel.params) + 1) <= FACTORED_LIMIT
        self._columns: dict = {}

    def sampled(self, most: int):
        """(this objective on at most ``most`` rows, every step-th: views, no copy; step),
        or None where the data hold no more rows than that."""
        from collections.abc import Mapping

        from .runtime.columns import by_name

        step = -(-self.rows // most)
        if step <= 1:
            return None
        data = by_name(self.data)
        data = {name: np.asarray(column)[::step] for name, column in data.items()} \
            if isinstance(data, Mapping) else np.asarray(data)[::step]
        return KernelObjective(self.kernel, data, lambda i: self.row_name(i * step)), step

    def loss_grad(self, theta):
        loss, grad, finite = self.kernel.evaluate(theta, self.rows, self._gradient_columns)
        self._check(finite)
        return loss, grad

    def hessian(self, theta):
        *values, finite = self.kernel.evaluate_hessian(theta, self.rows, self._read("hessian"))
        self._check(finite)
        return tuple(values)

    def gauss_newton(self, theta):
        *values, finite = self.kernel.evaluate_gauss_newton(theta, self.rows,
                                                            self._read("gauss_newton"))
        self._check(finite)
        return tuple(values)

    def residual_rows(self, theta):
        *values, finite = self.kernel.residual_rows(theta, self.rows,
                                                    self._read("gauss_newton"))
        self._check(finite)
        return tuple(values)

    def _read(self, kind: str):
        if kind not in self._columns:
            self._columns[kind] = self.kernel.hessian_columns(self.data)[1] \
                if kind == "hessian" else \
                self.kernel.gauss_newton_columns(self.data, self.row_name)[1]
        return self._columns[kind]

    def _check(self, finite: bool) -> None:
        if not finite:
            raise SymgradError(self.kernel.non_finite_cell(self.data, self.row_name))

    def where_not_finite(self, theta) -> str:
        """'data row 2 (x = -1, y = 1)': the first row whose loss, gradient or (least
        squares) Gauss-Newton sums are not finite at theta (sqrt or log of a negative value,
        a negative weight, an overflow), '' where no row alone is."""
        passes = [(self.kernel.evaluate, self._gradient_columns)]
        if self.least_squares:
            passes.append((self.kernel.evaluate_gauss_newton, self._read("gauss_newton")))
        return self.kernel.row_not_finite(theta, self.rows, passes, self.data, self.row_name)


class Remembered:
    """An objective that keeps its last two answers of each kind (the point a solver stands
    on and its last trial), so the uncertainties at the optimum cost no extra pass."""

    def __init__(self, objective):
        self.objective, self.rows = objective, objective.rows
        self.where_not_finite = getattr(objective, "where_not_finite", lambda theta: "")
        self.observations = objective.observations
        self.least_squares, self.has_hessian = objective.least_squares, objective.has_hessian
        self.kinked = getattr(objective, "kinked", False)
        self.factored = objective.factored
        self.weight_problem = getattr(objective, "weight_problem", "")
        self.sampled = getattr(objective, "sampled", lambda most: None)
        self.answers: dict = {}

    def loss_grad(self, theta):
        return self._ask("loss_grad", theta)

    def hessian(self, theta):
        return self._ask("hessian", theta)

    def gauss_newton(self, theta):
        if self.factored:  # the sums from the rows kept: no pass, nor its compilation
            r, jacobian = self.residual_rows(theta)
            return float(r @ r), jacobian.T @ jacobian, jacobian.T @ r
        return self._ask("gauss_newton", theta)

    def residual_rows(self, theta):
        return self._ask("residual_rows", theta)

    def knows(self, kind: str, theta) -> bool:
        """Whether the answer of this kind at theta is kept (costs no pass)."""
        return (kind, np.asarray(theta, dtype=np.float64).tobytes()) in self.answers

    def _ask(self, kind: str, theta):
        key = (kind, np.asarray(theta, dtype=np.float64).tobytes())
        if key not in self.answers:
            self.answers[key] = getattr(self.objective, kind)(theta)
            kept = [k for k in self.answers if k[0] == kind]
            for old in kept[:-2]:
                del self.answers[old]
        return self.answers[key]
