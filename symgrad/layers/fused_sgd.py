"""Plain SGD on the CPU layer engine with each weight update folded into its gradient's GEMM.

``FusedSGD`` is what ``CpuNetwork.fused_step`` returns for ``optim.SGD``: W <- (1 - lr*wd) W -
lr delta.T a is one BLAS call (``runtime.blas.gemm_update``) per dense layer, so the largest
arrays are neither stored as a gradient nor swept by an update pass. ``squares`` and ``largest``
are the two measurements its divergence guard takes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..optim import sgd_rule
from ..runtime.blas import gemm_update
from ..stopping import deferred

if TYPE_CHECKING:
    from .cpu import CpuNetwork


class FusedSGD:
    """Plain SGD on a CpuNetwork, each weight update folded into its gradient product:
    W <- (1 - lr*wd) W - lr delta.T a is one BLAS call (``blas.gemm_update``), so the weight
    gradient is never stored and no update pass runs; biases take the SGD rule as usual.

    The divergence guard (nothing changes unless every new value is finite) cannot look at
    values before the BLAS call writes them, so it proves them finite instead: each layer keeps
    a bound on max|W|, grown every step by a bound on the change: by Cauchy-Schwarz,
    |lr sum_k delta_ki a_kj| <= lr |delta|_F |a|_F (the sums of squares come from the kernels
    that wrote the factors, else one BLAS dot; a nan or inf in them propagates). While every
    bound stays below LIMIT no entry can overflow; past it the bound is measured again, and if
    still past, the step takes the unfused path (gradient, then the checked update), which
    finds divergence exactly as the other rules do.
    """

    LIMIT = 1e300

    def __init__(self, kernel: CpuNetwork, optimizer):
        self.kernel, self.optimizer, self.hyper = kernel, optimizer, optimizer.hyper()
        self.decay = 1.0 - optimizer.lr * optimizer.weight_decay
        self.bounds: dict = {}                      # layer -> bound on max |W|
        self.state = optimizer.new_state(0)

    def __call__(self, theta, n, columns) -> float | None:
        """One step on a batch of n rows: its loss, or None with theta unchanged."""
        loss, products = self.kernel.loss_and_deltas(theta, n, columns)
        if not np.isfinite(loss):
            return None
        params, grads = self.kernel.views(theta), self.kernel.grads
        biases = [(params[k], sgd_rule(params[k], grads[k], 0, 0, self.hyper, 0)[0])
                  for k in (2 * p.layer + 1 for p in products)]
        if not all(np.isfinite(new).all() for _, new in biases):
            return None
        bounds = self._bounds(params, products)
        if bounds is None:
            return loss if self._checked_step(theta, products) else None
        with deferred():
            for p in products:
                gemm_update(params[2 * p.layer], p.delta, p.inputs, -self.optimizer.lr,
                            self.decay)
            for bias, new in biases:
                bias[:] = new
            self.bounds = bounds
        return loss

    def _bounds(self, params, products) -> dict | None:
        """The layers' bounds after this step, or None if one could pass LIMIT."""
        bounds = {}
        for p in products:
            change = self.optimizer.lr * np.sqrt(squares(p.delta, p.delta_squares)
                                                 * squares(p.inputs, p.input_squares))
            bound = abs(self.decay) * self.bounds.get(p.layer, np.inf) + change
            if not bound <= self.LIMIT:             # also catches nan: measure, then decide
                bound = abs(self.decay) * largest(params[2 * p.layer]) + change
            if not bound <= self.LIMIT:
                return None
            bounds[p.layer] = bound
        return bounds

    def _checked_step(self, theta, products) -> bool:
        self.kernel.weight_gradients(products)
        self.bounds = {}
        return self.optimizer.step(theta, self.kernel.gradient, self.state, 1)


def squares(values: np.ndarray, known: float | None) -> float:
    """The sum of squares of values (inf or nan if any value is): known, or one BLAS dot."""
    return known if known is not None else float(np.vdot(values, values))


def largest(values: np.ndarray) -> float:
    """max |values|; nan if any value is nan (no temporary array)."""
    return float(np.maximum(values.max(), -values.min()))
