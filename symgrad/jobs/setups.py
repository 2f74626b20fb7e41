"""What a training run needs, built from the options and the CSV file: ``Setup``.

One builder per kind of model: ``expression_setup`` (a SymPy expression, compiled by the
ordinary pipeline, keyed by its recipe) and ``chain_setup`` (a layer chain); ``scalar_setup``
is what an expression model's run needs besides its data, shared with the Dask engine.
``chain_rows`` and ``expression_rows`` read another labelled file the same way (a validation
file, ``symgrad score``), with the training file's classes.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import SymgradError, warn
from ..recipe import recipe_kernel
from .initial import initial_params
from .labels import check_class_count, is_number, read_targets


@dataclass(frozen=True)
class Setup:
    """What training needs, built from the options and the CSV file."""
    data: np.ndarray | None                 # the matrix the kernel trains on (None: dask)
    theta0: np.ndarray
    build: Callable[[], object] | None      # compiles the kernel (under the Ctrl-C guard)
    reduction: str
    features: list[str]
    described: Callable[[np.ndarray], dict]  # theta -> {"params": ..., and extra fields}
    header: tuple[str, ...] = ()            # the CSV's columns (an expression model's key)
    targets: np.ndarray | None = None       # per row of data: a value, 0/1 or a class index
    classes: list[str] | None = None        # the labels the class indices stand for
    read_rows: Callable | None = None       # another CSV source -> (its data, its targets)
    outputs: Callable | None = None         # (kernel, theta, data) -> the model's outputs

    @property
    def labelled(self) -> dict:
        """PARAMS.json's "classes", where the targets are class labels."""
        return {} if self.classes is None else {"classes": list(self.classes)}


def input_files(options) -> list[str]:
    """The CSV files a run reads (--engine dask: every file the pattern names), none of
    which --out may overwrite."""
    from ..files import refuse_overwriting

    files = [options.data]
    if options.engine == "dask":
        from ..distributed import data_files
        files = data_files(options.data)
    inputs = [("data file", path) for path in files]
    if options.validation is not None and not is_number(options.validation):
        inputs.append(("validation file", options.validation))
    refuse_overwriting(options.out, inputs)
    refuse_overwriting(options.plot, inputs + [("--out file", options.out or "")], "--plot")
    if options.plot and options.out and \
            os.path.realpath(options.plot) == os.path.realpath(options.out):
        raise SymgradError(f"--plot and --out are the same file ({options.out})")
    return files


def checked_header(source, target: str) -> tuple[str, ...]:
    """The CSV header of ``source`` (a path, or an open_csv already read), which must name the
    target column."""
    from ..data import first_line_of, no_column, read_header

    header = read_header(source)
    if target not in header:
        source = first_line_of(source) if isinstance(source, str) else source
        raise SymgradError(no_column(source, header, target, "target column"))
    return header


def expression_setup(options, source) -> Setup:
    """An expression model: its kernel from the recipe and the CSV header (a cache hit
    builds no model), then the CSV columns it reads."""
    header = checked_header(source, options.target)
    kernel = recipe_kernel(options.recipe, header)
    features = list(kernel.inputs[:-1])
    if not features and kernel.params:  # no parameters either: scalar_setup refuses it
        warn(f"the model reads no column of {options.data} besides the target: it fits a "
             f"constant")
    data, targets, classes = expression_rows(source, features, options.target, options.loss,
                                             dtype=kernel.dtype.name)
    _warn_of_scale(targets, options.target, options.loss)
    return scalar_setup(options, kernel, header, data=data, targets=targets, classes=classes,
                        read_rows=lambda other: expression_rows(
                            other, features, options.target, options.loss, classes,
                            kernel.dtype.name)[:2])


SQUARES_IN_RANGE = (1e-150, 1e150)  # float64's squares of values beyond these under/overflow


