"""The CLI's jobs as library functions: train on a CSV file, predict from a PARAMS.json.

Each job is a short pipeline over the library (read the CSV, build the Model, compile, train,
write) and returns a value describing what happened; the CLI only prints it and picks the exit
status. ``train_file`` guarantees the promise "nothing lost": once the data is loaded, a
Ctrl-C (compilation included) or a divergence still writes ``--out`` (atomically, never NaN)
with the last finite parameters.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__
from .errors import SymgradError
from .files import refuse_overwriting, write_atomically

HISTORY_POINTS = 1000
INIT_SCALE = 0.1  # parameters not in --init start as INIT_SCALE * N(0, 1), drawn from --seed


@dataclass(frozen=True)
class TrainOptions:
    data: str
    model: str
    target: str
    features: tuple[str, ...] | None = None
    loss: str = "mse"
    reduction: str = "mean"
    init: str | None = None
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    epochs: int = 100
    batch_size: int | None = None  # None: full batch
    shuffle: bool = False
    seed: int = 0
    backend: str = "numba"
    out: str | None = None
    engine: str = "local"               # or "dask": full batch over a Dask cluster
    scheduler: str | None = None        # dask: a running scheduler's address
    workers: int | None = None          # dask: local worker processes (default: one per CPU)


@dataclass(frozen=True)
class TrainOutcome:
    document: dict              # what --out holds
    status: str                 # "trained", "diverged" or "interrupted"
    params: dict = field(default_factory=dict)
    signal: int = signal.SIGINT  # for "interrupted": the signal (SIGINT: Ctrl-C)

    @property
    def stopped_by(self) -> str:
        """'interrupted' for Ctrl-C, else 'stopped by SIGTERM' (or SIGHUP)."""
        return "interrupted" if self.signal == signal.SIGINT else \
            f"stopped by {signal.Signals(self.signal).name}"


@dataclass(frozen=True)
class Setup:
    """What training needs, built from the options and the CSV file."""
    data: np.ndarray | None                 # the matrix the kernel trains on (None: dask)
    theta0: np.ndarray
    build: Callable[[], object] | None      # compiles the kernel (under the Ctrl-C guard)
    reduction: str
    features: list[str]
    described: Callable[[np.ndarray], dict]  # theta -> {"params": ..., and extra fields}


def train_file(options: TrainOptions, progress: Callable[[int, float], None] | None = None,
               exit_if_interrupted_compiling: bool = False):
    """Train the model on the CSV file; write --out; SymgradError for bad input.

    Ctrl-C, SIGTERM or SIGHUP while training stops it and saves the current parameters
    (``stopping.Stopped`` says which signal). The same while compiling (Numba's compiler does
    not survive an exception thrown into it) saves the initial parameters; with
    ``exit_if_interrupted_compiling`` (the CLI) the process then ends at once with status
    128 + the signal, otherwise the Stopped propagates after the save.
    """
    from .stopping import stop_signals_raise

    files = [options.data]
    if options.engine == "dask":
        from .distributed import data_files
        files = data_files(options.data)
    refuse_overwriting(options.out, [("data file", path) for path in files])
    with stop_signals_raise():
        if options.engine == "dask":
            return dask_train(options, progress)
        return _train_locally(options, progress, exit_if_interrupted_compiling)


def _train_locally(options: TrainOptions, progress, exit_if_interrupted_compiling: bool):
    from .data import open_csv
    from .layers import is_chain
    from .optim import optimizer
    from .training import TrainResult, compile_training, train

    source = open_csv(options.data)
    setup = (chain_setup if is_chain(options.model) else expression_setup)(options, source)
    opt = optimizer(options.optimizer, options.lr, options.momentum)
    untrained = TrainResult(params=setup.theta0, history=np.empty(0), steps=0,
                            diverged_epoch=None, interrupted=True)
    with _saving_on_interrupt(lambda: finished(options, setup, untrained), options.out,
                              exit_if_interrupted_compiling):
        kernel = setup.build()
        compile_training(kernel, setup.data, options.batch_size)
    result = train(kernel, setup.data, setup.theta0, opt, options.epochs, options.batch_size,
                   options.shuffle, options.seed, progress)
    return finished(options, setup, result)


def finished(options: TrainOptions, setup: Setup, result) -> TrainOutcome:
    """Write --out (atomically) and describe how the run ended."""
    document = params_document(options, setup, result)
    if options.out:
        write_atomically(options.out, json.dumps(document, indent=2, allow_nan=False) + "\n")
    status = "interrupted" if result.interrupted else \
        "diverged" if result.diverged_epoch is not None else "trained"
    return TrainOutcome(document=document, status=status, params=document["params"],
                        signal=result.stop_signal or signal.SIGINT)


def dask_train(options: TrainOptions, progress=None) -> TrainOutcome:
    """Full-batch training of an expression model over the files ``options.data`` names,
    on a Dask cluster (see symgrad.distributed)."""
    from .distributed import DaskData, dask_client, data_files, train_on_dask, worker_options
    from .layers import is_chain
    from .optim import optimizer

    if is_chain(options.model):
        raise SymgradError("--engine dask trains expression models; layer chains train on "
                           "one machine")
    if options.batch_size is not None or options.shuffle:
        raise SymgradError("--engine dask trains full batch (every row each step): drop "
                           "--batch-size and --shuffle")
    if options.backend != "numba":
        raise SymgradError("--engine dask runs the numba backend on its workers")
    files = data_files(options.data)
    first = worker_options(options, files[0])
    header = checked_header(first)
    model, features = training_model(first, header)
    names = [p.name for p in model.params]
    reduction = "sum" if options.loss == "sse" else options.reduction
    setup = Setup(data=None, theta0=initial_params(names, options.init, options.seed),
                  build=None, reduction=reduction, features=features,
                  described=lambda theta: {"params": {n: float(v) for n, v in zip(names, theta)}})
    opt = optimizer(options.optimizer, options.lr, options.momentum)
    with dask_client(options.scheduler, options.workers) as client:
        data = DaskData(client, files, first, header)
        result = train_on_dask(data, setup.theta0, opt, options.epochs, reduction == "mean",
                               progress)
    return finished(options, setup, result)


def expression_setup(options: TrainOptions, source) -> Setup:
    from .kernel import compile

    table, model, features = load_for_training(options, source)
    reduction = "sum" if options.loss == "sse" else options.reduction
    names = [p.name for p in model.params]
    return Setup(
        data=table.matrix([s.name for s in model.inputs]),
        theta0=initial_params(names, options.init, options.seed),
        build=lambda: compile(model, backend=options.backend, reduction=reduction),
        reduction=reduction, features=features,
        described=lambda theta: {"params": {n: float(v) for n, v in zip(names, theta)}})


def chain_setup(options: TrainOptions, source) -> Setup:
    """A layer chain: features default to every column but the target, in file order."""
    from .data import read_csv
    from .layers import check_loss, init_params, parse_chain, unflatten
    from .layers.network import ChainModel

    chain = parse_chain(options.model)
    check_loss(chain, options.loss)
    if options.loss not in ("mse", "ce") or options.reduction != "mean":
        raise SymgradError("layer chains train with --loss mse or ce and --reduction mean")
    if options.init:
        raise SymgradError("--init is for expression models; layer chains start from "
                           "PyTorch's Linear initialisation drawn from --seed")
    header = checked_header(options, source)
    features = list(options.features) if options.features is not None else \
        [c for c in header if c != options.target]
    if not features:
        raise SymgradError(f"{options.data} has no feature columns besides {options.target!r}")
    if options.loss == "mse" and chain.dense[-1].width != 1:
        raise SymgradError(f"mse needs a last layer of width 1 (one target column); "
                           f"{chain.text!r} ends with width {chain.dense[-1].width}")
    table = read_csv(source, features if options.loss == "ce" else [*features, options.target])
    targets, classes = _targets(options, table, chain, source)
    X = table.matrix(features)

    def described(theta):
        named = unflatten(chain, len(features), theta)
        extra = {"classes": classes} if classes is not None else {}
        return {"params": {k: v.tolist() for k, v in named.items()}, **extra}

    model = ChainModel(chain, features, options.loss, options.backend)
    return Setup(data=model.matrix(X, targets), theta0=init_params(chain, len(features),
                                                                   options.seed),
                 build=model.compile, reduction="mean", features=features, described=described)


def _targets(options, table, chain, source):
    """(target values, class labels or None): ce labels become indices in sorted order."""
    from .data import read_labels

    width = chain.dense[-1].width
    if options.loss != "ce":
        return table.columns[options.target], None
    labels = read_labels(source, options.target)
    if len(labels) != table.rows:
        raise SymgradError(f"{options.data}: {len(labels)} labels for {table.rows} rows")
    classes = sorted(set(labels), key=_label_order)
    if len(classes) != width:
        raise SymgradError(f"the last layer has width {width} but {options.target!r} has "
                           f"{len(classes)} classes ({', '.join(classes[:10])})")
    index = {label: k for k, label in enumerate(classes)}
    return np.array([index[label] for label in labels], dtype=np.float64), classes


def _label_order(label: str):
    """Numeric labels in numeric order, then the others as text."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


