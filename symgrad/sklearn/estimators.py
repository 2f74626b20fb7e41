"""SymgradRegressor and SymgradClassifier: symgrad models as scikit-learn estimators.

Both take the same hyperparameters (docs/sklearn.md; ``symgrad.sklearn.base`` for the
solvers) and differ in their targets: numbers for the regressor, labels of any type for the
classifier (``classes_`` sorted, as scikit-learn orders them; ``predict`` gives the labels back,
``predict_proba`` one column per class in that order).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..errors import SymgradError
from ..runtime.columns import unmasked
from .base import SymgradEstimator, with_defaults

CLASSIFIER_LOSSES = (None, "bce", "ce")


class SymgradRegressor(RegressorMixin, SymgradEstimator):
    """A symgrad model fitted to numeric targets.

    ``model``: None (the default, ``dot(w, features) + b``: least squares, fitted exactly),
    an expression over the feature names (``"a*exp(-k*t) + c"``; a DataFrame's columns, or x0,
    x1, ... for an array; ``features`` and ``dot(w, features)`` for all of them), or a layer
    chain (``"dense(8) -> tanh -> dense(1)"``). ``loss``: None (mse), "mse", "mae", or an
    expression of ``yhat`` and ``y`` (expression models). ``alpha``: the l2 penalty.
    """

    def fit(self, X, y):
        """Fit the model to X (rows x features) and y (rows); returns self."""
        self._check_settings()
        if self.loss is not None and not (isinstance(self.loss, str) and self.loss.strip()):
            raise SymgradError(f"loss must be None, 'mse', 'mae' or an expression of yhat "
                               f"and y, got {self.loss!r}")
        if self.loss in ("bce", "ce", "sse"):
            raise SymgradError(f"loss {self.loss!r} is not a regression loss here: use mse, "
                               f"mae or an expression of yhat and y (bce and ce: "
                               f"SymgradClassifier)")
        X, y = validate_data(self, unmasked(X, "X"), unmasked(y, "y"), dtype=np.float64,
                             y_numeric=True)
        self._fit(X, y.astype(np.float64), self.loss or "mse", 1)
        linear = self._linear_coefficients()
        if linear is not None:
            self.coef_, self.intercept_ = linear[0][0], float(linear[1][0])
        return self

    def predict(self, X) -> np.ndarray:
        """The model's output for each row of X."""
        return self._outputs(X)


class SymgradClassifier(ClassifierMixin, SymgradEstimator):
    """A symgrad model of class probabilities.

    ``model``: None (the default: logistic regression ``sigmoid(dot(w, features) + b)`` with
    bce for two classes, its multinomial form, the softmax of one linear predictor per class,
    with ce for more), an expression giving the probability of the second class (two classes,
    bce), or a layer chain ending in ``dense(1) -> sigmoid`` (bce) or ``dense(k)`` for k
    classes (ce). ``alpha`` (default 1.0, scikit-learn's LogisticRegression(C=1)): the l2
    penalty on the summed loss, the intercepts excluded.
    """

    __init__ = with_defaults(SymgradEstimator.__init__, alpha=1.0)

    def fit(self, X, y):
        """Fit the model to X (rows x features) and the labels y; returns self."""
        self._check_settings()
        if self.loss not in CLASSIFIER_LOSSES:
            raise SymgradError(f"loss must be None, 'bce' or 'ce', got {self.loss!r}")
        X, y = validate_data(self, unmasked(X, "X"), unmasked(y, "y"), dtype=np.float64)
        check_classification_targets(y)
        self.classes_, indices = np.unique(y, return_inverse=True)
        count = len(self.classes_)
        if count < 2:
            raise SymgradError(f"{type(self).__name__} needs samples of at least 2 classes; "
                               f"got 1 class ({self.classes_[0].item()!r})")
        loss = self._loss(count)
        if loss == "bce" and count > 2:
            raise SymgradError(f"bce is for two classes; y has {count}: use loss 'ce' (or "
                               f"None) with the default model or a chain ending in "
                               f"dense({count})")
        self._fit(X, indices.astype(np.float64), loss, 1 if loss == "bce" else count)
        linear = self._linear_coefficients()
        if linear is not None:
            self.coef_, self.intercept_ = linear
        return self

    def _loss(self, count: int) -> str:
        """bce for two classes, unless a layer chain ends in dense(k > 1); else ce."""
        if self.loss is not None:
            return self.loss
        from ..layers import is_chain, parse_chain

        if self.model is not None and is_chain(self.model):
            return "bce" if parse_chain(self.model).dense[-1].width == 1 else "ce"
        return "bce" if count == 2 else "ce"

    def predict_proba(self, X) -> np.ndarray:
        """Rows x classes: each row's class probabilities, in the order of ``classes_``."""
        values = self._outputs(X)
        return np.column_stack([1.0 - values, values]) if values.ndim == 1 else values

    def predict(self, X) -> np.ndarray:
        """The most probable label of each row."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]