def _warn_of_scale(targets: np.ndarray, name: str, loss: str) -> None:
    """A warning when the target's magnitude makes a squared error underflow to 0 or
    overflow: the losses printed are then 0 or inf, and the loss stops telling parameters
    apart where nothing rescales it (training; a fit by newton or on Dask: "converged" at
    its start). lm and lbfgs on one machine fit in rescaled units, right."""
    scale = float(np.max(np.abs(targets), initial=0.0))
    low, high = SQUARES_IN_RANGE
    if loss == "mse" and (0.0 < scale < low or scale > high):
        warn(f"the target {name!r} reaches {scale:.3g}: squared errors of that size "
             f"{'underflow to 0' if scale < low else 'overflow'} in float64, so the losses "
             f"printed are {0 if scale < low else 'inf'}, and training, or a fit by --method "
             f"newton or on --engine dask, can go wrong; rescale it (divide it by "
             f"{scale:.0e}, say)")


def expression_rows(source, features, target: str, loss: str, classes=None, dtype="float64"):
    """(the kernel's data: features then the target, the targets, the class labels or None)
    of a CSV source; a value beyond the range of the kernel's dtype is refused by line."""
    from ..data import read_csv

    if loss not in ("bce", "ce"):
        table = read_csv(source, [*features, target], dtype)
        return table.matrix([*features, target]), table.columns[target], None
    table = read_csv(source, features, dtype)
    targets, classes = read_targets(source, target, loss, table.rows, classes)
    data = np.empty((table.rows, len(features) + 1), order="F")
    data[:, :-1], data[:, -1] = table.matrix(features), targets
    return data, targets, classes


def scalar_setup(options, kernel, header, data=None, **rows) -> Setup:
    """An expression model's Setup: scalar parameters (the kernel's), started from --init
    and --seed; its features are the kernel's inputs but the last (the target). ``rows``:
    the targets, classes and read_rows of the data (none on the Dask engine)."""
    names = list(kernel.params)
    if not names:
        raise SymgradError(f"the model has no parameters: every name in it is a column of "
                           f"{options.data}" if kernel.inputs[:-1] else
                           "the model has no parameters: it is a constant")
    return Setup(data=data, theta0=initial_params(names, options.init, options.seed,
                                                  getattr(kernel, "dtype", "float64")),
                 build=lambda: kernel, reduction=options.recipe.kernel_reduction,
                 features=list(kernel.inputs[:-1]), header=tuple(header),
                 described=lambda theta: {"params": {n: float(v) for n, v in zip(names, theta)}},
                 outputs=lambda built, theta, matrix: built.predict(theta, matrix), **rows)


def chain_setup(options, source) -> Setup:
    """A layer chain: features default to every column but the target, in file order."""
    from dataclasses import replace

    from ..layers import init_params, parse_chain

    chain = parse_chain(options.model)
    _check_chain_options(options, chain)
    features = _chain_features(options, checked_header(source, options.target))
    if options.loss == "mse" and chain.dense[-1].width != 1:
        raise SymgradError(f"mse needs a last layer of width 1 (one target column); "
                           f"{chain.text!r} ends with width {chain.dense[-1].width}")
    data, targets, classes = _chain_reader(options, chain, features)(source)
    return replace(chain_rows(options, chain, features, classes), data=data, targets=targets,
                   theta0=init_params(chain, len(features), options.seed))


def chain_rows(options, chain, features, classes=None) -> Setup:
    """A layer chain's Setup without data: how it reads a labelled file (with ``classes``,
    those of its training file), compiles and predicts."""
    from ..layers import unflatten
    from ..layers.chain_model import ChainModel

    model = ChainModel(chain, features, options.loss, options.backend,
                       getattr(options, "dtype", "float64"))
    read = _chain_reader(options, chain, features, model)

    def described(theta):
        named = unflatten(chain, len(features), theta)
        return {"params": {k: v.tolist() for k, v in named.items()}}
    return Setup(data=None, theta0=np.empty(0), build=model.compile, reduction="mean",
                 features=list(features), described=described, classes=classes,
                 read_rows=lambda other: read(other, classes)[:2],
                 outputs=lambda _kernel, theta, data: model.outputs(
                     theta, data[:, :len(features)]))


