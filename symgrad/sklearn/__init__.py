"""symgrad.sklearn: SymgradRegressor and SymgradClassifier, symgrad models as sklearn estimators.

    >>> import numpy as np
    >>> from symgrad.sklearn import SymgradRegressor
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 5.0]])
    >>> y = 2.0 * X[:, 0] - X[:, 1] + 0.5
    >>> regressor = SymgradRegressor().fit(X, y)      # dot(w, features) + b, least squares
    >>> np.round(regressor.coef_, 10), round(regressor.intercept_, 10)
    (array([ 2., -1.]), 0.5)

``model`` takes the default linear model (None), an expression over the feature names, or a
layer chain; docs/sklearn.md has the whole story. scikit-learn is the optional extra
``sklearn``; ``import symgrad`` never imports this package. ``EXPECTED_FAILED_CHECKS`` lists
the checks of scikit-learn's estimator suite that these estimators do not pass, with why.
"""
from .checks import EXPECTED_FAILED_CHECKS
from .estimators import SymgradClassifier, SymgradRegressor

__all__ = ["EXPECTED_FAILED_CHECKS", "SymgradClassifier", "SymgradRegressor"]
