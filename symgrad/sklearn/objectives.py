"""The sums ``symgrad.fit``'s solvers need, for networks and the width-independent linear model.

``symgrad.fitting.fit_objective`` runs its methods on any ``solvers.Objective`` (the summed
row loss and its derivatives at any theta). A scalar model's compiled kernel is one
(``objectives.KernelObjective``); here are two more, built on the layer engine
(``symgrad.layers.cpu.CpuNetwork``), whose generated kernels are compiled once per activation
and loss, whatever the number of features:

- ``NetworkObjective``: a layer chain's loss and gradient (so "auto" picks L-BFGS);
- ``LinearObjective``: k linear predictors z = X W.T + b (the chain ``dense(k)``, or
  ``dense(1) -> sigmoid`` under bce), with the exact curvature of its three canonical
  losses, X~' diag(dmu/dz) X~ with X~ = [X, 1]: 2 X~'X~ for mse (also as Gauss-Newton sums:
  RSS, J'r, J'J with J = X~), X~' diag(p(1-p)) X~ for bce, and for ce the blocks
  X~' diag(p_a (delta_ab - p_b)) X~. These are matrix products in numpy, so Levenberg-
  Marquardt and Newton fit the model for any width without compiling anything for it.
"""
from __future__ import annotations

import numpy as np

from ..errors import SymgradError


class NetworkObjective:
    """The summed loss and gradient of a layer network (``CpuNetwork``) over one data set:
    features ``X`` (rows x fan-in) and ``targets`` (values, 0/1, or class indices for ce)."""

    least_squares = False
    factored = False  # J^T J from BLAS sums; no rows of J
    has_hessian = False
    first_order_only = "a layer chain (the default linear model, model=None, has them)"

    def __init__(self, network, X, targets):
        self.network = network
        self.rows, self.columns = network.columns(np.column_stack([X, targets]))
        self.observations = self.rows

    def loss_grad(self, theta):
        loss, grad, _ = self.network.evaluate(np.asarray(theta, dtype=np.float64), self.rows,
                                              self.columns)
        return loss * self.rows, grad * self.rows  # the engine's mean, as sums

    def hessian(self, theta):
        raise SymgradError("a layer network has no Hessian kernel: use method lbfgs")

    def gauss_newton(self, theta):
        raise SymgradError("a layer network has no Gauss-Newton sums: use method lbfgs")


class LinearObjective(NetworkObjective):
    """``NetworkObjective`` of the chain ``dense(k)`` (or ``dense(1) -> sigmoid``), with its
    Hessian (and for mse its Gauss-Newton sums) as matrix products over X~ = [X, 1].

    The flat layout is the layer engine's, W (k x d, row-major) then b (k); the curvature is
    formed in the augmented layout [W | b] (k x (d + 1)) and permuted back."""

    has_hessian = True
    first_order_only = None

    def __init__(self, network, X, targets):
        super().__init__(network, X, targets)
        self.loss, self.k = network.loss, network.chain.dense[-1].width
        self.augmented = np.column_stack([X, np.ones(len(X))])
        self.targets = np.asarray(targets, dtype=np.float64)
        self.least_squares = self.loss == "mse"
        self.observations = self.rows * self.k  # mse: a square per output
        d = X.shape[1]
        self.order = np.array([a * d + i if i < d else self.k * d + a
                               for a in range(self.k) for i in range(d + 1)])
        self._gram = None

    def _layer_order(self, augmented: np.ndarray) -> np.ndarray:
        """A vector or matrix over the augmented layout, in the flat layout."""
        out = np.empty_like(augmented)
        if augmented.ndim == 1:
            out[self.order] = augmented
        else:
            out[np.ix_(self.order, self.order)] = augmented
        return out

    def linear_predictors(self, theta) -> np.ndarray:
        """z = X~ [W | b]' for every row: rows x k."""
        weights = np.asarray(theta, dtype=np.float64)[self.order]
        return self.augmented @ weights.reshape(self.k, -1).T

    def gram(self) -> np.ndarray:
        if self._gram is None:
            self._gram = self._layer_order(self.augmented.T @ self.augmented)
        return self._gram

    def gauss_newton(self, theta):
        """(RSS, J'J, J'r) of mse: the residuals r = z - y, J = X~ (see fitting's sums)."""
        if not self.least_squares:
            return super().gauss_newton(theta)
        residuals = self.linear_predictors(theta)[:, 0] - self.targets
        return (float(residuals @ residuals), self.gram(),
                self._layer_order(self.augmented.T @ residuals))

    def hessian(self, theta):
        """(loss, gradient, exact Hessian), the sums over the rows."""
        loss, grad = self.loss_grad(theta)
        if self.loss == "mse":
            return loss, grad, 2.0 * self.gram()
        z = self.linear_predictors(theta)
        p = probabilities(z[:, 0]) if self.loss == "bce" else softmax(z)
        if self.loss == "bce":
            return loss, grad, self._layer_order(self._weighted_gram(p * (1.0 - p)))
        width = self.augmented.shape[1]
        blocks = np.empty((self.k, width, self.k, width))
        for a in range(self.k):
            for b in range(a, self.k):
                weights = p[:, a] * ((a == b) - p[:, b])
                blocks[a, :, b, :] = self._weighted_gram(weights)
                blocks[b, :, a, :] = blocks[a, :, b, :].T
        return loss, grad, self._layer_order(blocks.reshape(self.k * width, -1))

    def _weighted_gram(self, weights: np.ndarray) -> np.ndarray:
        return self.augmented.T @ (weights[:, None] * self.augmented)


def probabilities(z: np.ndarray) -> np.ndarray:
    """sigmoid(z), without overflow at any logit."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z: np.ndarray) -> np.ndarray:
    """Each row's softmax (max-shifted)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
