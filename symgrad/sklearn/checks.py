"""The checks of scikit-learn's estimator suite the symgrad estimators are expected to fail.

``EXPECTED_FAILED_CHECKS`` is ``{estimator class name: {check name: reason}}``, the form
``check_estimator(expected_failed_checks=...)`` and ``parametrize_with_checks`` take (through
``expected_failed_checks(estimator)``); docs/sklearn.md repeats each reason.
"""
from __future__ import annotations

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "SymgradRegressor": {},
    "SymgradClassifier": {},
}


def expected_failed_checks(estimator) -> dict[str, str]:
    """The expected failures of one estimator (for ``parametrize_with_checks``)."""
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})
