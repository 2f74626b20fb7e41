"""What a training run needs, built from the options and the CSV file: ``Setup``.

One builder per kind of model: ``expression_setup`` (a SymPy expression, compiled by the
ordinary pipeline, keyed by its recipe) and ``chain_setup`` (a layer chain); ``scalar_setup`` is what an
expression model's run needs besides its data, shared with the Dask engine.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import SymgradError, warn
from ..recipe import recipe_kernel
from .initial import initial_params
from .labels import encoded_labels


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


def input_files(options) -> list[str]:
    """The CSV files a run reads (--engine dask: every file the pattern names), none of
    which --out may overwrite."""
    from ..files import refuse_overwriting

    files = [options.data]
    if options.engine == "dask":
        from ..distributed import data_files
        files = data_files(options.data)
    refuse_overwriting(options.out, [("data file", path) for path in files])
    return files


def checked_header(source, target: str) -> tuple[str, ...]:
    """The CSV header of ``source`` (a path, or an open_csv already read), which must name the
    target column."""
    from ..data import read_header

    header = read_header(source)
    if target not in header:
        name = source if isinstance(source, str) else source.name
        raise SymgradError(f"{name} has no target column {target!r} "
                           f"(columns: {', '.join(header)})")
    return header


def expression_setup(options, source) -> Setup:
    """An expression model: its kernel from the recipe and the CSV header (a cache hit
    builds no model), then the CSV columns it reads."""
    from ..data import read_csv

    header = checked_header(source, options.target)
    kernel = recipe_kernel(options.recipe, header)
    features = list(kernel.inputs[:-1])
    if not features:
        warn(f"the model reads no column of {options.data} besides the target: it fits a "
             f"constant")
    table = read_csv(source, [*features, options.target])
    return scalar_setup(options, kernel, header, data=table.matrix(list(kernel.inputs)))


def scalar_setup(options, kernel, header, data=None) -> Setup:
    """An expression model's Setup: scalar parameters (the kernel's), started from --init
    and --seed; its features are the kernel's inputs but the last (the target)."""
    names = list(kernel.params)
    return Setup(data=data, theta0=initial_params(names, options.init, options.seed),
                 build=lambda: kernel, reduction=options.recipe.kernel_reduction,
                 features=list(kernel.inputs[:-1]), header=tuple(header),
                 described=lambda theta: {"params": {n: float(v) for n, v in zip(names, theta)}})


def chain_setup(options, source) -> Setup:
    """A layer chain: features default to every column but the target, in file order."""
    from ..data import read_csv
    from ..layers import init_params, parse_chain, unflatten
    from ..layers.chain_model import ChainModel

    chain = parse_chain(options.model)
    _check_chain_options(options, chain)
    features = _chain_features(options, checked_header(source, options.target))
    if options.loss == "mse" and chain.dense[-1].width != 1:
        raise SymgradError(f"mse needs a last layer of width 1 (one target column); "
                           f"{chain.text!r} ends with width {chain.dense[-1].width}")
    table = read_csv(source, features if options.loss == "ce" else [*features, options.target])
    targets, classes = _chain_targets(options, table, chain.dense[-1].width, source)
    extra = {"classes": classes} if classes is not None else {}

    def described(theta):
        named = unflatten(chain, len(features), theta)
        return {"params": {k: v.tolist() for k, v in named.items()}, **extra}

    model = ChainModel(chain, features, options.loss, options.backend)
    return Setup(data=model.matrix(table.matrix(features), targets),
                 theta0=init_params(chain, len(features), options.seed),
                 build=model.compile, reduction="mean", features=features, described=described)


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
    return features


def _chain_targets(options, table, width: int, source):
    """(target values, class labels or None): ce labels become indices in sorted order."""
    if options.loss != "ce":
        return table.columns[options.target], None
    return encoded_labels(source, options.target, table.rows, width)


@contextmanager
def compiling_predict(kernel, data, theta):
    """While the body runs (training, fitting: compiled code that releases the GIL), compile
    the kernel's ``predict`` in a background thread, so that ``symgrad predict`` on the saved
    parameters finds it in the kernel cache and compiles nothing. Joined when the body ends:
    the jobs save --out inside it, so a Ctrl-C during the join loses nothing. A failure of
    the compile is left for predict itself to report."""
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
    thread = threading.Thread(target=compile_predict, name="symgrad-predict-compile")
    thread.start()
    try:
        yield
    finally:
        thread.join()
