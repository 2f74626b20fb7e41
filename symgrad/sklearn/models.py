"""The three kinds of model a symgrad estimator fits: linear (the default), expression, chain.

Each holds what its fits and predictions need, builds its compiled code on first use and drops
it when pickled (a fitted estimator pickles as its parameters and these few strings; the code
comes back from the kernel cache):

- ``LinearModel``: k linear predictors over every feature, z = X W.T + b: the regressor's
  ``dot(w, features) + b`` (mse), logistic regression ``sigmoid(dot(w, features) + b)`` (bce)
  and its multinomial form, softmax of ``dense(k)`` (ce). It runs on the layer engine, whose
  kernels are compiled once per loss, not per width, and fits through ``LinearObjective``.
- ``ExpressionModel``: a model in the expression language over the feature names, compiled
  by ``symgrad.recipe`` (keyed by its text and the names, like ``symgrad train``'s kernels).
- ``NetworkModel``: a layer chain, always on the layer engine (no width-dependent unrolling).

``outputs(theta, X)``: regression values (rows,), the probability of the second class
(rows,) under bce, or class probabilities (rows, k) under ce.
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import SymgradError
from .objectives import LinearObjective, NetworkObjective, probabilities, softmax

ENTRY = re.compile(r"(.+)\[(\d+(?:, \d+)*)\]\Z")  # w[3], W0[1, 2]


class NetworkModel:
    """A layer chain on the layer engine (``CpuNetwork``): parameters W0, b0, W1, ... as the
    CLI names them, started from PyTorch's Linear initialisation."""

    def __init__(self, text: str, fan_in: int, loss: str):
        from ..layers import check_loss, parse_chain

        self.text, self.fan_in, self.loss = text, fan_in, loss
        self.chain = parse_chain(text)
        check_loss(self.chain, loss)
        self.width = self.chain.dense[-1].width
        self._network = None

    def __getstate__(self):
        return {**self.__dict__, "_network": None}

    @property
    def names(self) -> list[str]:
        return [f"{name}[{', '.join(map(str, index))}]"
                for name, shape in self.chain.shapes(self.fan_in) for index in np.ndindex(*shape)]

    @property
    def intercepts(self) -> list[str]:
        """The parameters l2 leaves alone by default: the biases."""
        return [n for n in self.names if n.startswith("b")]

    def network(self):
        if self._network is None:
            from ..layers.cpu import CpuNetwork
            self._network = CpuNetwork(self.chain, self.fan_in, self.loss)
        return self._network

    def objective(self, X, targets):
        return NetworkObjective(self.network(), X, targets)

    def trainable(self):
        return self.network()

    def canonical(self, theta) -> np.ndarray:
        """The fitted parameters in a canonical form (the same predictions)."""
        return theta

    def matrix(self, X, targets) -> np.ndarray:
        """The data ``symgrad.train`` reads: the features, then the targets."""
        return np.column_stack([X, targets])

    def start(self, seed: int, solver: str) -> np.ndarray:
        from ..layers import init_params
        return init_params(self.chain, self.fan_in, seed)

    def logits(self, theta, X) -> np.ndarray:
        return self.network().predict(theta, X)

    def outputs(self, theta, X) -> np.ndarray:
        values = self.logits(theta, X)
        if self.loss == "ce":
            return softmax(values)
        return probabilities(values[:, 0]) if self.loss == "bce" else values[:, 0]


