"""A target column as its loss reads it: numbers, or class labels encoded as indices.

``read_targets`` gives (values per row as float64, the class labels or None):
- ce: every label a class, in sorted order (see _label_order), as indices 0..k-1;
- bce: numbers as they are (0/1, or probabilities); two text labels ('no'/'yes') as 0 and 1
  in sorted order, the labels kept so that predict prints them;
- any other loss: numbers.
Given ``classes`` (a trained model's, for a validation file or ``symgrad score``), labels map
to those indices, and a label not among them is an error.
"""
from __future__ import annotations

import numpy as np

from ..errors import SymgradError, listed


def read_targets(source, column: str, loss: str, rows: int, classes=None):
    """(targets as float64, class labels or None) of ``column``, for ``loss``."""
    from ..data import read_csv

    if loss == "ce" or (loss == "bce" and classes is not None):
        return encoded_labels(source, column, rows, classes)
    try:
        values = read_csv(source, [column]).columns[column]
    except SymgradError:
        if loss != "bce" or not _text_labels(source, column):
            raise
    else:
        if loss == "bce":
            _refuse_outside_unit_interval(values, column, source)
        return values, None
    values, classes = encoded_labels(source, column, rows)
    if len(classes) != 2:
        raise SymgradError(f"--loss bce needs two classes; {column!r} has {len(classes)} "
                           f"({listed(classes)}): for more, use ce with a layer chain "
                           f"ending in one output per class")
    return values, classes


def _refuse_outside_unit_interval(values: np.ndarray, column: str, source) -> None:
    """bce compares a probability with targets in [0, 1]: anything else has no optimum."""
    from ..data import line_of_row

    outside = np.flatnonzero((values < 0) | (values > 1))
    if outside.size:
        raise SymgradError(f"--loss bce needs targets in [0, 1]; {column!r} is "
                           f"{float(values[outside[0]])!r} at "
                           f"{line_of_row(source, int(outside[0]))}")


def encoded_labels(source, column: str, rows: int, classes=None):
    """(class indices as float64, the classes): labels in sorted order, or ``classes``."""
    from ..data import read_labels

    labels = read_labels(source, column)
    if len(labels) != rows:
        raise SymgradError(f"{source.name}: {len(labels)} labels for {rows} rows")
    keys = [_class_key(label) for label in labels]
    if classes is None:
        spelt = dict(zip(reversed(keys), reversed(labels)))  # each class as first written
        classes = sorted(spelt.values(), key=_label_order)
    index = {_class_key(label): k for k, label in enumerate(classes)}
    unknown = next((label for label, key in zip(labels, keys) if key not in index), None)
    if unknown is not None:
        raise SymgradError(f"{source.name}: {column!r} holds {unknown!r}, not one of the "
                           f"classes trained on ({listed(classes)})")
    return np.array([index[key] for key in keys], dtype=np.float64), list(classes)


def _class_key(label: str):
    """A number by its value (1, 1.0 and 01 are one class, as for bce), other text as it is."""
    try:
        value = float(label)
    except ValueError:
        return label
    return value if np.isfinite(value) and "_" not in label else label


def check_class_count(classes, width: int, column: str) -> None:
    """A layer chain's last layer has one output per class."""
    if len(classes) != width:
        raise SymgradError(f"the last layer has width {width} but {column!r} has "
                           f"{len(classes)} classes ({listed(classes)})")


def _text_labels(source, column: str) -> bool:
    """Whether the column holds labels, none of them a number."""
    from ..data import read_labels

    labels = read_labels(source, column)
    return bool(labels) and not any(is_number(label) for label in labels)


def is_number(label: str) -> bool:
    """Whether Python's float() reads the text."""
    try:
        float(label)
    except ValueError:
        return False
    return True


def _label_order(label: str):
    """Numeric labels in numeric order, then the others as text."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
