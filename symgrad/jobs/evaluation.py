"""Held-out evaluation of a run: the validation split (``split_rows``, ``Split``) and the
metrics train and fit report (``run_metrics``, ``metrics_summary``).

``--validation F`` holds out a random fraction F of the rows, drawn from ``--seed``; for a
classifier (bce with 0/1 or text labels, ce) each class gives round(F * its rows) of them, so
both parts keep the class proportions. ``--validation FILE`` reads another file with the same
columns (and, for a classifier, the training file's classes). The split is recorded in
PARAMS.json (the fraction and seed, or the file) so that a run can be repeated.

Metrics (symgrad.metrics) are reported for each part: ``loss``, the mean per-row loss at the
final parameters, and by the loss's kind r2 and rmse, or accuracy and log_loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SymgradError, warn
from ..metrics import metric_kind, scores


@dataclass(frozen=True)
class Part:
    """Rows of a data set: the kernel's matrix and the targets per row; ``lines``: each
    row's index in the file read (None: row i is the file's data row i); ``source``: that
    file (data.open_csv's), to name a row by its line."""
    data: np.ndarray
    targets: np.ndarray
    lines: np.ndarray | None = None
    source: object = None

    def file_row(self, index: int) -> int:
        """The file's data row (from 0) that row ``index`` of this part was read from."""
        return int(index if self.lines is None else self.lines[index])

    def line(self, index: int) -> str:
        """'a.csv line 7': where row ``index`` of this part is in its file."""
        from ..data import line_of_row
        return f"data row {self.file_row(index) + 1}" if self.source is None else \
            line_of_row(self.source, self.file_row(index))

    @property
    def rows(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class Split:
    train: Part
    validation: Part | None = None
    record: dict | None = None      # PARAMS.json's "validation"


def validation_split(options, setup, source=None) -> Split:
    """The rows to train on and to validate with, as ``options.validation`` asks, from the
    rows of ``source`` (the CSV file the setup read, which names them by line)."""
    whole = Part(setup.data, setup.targets, source=source)
    value = options.validation
    if value is None:
        return Split(whole)
    fraction = _fraction(value)
    if fraction is None:
        return _validation_file(options, setup, whole, value)
    stratified = metric_kind(options.loss) != "regression" and _is_labels(setup.targets)
    train, held = split_rows(whole.rows, fraction, options.seed,
                             setup.targets if stratified else None)
    record = {"fraction": fraction, "seed": options.seed, "stratified": stratified,
              "rows": len(held)}
    return Split(_rows_of(whole, train), _rows_of(whole, held), record)


def split_rows(n: int, fraction: float, seed: int, labels=None):
    """(training rows, validation rows), each sorted: round(fraction * n) rows held out at
    random (numpy's default_rng(seed)), or round(fraction * count) of each label's rows."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else \
        [np.flatnonzero(labels == value) for value in np.unique(labels)]
    held = np.concatenate([rng.permutation(rows)[:round(fraction * len(rows))]
                           for rows in groups])
    if len(held) == 0 or len(held) == n:
        raise SymgradError(f"--validation {fraction} of {n} row{'s' * (n != 1)} leaves "
                           f"{'no validation' if len(held) == 0 else 'no training'} rows")
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _fraction(value: str) -> float | None:
    """The fraction --validation names, or None for a file name."""
    try:
        fraction = float(value)
    except ValueError:
        return None
    if not 0.0 < fraction < 1.0:
        raise SymgradError(f"--validation takes a fraction between 0 and 1 (exclusive) or a "
                           f"CSV file, got {value}")
    return fraction


def _validation_file(options, setup, whole: Part, path: str) -> Split:
    from ..data import open_csv
    from .setups import checked_header

    source = open_csv(path, options.delimiter)
    checked_header(source, options.target)
    data, targets = setup.read_rows(source)
    return Split(whole, Part(data, targets, source=source), {"file": path,
                                                             "rows": len(targets)})


def _is_labels(targets: np.ndarray) -> bool:
    """Class indices or 0/1 labels, not probabilities."""
    return bool(np.all(targets == np.round(targets)))


def _rows_of(part: Part, rows: np.ndarray) -> Part:
    return Part(np.asfortranarray(part.data[rows]), part.targets[rows], rows, part.source)


def measured(kernel, setup, split: Split, result, loss: str):
    """(run_metrics at the result's parameters, the result): (None, result) if the run was
    interrupted; a stop signal while measuring gives None and the result marked interrupted
    by it (so the job still saves --out and says how it ended)."""
    import signal
    from dataclasses import replace

    if result.interrupted:
        return None, result
    try:
        return run_metrics(kernel, setup, split, result.params, loss), result
    except KeyboardInterrupt as stop:
        return None, replace(result, interrupted=True,
                             stop_signal=getattr(stop, "signum", signal.SIGINT))


def run_metrics(kernel, setup, split: Split, theta, loss: str) -> dict:
    """{"train": {...}, "validation": {...}} (validation only with a split): each the loss
    and the metrics its kind has."""
    metrics = {"train": part_metrics(kernel, setup.outputs, split.train, theta, loss)}
    if split.validation is not None:  # a training loss not finite has been reported
        metrics["validation"] = part_metrics(kernel, setup.outputs, split.validation, theta,
                                             loss, named="the validation")
    return metrics


def part_metrics(kernel, outputs, part: Part, theta, loss: str, named: str = "") -> dict:
    """The mean per-row loss of a part and the scores of the model's outputs on it; given
    ``named`` ('the validation'), a loss not finite gets a warning naming the first row."""
    with np.errstate(all="ignore"):  # a diverged run's scores are inf or nan, not warnings
        value = kernel.loss_at(np.asarray(theta, np.float64), part.data)
        if kernel.reduction == "sum":
            value /= part.rows
        predicted = outputs(kernel, theta, part.data)
        metrics = {"loss": value, **scores(metric_kind(loss), part.targets, predicted)}
    if named and not np.isfinite(value):
        warn_not_finite(part, predicted, named)
    return metrics


def warn_not_finite(part: Part, predicted, named: str) -> None:
    """One warning line for a loss not finite: where the model's output is not, or that the
    rows' losses overflow where every output is finite."""
    where = non_finite_outputs(predicted, part.line)
    warn(f"{named} loss is not finite: {where}" if where else
         f"{named} loss is not finite although every output is: the rows' losses overflow "
         f"(a squared error beyond 1.8e308, say)")


def non_finite_outputs(predicted, line) -> str:
    """'the model's output is not finite in 2 rows (first: a.csv line 4, nan): it overflows
    or leaves its domain there' (``line(i)`` names row i), '' where every output is finite."""
    values = np.asarray(predicted, dtype=np.float64).reshape(len(predicted), -1)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if not bad.size:
        return ""
    first = values[bad[0]][~np.isfinite(values[bad[0]])][0]
    return (f"the model's output is not finite in {bad.size} row{'s' * (bad.size != 1)} "
            f"(first: {line(int(bad[0]))}, {first}): it overflows or leaves its domain there")


NAMES = {"loss": "loss", "accuracy": "accuracy", "log_loss": "log-loss", "r2": "R^2",
         "rmse": "RMSE"}


def metrics_summary(metrics: dict) -> str:
    """'train loss 0.1, R^2 0.98, RMSE 0.3; validation loss ...' (6 significant digits; a
    value not finite, null in PARAMS.json, as 'not finite')."""
    return "; ".join(f"{part} " + ", ".join(
        f"{NAMES[k]} {'not finite' if v is None else format(v, '.6g')}"
        for k, v in values.items()) for part, values in metrics.items())