@contextmanager
def _saving_on_interrupt(save: Callable[[], object], out: str | None, exit_now: bool):
    """A stop signal inside the block: save(), then exit with 128 + the signal at once
    (exit_now) or raise Stopped."""
    from .stopping import Stopped, handled_by

    def on_stop(signum, _frame):
        save()
        stop = Stopped(signum)
        if not exit_now:
            raise stop
        saved = f"; initial parameters saved to {out}" if out else ""
        sys.stderr.write(f"symgrad: error: {stop.name} while compiling{saved}\n")
        sys.stderr.flush()
        os._exit(stop.status)

    with handled_by(on_stop):
        yield


def checked_header(options: TrainOptions, source=None) -> tuple[str, ...]:
    """The CSV header (of ``source``, an open_csv already read, else of options.data), which
    must name the target column."""
    from .data import read_header

    header = read_header(options.data if source is None else source)
    if options.target not in header:
        raise SymgradError(f"{options.data} has no target column {options.target!r} "
                           f"(columns: {', '.join(header)})")
    return header


def load_for_training(options: TrainOptions, source):
    """(table, Model, feature names): the CSV columns the model needs, and the model."""
    from .data import read_csv

    header = checked_header(options, source)
    model, features = training_model(options, header)
    table = read_csv(source, [*features, options.target])
    return table, model, features


