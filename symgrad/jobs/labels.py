"""Class labels of a cross-entropy target column, encoded as indices in a stable order."""
from __future__ import annotations

import numpy as np

from ..errors import SymgradError


def encoded_labels(source, column: str, rows: int, width: int):
    """(class indices as float64, the classes): labels in sorted order (see _label_order),
    one class per output of a last layer of ``width``."""
    from ..data import read_labels

    labels = read_labels(source, column)
    if len(labels) != rows:
        raise SymgradError(f"{source.name}: {len(labels)} labels for {rows} rows")
    classes = sorted(set(labels), key=_label_order)
    if len(classes) != width:
        raise SymgradError(f"the last layer has width {width} but {column!r} has "
                           f"{len(classes)} classes ({', '.join(classes[:10])})")
    index = {label: k for k, label in enumerate(classes)}
    return np.array([index[label] for label in labels], dtype=np.float64), classes


def _label_order(label: str):
    """Numeric labels in numeric order, then the others as text."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