def _chain_reader(options, chain, features, model=None):
    """other, classes=None -> (the chain's data matrix, targets, class labels) of a file."""
    from ..data import read_csv
    from ..layers.chain_model import ChainModel

    model = model or ChainModel(chain, features, options.loss, options.backend,
                                getattr(options, "dtype", "float64"))

    def read(other, classes=None):
        table = read_csv(other, features)
        targets, classes = read_targets(other, options.target, options.loss, table.rows, classes)
        if options.loss == "ce":
            check_class_count(classes, model.width, options.target)
        return model.matrix(table.matrix(features), targets), targets, classes
    return read


def _check_chain_options(options, chain) -> None:
    """The loss, reduction and start a layer chain trains with."""
    from ..layers import check_loss

    check_loss(chain, options.loss)
    if options.loss not in ("mse", "ce", "bce") or options.reduction != "mean":
        raise SymgradError("layer chains train with --loss mse, bce or ce and --reduction mean")
    if options.init:
        raise SymgradError("--init is for expression models; layer chains start from "
                           "PyTorch's Linear initialisation drawn from --seed")


def _chain_features(options, header) -> list[str]:
    """--features, else every column but the target (at least one)."""
    features = list(options.features) if options.features is not None else \
        [c for c in header if c != options.target]
    if not features:
        raise SymgradError(f"{options.data} has no feature columns besides {options.target!r}")
    if options.target in features:
        raise SymgradError(f"{options.data}: column {options.target!r} is asked for twice "
                           f"(the target as a feature)")
    return features


COMPILE_NOTICE_AFTER = 2.0  # seconds of compiling before a run with progress says so


@contextmanager
def compiling(save: Callable[[], object], out: str | None, exit_if_interrupted: bool,
              announce: bool):
    """The block compiles the kernel. A stop signal in it saves the initial parameters
    (``save``) and, for the CLI (``exit_if_interrupted``), ends the process at once (Numba's
    compiler does not survive an exception thrown into it). With ``announce``, a line on
    stderr once compiling has lasted COMPILE_NOTICE_AFTER seconds: a large model's silence
    is explained, and the user knows Ctrl-C loses nothing."""
    from ..stopping import saving_on_stop

    saved = f"; initial parameters saved to {out}" if out else ""
    notice = threading.Timer(COMPILE_NOTICE_AFTER, _say_compiling, (bool(out),))
    notice.daemon = True
    with saving_on_stop(save, f"while compiling{saved}" if exit_if_interrupted else None):
        if announce:
            notice.start()
        try:
            yield
        finally:
            notice.cancel()


def _say_compiling(saving: bool) -> None:
    stop = "Ctrl-C stops and saves the initial parameters" if saving else "Ctrl-C stops"
    sys.stderr.write(f"symgrad: compiling the model's kernels; a large model takes a while "
                     f"({stop})\n")
    sys.stderr.flush()


@contextmanager
def compiling_predict(kernel, data, theta):
    """While the body runs (training, fitting: compiled code that releases the GIL), compile
    the kernel's ``predict`` in a background thread, so that ``symgrad predict`` on the saved
    parameters finds it in the kernel cache and compiles nothing. Joined when the body ends:
    the jobs save --out inside it, so a stop signal during the join loses nothing: it ends
    the wait (the run ends as it would have; predict compiles its kernel when it runs). A
    failure of the compile is left for predict itself to report."""
    from ..runtime.kernel import Kernel

    if not (isinstance(kernel, Kernel) and kernel.capabilities.compiles_in_background
            and kernel.has_prediction and data is not None):
        yield
        return

    def compile_predict():
        try:
            kernel.predict(theta, data[:1])
        except Exception:  # noqa: BLE001 - predict reports it when it runs
            pass
    thread = threading.Thread(target=compile_predict, name="symgrad-predict-compile",
                              daemon=True)  # a stop signal need not wait for it
    thread.start()
    try:
        yield
    finally:
        _joined(thread)


def _joined(thread: threading.Thread) -> None:
    """Wait for the thread; a stop signal meanwhile (Stopped, a KeyboardInterrupt) says what
    it cost and ends the wait instead of the run, whose --out is saved by then."""
    try:
        thread.join()
    except KeyboardInterrupt:
        warn("stopped while caching the kernel predict uses, after the run was saved: "
             "predict will compile it")