class LinearModel(NetworkModel):
    """The default model: ``dense(k)`` (``dense(1) -> sigmoid`` under bce) with parameters
    named as the expression language names ``dot(w, features) + b``: w[0], ..., b (k = 1), or
    W[j, i] and b[j] (k classes); started at zero; fitted by ``LinearObjective``."""

    def __init__(self, fan_in: int, loss: str, width: int = 1):
        super().__init__("dense(1) -> sigmoid" if loss == "bce" else f"dense({width})",
                         fan_in, loss)

    @property
    def names(self) -> list[str]:
        if self.width == 1:
            return [f"w[{i}]" for i in range(self.fan_in)] + ["b"]
        return [f"W[{j}, {i}]" for j in range(self.width) for i in range(self.fan_in)] + \
            [f"b[{j}]" for j in range(self.width)]

    def objective(self, X, targets):
        return LinearObjective(self.network(), X, targets)

    def canonical(self, theta) -> np.ndarray:
        """Under ce, softmax is unchanged by adding one vector to every class's weights (and
        one number to every intercept): the parameters with those means removed, which the
        l2 optimum has already and an unpenalized fit leaves to its start and steps."""
        if self.loss != "ce":
            return theta
        weights = self.logits_parameters(theta)
        return np.concatenate([(w - w.mean(axis=0)).ravel() for w in weights])

    def logits_parameters(self, theta):
        """(W: width x features, b: width) as views of theta."""
        cut = self.width * self.fan_in
        return theta[:cut].reshape(self.width, self.fan_in), theta[cut:]

    def start(self, seed: int, solver: str) -> np.ndarray:
        return np.zeros(len(self.names))

    def logits(self, theta, X) -> np.ndarray:
        weights, intercepts = self.logits_parameters(np.asarray(theta))
        return X @ weights.T + intercepts


class ExpressionModel:
    """A model in the expression language over ``names`` (the feature columns) and a target
    column ``target``; its kernel is ``symgrad.recipe``'s (order 2 and summed for the fit
    solver, order 1 and averaged for train)."""

    def __init__(self, text: str, names, loss: str, target: str, solver: str):
        from ..recipe import ModelRecipe

        self.names_in, self.solver = list(names), solver
        fitting = solver == "fit"
        self.recipe = ModelRecipe(text, target, loss=loss, data="X",
                                  reduction="sum" if fitting else "mean", order=2 if fitting else 1)
        self.loss, self._kernel = loss, None
        kernel = self.kernel()
        self.features = list(kernel.inputs[:-1])
        if not self.features:
            shown = ", ".join(self.names_in[:5]) + (", ..." if len(self.names_in) > 5 else "")
            raise SymgradError(f"the model {text!r} reads no feature column ({shown}): every "
                               f"name in it is a parameter; name columns as in "
                               f"feature_names_in_, or x0, x1, ... for an array")
        self.columns = [self.names_in.index(f) for f in self.features]

    def __getstate__(self):
        return {**self.__dict__, "_kernel": None}

    def kernel(self):
        if self._kernel is None:
            from ..recipe import recipe_kernel
            self._kernel = recipe_kernel(self.recipe, (*self.names_in, self.recipe.target))
        return self._kernel

    @property
    def names(self) -> list[str]:
        return list(self.kernel().params)

    intercepts: list[str] = []

    def objective(self, X, targets):
        from ..fitting import KernelObjective
        return KernelObjective(self.kernel(), self.matrix(X, targets))

    def trainable(self):
        return self.kernel()

    def canonical(self, theta) -> np.ndarray:
        return theta

    def matrix(self, X, targets) -> np.ndarray:
        return np.column_stack([X[:, self.columns], targets])

    def start(self, seed: int, solver: str) -> np.ndarray:
        """0.1 x N(0, 1) from the seed, as ``symgrad fit`` and ``symgrad train`` start: all
        zeros is a saddle of a product such as a*sin(k*x), where a fit would stop at once."""
        return 0.1 * np.random.default_rng(seed).standard_normal(len(self.names))

    def outputs(self, theta, X) -> np.ndarray:
        columns = {f: np.ascontiguousarray(X[:, j]) for f, j in zip(self.features, self.columns)}
        return self.kernel().predict(theta, columns)


def grouped(names, values) -> dict:
    """name -> value, a vector's or matrix's entries (w[0], W0[1, 2]) gathered into one array
    under its name; scalars as floats."""
    out: dict = {}
    entries: dict[str, dict] = {}
    for name, value in zip(names, values):
        entry = ENTRY.match(name)
        if entry is None:
            out[name] = float(value)
            continue
        if entry.group(1) not in entries:
            entries[entry.group(1)] = out[entry.group(1)] = {}
        entries[entry.group(1)][tuple(int(k) for k in entry.group(2).split(", "))] = value
    for base, found in entries.items():
        shape = tuple(np.max(list(found), axis=0) + 1)
        array = np.full(shape, np.nan)
        for index, value in found.items():
            array[index] = value
        out[base] = array
    return out
