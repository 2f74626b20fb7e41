"""PARAMS.json, the file train writes and predict reads: ``params_document`` builds it,
``save_params`` writes it, and ``read_params`` reads one back, checked enough to predict from.

The document is self-contained (model, features, parameters, and the run's record). Reading
checks every key predict relies on and names the first that is wrong, with what it is: a file
edited by hand or written by something else fails in one line, never in a traceback.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..errors import SymgradError

HISTORY_POINTS = 1000


def save_params(path: str, document: dict) -> None:
    """Write PARAMS.json atomically and whole: a stop signal meanwhile waits for the write
    (it would otherwise lose a finished run's result) and is then a warning."""
    from ..files import write_atomically
    from ..stopping import finished_first

    with finished_first(f"writing {path}"):
        write_atomically(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def params_document(options, setup, result, split=None, metrics=None) -> dict:
    """The self-contained PARAMS.json: everything predict needs, and the run's record."""
    from ..optim import optimizer

    chosen = optimizer(options.optimizer, options.lr, options.momentum, options.weight_decay)
    history = result.history
    return {
        "symgrad_version": __version__,
        "model": options.model,
        "loss": options.loss,
        "reduction": setup.reduction,
        "target": options.target,
        "features": list(setup.features),
        **setup.described(result.params),
        **setup.labelled,
        **kernel_key(options, setup),
        "optimizer": {"name": options.optimizer, **vars(chosen)},
        "batch_size": options.batch_size or "full",
        "shuffle": options.shuffle,
        "seed": options.seed,
        "backend": options.backend,
        "dtype": options.dtype,
        "engine": options.engine,
        "epochs": result.epochs,
        "epochs_requested": options.epochs,
        "steps": result.steps,
        "final_loss": float(history[-1]) if len(history) else None,
        "history": history_rows(result),
        "diverged": result.diverged_epoch is not None,
        "diverged_epoch": None if result.diverged_epoch is None else result.diverged_epoch + 1,
        "interrupted": result.interrupted,
        **evaluation_record(split, metrics),
        **early_stopping_record(options, result),
    }


def history_rows(result) -> list:
    """At most HISTORY_POINTS rows [epoch, training loss], and the validation loss of that
    epoch where there is one (null where it was not taken: an interrupted last epoch)."""
    history, epochs = result.history, result.epoch_numbers
    keep = np.unique(np.linspace(0, len(history) - 1, min(len(history), HISTORY_POINTS))
                     .round().astype(int)) if len(history) else []
    rows = [[int(epochs[k]), float(history[k])] for k in keep]
    if result.validation_history is None:
        return rows
    held = {int(e): float(v) for e, v in result.validation_history}
    return [[epoch, loss, _finite(held.get(epoch))] for epoch, loss in rows]


def evaluation_record(split, metrics) -> dict:
    """PARAMS.json's "validation" (how the rows were held out) and "metrics"."""
    record = {} if split is None or split.record is None else {"validation": split.record}
    if metrics is not None:
        record["metrics"] = {part: {k: _finite(v) for k, v in values.items()}
                             for part, values in metrics.items()}
    return record


def early_stopping_record(options, result) -> dict:
    if getattr(options, "early_stopping", None) is None:
        return {}
    return {"early_stopping": {"patience": options.early_stopping,
                               "stopped": result.stopped_early,
                               "best_epoch": result.best_epoch}}


def _finite(value):
    return value if value is not None and np.isfinite(value) else None


def kernel_key(options, setup) -> dict:
    """What predict needs, besides the model, to find the run's kernel in the cache (an
    expression model's is keyed by its recipe and the CSV header): the header, and
    --features as given (null: the columns the model names)."""
    if not setup.header:
        return {}
    features = None if options.features is None else list(options.features)
    return {"kernel_key": {"columns": list(setup.header), "features": features}}


def read_params(path: str) -> dict:
    """A PARAMS.json written by train, checked enough to predict from: every key predict reads
    has the type it needs (SymgradError naming the first that has not)."""
    not_params = f"{path} is not a PARAMS.json written by symgrad train or fit"
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SymgradError(f"{path}: no such file") from None
    except RecursionError:
        raise SymgradError(f"{not_params} (nested too deeply)") from None
    except (OSError, ValueError) as err:  # ValueError: UnicodeDecodeError, JSONDecodeError, ...
        raise SymgradError(f"{not_params} ({err})") from None
    if not isinstance(document, dict):
        raise SymgradError(f"{not_params} (not a JSON object)")
    needed = ("model", "target", "features", "params")
    if any(k not in document for k in needed):
        raise SymgradError(f"{not_params} (needs {', '.join(needed)})")
    _check_params_document(path, document)
    return document


def _check_params_document(path: str, document: dict) -> None:
    """The types predict relies on: strings, a list of strings, an object of numbers."""
    from ..layers import is_chain

    for key in ("model", "target", *(["loss"] if "loss" in document else [])):
        _require(path, key, document[key], _is_string, "a string")
    _require_strings(path, "features", document["features"], _is_string, "a string")
    _require(path, "params", document["params"], lambda v: isinstance(v, dict), "an object")
    if document.get("dtype", "float64") not in ("float32", "float64"):
        raise SymgradError(f"{path}: dtype must be \"float32\" or \"float64\", not "
                           f"{json.dumps(document['dtype'])[:40]}")
    if "classes" in document:
        _require_strings(path, "classes", document["classes"], _is_one_line,
                         "a one-line string")
    if is_chain(document["model"]):
        _check_chain_document(path, document)
        return
    for name, value in document["params"].items():
        _require(path, _param_key(name), value, _is_finite_number, "a finite number")


def _check_chain_document(path: str, document: dict) -> None:
    """A layer chain's params are (nested lists of) finite numbers; it reads at least one
    feature; with ce, classes name the last layer's outputs."""
    from ..layers import parse_chain

    for name, value in document["params"].items():
        _check_number_array(path, _param_key(name), value)
    if not document["features"]:
        raise SymgradError(f"{path}: features is empty; a layer chain reads at least one column")
    width = parse_chain(document["model"]).dense[-1].width
    if document.get("loss") == "ce" and len(document.get("classes", ())) != width:
        raise SymgradError(f"{path}: classes must be {width} labels, one per output of the "
                           f"last layer")


def _check_number_array(path: str, key: str, value) -> None:
    """Nested lists of finite numbers with rows of equal length (or a single number)."""
    pending = [(key, value)]
    while pending:  # not recursive: the nesting is as deep as the JSON parser allowed
        where, item = pending.pop()
        if isinstance(item, list):
            pending += reversed([(f"{where}[{k}]", v) for k, v in enumerate(item)])
        else:
            _require(path, where, item, _is_finite_number, "a finite number")
    try:
        np.asarray(value, dtype=np.float64)
    except ValueError:
        raise SymgradError(f"{path}: {key} is not an array (its lists differ in length or "
                           f"depth)") from None


def _param_key(name: str) -> str:
    """'params.w' in a message; a name that is no identifier JSON-quoted (on one line)."""
    return f"params.{name}" if name.isidentifier() else f"params[{json.dumps(name)}]"


def _require(path: str, key: str, value, test: Callable[[object], bool], what: str) -> None:
    if not test(value):
        raise SymgradError(f"{path}: {key} must be {what}, not {_json_kind(value)}")


def _require_strings(path: str, key: str, value, test, what: str) -> None:
    """A list whose every item passes test (named key[k] when one does not)."""
    _require(path, key, value, lambda v: isinstance(v, list), "a list of strings")
    for k, item in enumerate(value):
        _require(path, f"{key}[{k}]", item, test, what)


def _is_string(value) -> bool:
    return isinstance(value, str)


def _is_one_line(value) -> bool:
    """A string the CSV output can hold on one line (a class label)."""
    return isinstance(value, str) and "\n" not in value and "\r" not in value


def _is_finite_number(value) -> bool:
    """An int or float that float64 holds finite (JSON's true/false, NaN, 1e400 are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:  # an int beyond float64's range: json.loads reads 10**400 exactly
        return False


def _json_kind(value) -> str:
    """What a JSON value is, for a message: 'a string', 'null', 'NaN', ..."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "a number" if _is_finite_number(value) else \
            "a number beyond float64's range" if isinstance(value, int) else json.dumps(value)
    if isinstance(value, str):
        return "a string with a line break" if not _is_one_line(value) else "a string"
    kinds = {list: "a list", dict: "an object"}
    return next((kind for t, kind in kinds.items() if isinstance(value, t)), type(value).__name__)
