"""SymgradEstimator: what SymgradRegressor and SymgradClassifier share (settings, fitting).

Hyperparameters are stored unchanged by ``__init__`` and checked by ``fit``, each bad one a
``SymgradError`` (a ValueError) naming it. ``fit`` builds the model (``symgrad.sklearn.models``)
over the feature names and runs one of two solvers:

- ``"fit"``: ``symgrad.fitting.fit_objective``, symgrad.fit's trust-region Levenberg-Marquardt
  or Newton (L-BFGS for chains and models past the dense Hessian), with the l2 penalty
  ``alpha/2 * ||theta||^2`` on the summed loss (intercepts excluded) and standard errors,
  from ``n_init`` starts (symgrad.starts; "auto": 8 for a model expression);
- ``"train"``: ``symgrad.train`` with an optimizer, learning rate, epochs and mini-batches;
  ``alpha`` becomes the optimizer's weight decay alpha/rows (the same penalty on the mean
  loss, here on every parameter).

"auto" is train for layer chains and fit otherwise. The fitted attributes: ``theta_`` (the
flat parameters), ``params_`` (by name: vectors and matrices as arrays), ``n_iter_``,
``result_`` (the ``symgrad.Fit`` or ``symgrad.TrainResult``), ``stderr_`` (fit solver) and,
for the default linear model, ``coef_`` and ``intercept_``. A fit that did not converge is a
ConvergenceWarning; for a model expression, each of the Fit's own warnings (standard errors
the data do not give) a UserWarning. The default and layer-chain models keep theirs in
``result_.warnings``: a softmax's intercepts, for one, are determined only up to a shared
constant, which says nothing about the user's model.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import SymgradError
from ..runtime.columns import unmasked
from ..starts import DEFAULT_STARTS, MOST_STARTS
from .models import ExpressionModel, LinearModel, NetworkModel, grouped

SOLVERS = ("auto", "fit", "train")
METHODS = ("auto", "lm", "newton", "lbfgs")  # symgrad.fitting.METHODS
NETWORK_LOSSES = ("mse", "bce", "ce")        # what the layer engine computes
TARGET = "y"                                 # the target's name in a loss expression
DEFAULT_BATCH = 200                          # batch_size "auto": min(200, rows), as MLPs'
DEFAULT_EXPRESSION = "dot(w, features) + b"  # the default model under other losses


class SymgradEstimator(BaseEstimator):
    """The shared machinery; subclasses define ``__init__`` (their hyperparameters), ``fit``
    and the predictions."""

    def __init__(self, model=None, loss=None, *, solver="auto", method="auto", alpha=0.0,
                 l2_exclude=None, tol=1e-10, max_iter=1000, optimizer="adam", lr=0.01,
                 momentum=0.9, epochs=200, batch_size="auto", shuffle=True, init=None,
                 n_init="auto", random_state=None):
        """The hyperparameters, stored unchanged (docs/sklearn.md says what each means)."""
        self.model, self.loss, self.solver, self.method = model, loss, solver, method
        self.alpha, self.l2_exclude, self.tol, self.max_iter = alpha, l2_exclude, tol, max_iter
        self.optimizer, self.lr, self.momentum, self.epochs = optimizer, lr, momentum, epochs
        self.batch_size, self.shuffle, self.init = batch_size, shuffle, init
        self.n_init, self.random_state = n_init, random_state

    # --- settings ----------------------------------------------------------------------

    def _check_settings(self) -> None:
        from ..optim import OPTIMIZERS

        if self.model is not None and not (isinstance(self.model, str) and self.model.strip()):
            _refuse("model", self.model, "an expression, a layer chain or None (the default "
                                         "linear model)")
        _choose("solver", self.solver, SOLVERS)
        _choose("method", self.method, METHODS)
        _choose("optimizer", self.optimizer, tuple(OPTIMIZERS))
        for name, low, high in (("alpha", 0, math.inf), ("tol", 0, 1), ("lr", 0, math.inf),
                                ("momentum", 0, 1)):
            value = getattr(self, name)  # (a str or None: not _real, never compared)
            if not (_real(value) and (low < value < high if name in ("tol", "lr") else
                                      low <= value < high)):
                _refuse(name, value, f"a number in {'(' if name in ('tol', 'lr') else '['}"
                                     f"{low}, {high})")
        for name in ("max_iter", "epochs"):
            if not _whole(getattr(self, name)):
                _refuse(name, getattr(self, name), "an integer >= 1")
        if not (self.batch_size in ("auto", None) or _whole(self.batch_size)):
            _refuse("batch_size", self.batch_size, "an integer >= 1, 'auto' or None (full batch)")
        if not isinstance(self.shuffle, (bool, np.bool_)):
            _refuse("shuffle", self.shuffle, "True or False")
        if self.init is not None and not (isinstance(self.init, Mapping) and all(
                isinstance(k, str) and _real(v) for k, v in self.init.items())):
            _refuse("init", self.init, "None or a dict of parameter names to finite numbers")
        if not (self.n_init == "auto" or _whole(self.n_init) and self.n_init <= MOST_STARTS):
            _refuse("n_init", self.n_init, f"'auto' or a whole number from 1 to {MOST_STARTS}")
        if self.n_init not in ("auto", 1) and self._solver() == "train":
            _refuse("n_init", self.n_init, "'auto' or 1 with the train solver (the fit solver "
                                           "runs several starts)")
        if self.l2_exclude is not None and (isinstance(self.l2_exclude, str) or not all(
                isinstance(n, str) for n in self.l2_exclude)):
            _refuse("l2_exclude", self.l2_exclude, "None or a list of parameter names")

    def _solver(self) -> str:
        if self.solver != "auto":
            return self.solver
        from ..layers import is_chain
        return "train" if self.model is not None and is_chain(self.model) else "fit"

    def _starts(self, model, free: bool) -> int:
        """n_init's count: "auto" is DEFAULT_STARTS for the user's model expression with a
        parameter ``init`` leaves free (its loss may have several minima), else 1 (the
        default linear model's loss is convex, under mae as well)."""
        if self.n_init != "auto":
            return int(self.n_init)
        mine = isinstance(model, ExpressionModel) and self.model is not None
        return DEFAULT_STARTS if mine and free else 1

    def _feature_names(self) -> list[str]:
        """The names the model's expression reads: feature_names_in_, else x0, x1, ..."""
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"x{j}" for j in range(self.n_features_in_)]

    # --- fitting -----------------------------------------------------------------------

    def _fit(self, X: np.ndarray, targets: np.ndarray, loss: str, width: int) -> None:
        """Build the model for ``loss`` (``width`` outputs: 1, or classes under ce), fit it
        to the encoded targets and set the fitted attributes."""
        solver = self._solver()
        model = self._model(loss, width, solver)
        theta, result, iterations = self._solve(model, X, targets, solver)
        theta = model.canonical(theta)
        for stale in ("coef_", "intercept_", "stderr_"):
            self.__dict__.pop(stale, None)
        self.model_, self.theta_, self.result_ = model, theta, result
        self.params_ = grouped(model.names, theta)
        self.n_iter_ = int(iterations)
        if solver == "fit":
            self.stderr_ = grouped(model.names, result.stderr)

    def _model(self, loss: str, width: int, solver: str):
        from ..layers import is_chain

        text = self.model
        if text is None:
            if loss in NETWORK_LOSSES:
                return LinearModel(self.n_features_in_, loss, width)
            text = DEFAULT_EXPRESSION
        if is_chain(text):
            if loss not in NETWORK_LOSSES:
                raise SymgradError(f"a layer chain trains with loss mse, bce or ce, not {loss!r}")
            network = NetworkModel(text, self.n_features_in_, loss)
            if network.width != width and loss != "bce":
                raise SymgradError(f"{network.chain.text!r} ends with width {network.width}; "
                                   f"this needs {width} (one output per "
                                   f"{'class' if loss == 'ce' else 'target'})")
            return network
        if loss == "ce":
            raise SymgradError("an expression model has one output (a probability, under "
                               "bce): for more than two classes use the default model or a "
                               "layer chain ending in dense(k)")
        names = self._feature_names()
        if TARGET in names:
            raise SymgradError(f"a feature is named {TARGET!r}, the target's name in the "
                               f"model's loss: rename that column")
        return ExpressionModel(text, names, loss, TARGET, solver)

    def _solve(self, model, X, targets, solver: str):
        """(theta, result, iterations) of the chosen solver; ConvergenceWarning if it did
        not converge; KeyboardInterrupt (Ctrl-C) goes on up."""
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        theta0 = _started(model.start(seed, solver), model.names, self.init)
        if solver == "fit":
            from ..fitting import fit_objective

            excluded = model.intercepts if self.l2_exclude is None else list(self.l2_exclude)
            free = [name not in (self.init or {}) for name in model.names]
            result = fit_objective(model.objective(X, targets), model.names, theta0,
                                   method=self.method, l2=float(self.alpha),
                                   l2_exclude=excluded, tol=float(self.tol),
                                   max_iter=int(self.max_iter), seed=seed,
                                   starts=self._starts(model, any(free)), free=free)
            trouble = None if result.converged else result.reason
            iterations = result.iterations
            mine = isinstance(model, ExpressionModel) and self.model is not None
            for message in result.warnings if mine else ():  # (not the default model's)
                warnings.warn(f"{type(self).__name__}: {message}", UserWarning, stacklevel=3)
        else:
            from ..optim import optimizer
            from ..training import train

            rows = len(X)
            rule = optimizer(self.optimizer, float(self.lr), float(self.momentum),
                             weight_decay=float(self.alpha) / rows)
            batch = min(DEFAULT_BATCH, rows) if self.batch_size == "auto" else self.batch_size
            result = train(model.trainable(), model.matrix(X, targets), theta0, rule,
                           int(self.epochs), batch_size=batch, shuffle=bool(self.shuffle),
                           seed=seed)
            trouble = None if result.diverged_epoch is None else \
                f"training diverged in epoch {result.diverged_epoch + 1} (the parameters " \
                f"are the last finite ones): lower lr"
            iterations = result.epochs
        if result.interrupted:
            raise KeyboardInterrupt
        if trouble is not None:
            warnings.warn(f"{type(self).__name__}: {trouble}", ConvergenceWarning, stacklevel=3)
        return np.asarray(result.params, dtype=np.float64).copy(), result, iterations

    def _outputs(self, X) -> np.ndarray:
        """The fitted model's outputs on new data (checked as sklearn checks it)."""
        check_is_fitted(self)
        X = validate_data(self, unmasked(X, "X"), dtype=np.float64, reset=False)
        return self.model_.outputs(self.theta_, X)

    def _linear_coefficients(self):
        """(weights rows x features, intercepts) of the default linear model, else None."""
        if self.model is None and type(self.model_) is not LinearModel:  # DEFAULT_EXPRESSION,
            weights = np.atleast_1d(np.asarray(self.params_["w"], dtype=np.float64))  # mae's
            return weights[None, :].copy(), np.array([float(self.params_["b"])])
        if type(self.model_) is not LinearModel:
            return None
        return tuple(values.copy() for values in self.model_.logits_parameters(self.theta_))