def training_model(options: TrainOptions, header):
    """The Model: symbols naming CSV columns are inputs, the rest parameters."""
    import sympy as sp

    from .model import Model
    from .parse import parse_expr

    prediction = parse_expr(options.model)
    names = {s.name for s in prediction.free_symbols}
    if options.target in names:
        raise SymgradError(f"the model uses the target column {options.target!r}")
    features = list(options.features) if options.features is not None else \
        [c for c in header if c in names]
    for name in features:
        if name not in header:
            raise SymgradError(f"feature {name!r} is not a column of {options.data}")
    target = sp.Symbol(options.target)
    per_row = row_loss(options.loss, prediction, target)
    inputs = [sp.Symbol(n) for n in features] + [target]
    params = sorted(per_row.free_symbols - set(inputs), key=lambda s: s.name)
    return Model(loss=per_row, params=tuple(params), inputs=tuple(inputs),
                 prediction=prediction, target=target), features


def row_loss(loss: str, prediction, target):
    """The per-row loss: a name, or an expression of ``yhat`` and the target column."""
    import sympy as sp

    from .losses import LOSSES
    from .parse import parse_expr

    if loss == "sse":
        return LOSSES["mse"](prediction, target)
    if loss == "ce":
        raise SymgradError("--loss ce needs a layer-chain model (not available yet)")
    if loss in LOSSES:
        return LOSSES[loss](prediction, target)
    expression = parse_expr(loss)
    if sp.Symbol("yhat") not in expression.free_symbols:
        raise SymgradError(f"the loss expression {loss!r} does not use yhat (the model's output)")
    return expression.xreplace({sp.Symbol("yhat"): prediction})


def initial_params(names: list[str], init: str | None, seed: int) -> np.ndarray:
    """--init values where given, else INIT_SCALE * N(0, 1) from default_rng(seed)."""
    theta = INIT_SCALE * np.random.default_rng(seed).standard_normal(len(names))
    for name, value in parse_assignments(init or "").items():
        if name not in names:
            raise SymgradError(f"--init names {name!r}, which is not a parameter "
                               f"(parameters: {', '.join(names)})")
        theta[names.index(name)] = value
    return theta