def with_defaults(init, **defaults):
    """A copy of an ``__init__`` with other defaults for some keyword-only arguments: the
    classifier's signature (which scikit-learn's get_params and clone read) is the
    regressor's with ``alpha=1.0``, written once."""
    import types

    copy = types.FunctionType(init.__code__, init.__globals__, init.__name__,
                              init.__defaults__, init.__closure__)
    copy.__kwdefaults__ = {**init.__kwdefaults__, **defaults}
    copy.__doc__, copy.__qualname__ = init.__doc__, init.__qualname__
    return copy


def _started(theta0: np.ndarray, names, init) -> np.ndarray:
    """The start, with the values ``init`` gives by name."""
    if not init:
        return theta0
    position = {name: k for k, name in enumerate(names)}
    unknown = [n for n in init if n not in position]
    if unknown:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise SymgradError(f"init names {unknown[0]!r}, which is not a parameter ({shown})")
    theta0 = theta0.copy()
    for name, value in init.items():
        theta0[position[name]] = float(value)
    return theta0


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _choose(name: str, value, allowed) -> None:
    if not (isinstance(value, str) and value in allowed):
        _refuse(name, value, "one of " + ", ".join(repr(a) for a in allowed))


def _refuse(name: str, value, wanted: str):
    raise SymgradError(f"{name} must be {wanted}, got {value!r}")