def parse_assignments(text: str) -> dict[str, float]:
    """'w=1,b=-0.5' -> {'w': 1.0, 'b': -0.5}."""
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not name.strip() or number is None or not np.isfinite(number):
            raise SymgradError(f"--init expects name=number pairs, got {item!r}")
        values[name.strip()] = number
    return values


def params_document(options, setup: Setup, result) -> dict:
    """The self-contained PARAMS.json: everything predict needs, and the run's record."""
    history, epochs = result.history, result.epoch_numbers
    keep = np.unique(np.linspace(0, len(history) - 1, min(len(history), HISTORY_POINTS))
                     .round().astype(int)) if len(history) else []
    return {
        "symgrad_version": __version__,
        "model": options.model,
        "loss": options.loss,
        "reduction": setup.reduction,
        "target": options.target,
        "features": list(setup.features),
        **setup.described(result.params),
        "optimizer": {"name": options.optimizer, "lr": options.lr, "momentum": options.momentum},
        "batch_size": options.batch_size or "full",
        "shuffle": options.shuffle,
        "seed": options.seed,
        "backend": options.backend,
        "engine": options.engine,
        "epochs": result.epochs,
        "epochs_requested": options.epochs,
        "steps": result.steps,
        "final_loss": float(history[-1]) if len(history) else None,
        "history": [[int(epochs[k]), float(history[k])] for k in keep],
        "diverged": result.diverged_epoch is not None,
        "diverged_epoch": None if result.diverged_epoch is None else result.diverged_epoch + 1,
        "interrupted": result.interrupted,
    }


def predict_file(params_path: str, data_path: str) -> str:
    """CSV text: the feature columns and a last column ``prediction``, one line per row
    (numbers as repr, so float64 round-trips; names and labels quoted where CSV needs it)."""
    from .data import csv_text, read_csv
    from .layers import is_chain

    document = read_params(params_path)
    features = document["features"]
    table = read_csv(data_path, features)
    predictions = (_chain_predictions if is_chain(document["model"]) else
                   _expression_predictions)(document, table)
    columns = [map(repr, table.columns[n].tolist()) for n in features]
    return csv_text([*features, "prediction"], zip(*columns, predictions))


def _expression_predictions(document, table) -> list:
    from .kernel import compile
    from .model import Model

    names, features = list(document["params"]), document["features"]
    model = Model.supervised(document["model"], target=document["target"], loss="mse",
                             params=names, inputs=features)
    theta = np.array([document["params"][n] for n in names], dtype=np.float64)
    # no feature: the (unread) target column tells the kernel how many rows to predict
    data = {n: table.columns[n] for n in features} or \
        {document["target"]: np.zeros(table.rows)}
    values = compile(model).predict(theta, data)
    return [repr(float(v)) for v in values]


def _chain_predictions(document, table) -> list:
    """Values for mse; for ce the class label (as it appeared in training) of the top logit."""
    from .layers import flatten, parse_chain
    from .layers.network import ChainModel

    chain, features = parse_chain(document["model"]), document["features"]
    theta = flatten(chain, len(features), document["params"])
    model = ChainModel(chain, features, document.get("loss", "mse"))
    outputs = model.outputs(theta, table.matrix(features))
    if document.get("loss") == "ce":
        classes = document["classes"]  # one per output: read_params checked
        return [classes[k] for k in np.argmax(outputs.reshape(table.rows, -1), axis=1)]
    return [repr(float(v)) for v in outputs]


def read_params(path: str) -> dict:
    """A PARAMS.json written by train, checked enough to predict from: every key predict reads
    has the type it needs (SymgradError naming the first that has not)."""
    not_params = f"{path} is not a PARAMS.json written by symgrad train"
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
    from .layers import is_chain

    for key in ("model", "target", *(["loss"] if "loss" in document else [])):
        _require(path, key, document[key], _is_string, "a string")
    _require_strings(path, "features", document["features"], _is_string, "a string")
    _require(path, "params", document["params"], lambda v: isinstance(v, dict), "an object")
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
    from .layers import parse_chain

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
