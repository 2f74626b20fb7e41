"""The train job: ``train_file`` reads the CSV file(s), trains on one machine or on a Dask
cluster, and writes ``--out``.

Each path is a short pipeline (setup, compile under the Ctrl-C guard, train, write) that ends
in ``finished``. The promise is "nothing lost": once the data is loaded, a Ctrl-C (compilation
included), SIGTERM, SIGHUP or a divergence still writes ``--out`` (atomically, never NaN) with
the last finite parameters.
"""
from __future__ import annotations

import signal
from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import SymgradError
from ..recipe import recipe_kernel
from .evaluation import Split, measured, metrics_summary, validation_split
from .options import TrainOptions, TrainOutcome
from .params_file import params_document, save_params
from .setups import (Setup, chain_setup, checked_header, compiling, compiling_predict,
                     expression_setup, input_files, scalar_setup)


def train_file(options: TrainOptions, progress: Callable[[int, float], None] | None = None,
               exit_if_interrupted_compiling: bool = False) -> TrainOutcome:
    """Train the model on the CSV file; write --out; SymgradError for bad input.

    Ctrl-C, SIGTERM or SIGHUP while training stops it and saves the current parameters
    (``stopping.Stopped`` says which signal). The same while compiling (Numba's compiler does
    not survive an exception thrown into it) saves the initial parameters; with
    ``exit_if_interrupted_compiling`` (the CLI) the process then ends at once with status
    128 + the signal, otherwise the Stopped propagates after the save.
    """
    from ..stopping import stop_signals_raise

    input_files(options)
    if options.early_stopping is not None and options.validation is None:
        raise SymgradError("--early-stopping needs --validation (a fraction or a file): it "
                           "stops when the validation loss stops improving")
    with stop_signals_raise():
        if options.engine == "dask":
            outcome = dask_train(options, progress)
        else:
            outcome = _train_locally(options, progress, exit_if_interrupted_compiling)
        if options.plot:
            from .plots import plot_training, plotted
            signum = plotted(lambda: plot_training(options.plot, outcome.document["history"]),
                             options.plot)
            if signum is not None:
                outcome = replace(outcome, status="interrupted", signal=signum)
    return outcome


def _train_locally(options: TrainOptions, progress, exit_if_interrupted_compiling: bool):
    from ..data import open_csv
    from ..layers import is_chain
    from ..optim import optimizer
    from ..training import TrainResult, compile_training, train

    source = open_csv(options.data, options.delimiter)
    setup = (chain_setup if is_chain(options.model) else expression_setup)(options, source)
    split = validation_split(options, setup, source)
    held = split.validation
    opt = optimizer(options.optimizer, options.lr, options.momentum, options.weight_decay)
    untrained = TrainResult(params=setup.theta0, history=np.empty(0), steps=0,
                            diverged_epoch=None, interrupted=True)
    with compiling(lambda: finished(options, setup, untrained, split), options.out,
                   exit_if_interrupted_compiling, announce=progress is not None):
        kernel = setup.build()
        compile_training(kernel, split.train.data, options.batch_size, opt, held is not None)
    with compiling_predict(kernel, split.train.data, setup.theta0):  # joined after --out
        result = train(kernel, split.train.data, setup.theta0, opt, options.epochs,
                       options.batch_size, options.shuffle, options.seed, progress,
                       validation=None if held is None else held.data,
                       patience=options.early_stopping)
        metrics, result = measured(kernel, setup, split, result, options.loss)
        return finished(options, setup, result, split, metrics)


def dask_train(options: TrainOptions, progress=None) -> TrainOutcome:
    """Full-batch training of an expression model over the files ``options.data`` names,
    on a Dask cluster (see symgrad.distributed). The workers receive the model's recipe."""
    from ..distributed import DaskData, dask_client, data_files, train_on_dask
    from ..optim import optimizer

    _check_dask_options(options)
    files = data_files(options.data)
    recipe = replace(options.recipe, data=files[0])  # every worker builds the same kernel
    header = checked_header(files[0], options.target)
    setup = scalar_setup(options, recipe_kernel(recipe, header), header)
    opt = optimizer(options.optimizer, options.lr, options.momentum, options.weight_decay)
    with dask_client(options.scheduler, options.workers) as client:
        data = DaskData(client, files, recipe, header)
        result = train_on_dask(data, setup.theta0, opt, options.epochs,
                               setup.reduction == "mean", progress)
    return finished(options, setup, result)


def _check_dask_options(options: TrainOptions) -> None:
    """What the Dask engine trains: expression models, full batch, on the numba backend."""
    from ..layers import is_chain

    if is_chain(options.model):
        raise SymgradError("--engine dask trains expression models; layer chains train on "
                           "one machine")
    if options.batch_size is not None or options.shuffle:
        raise SymgradError("--engine dask trains full batch (every row each step): drop "
                           "--batch-size and --shuffle")
    if options.backend != "numba":
        raise SymgradError("--engine dask runs the numba backend on its workers")
    if options.dtype != "float64":
        raise SymgradError("--engine dask computes in float64: drop --dtype")
    if options.validation is not None:
        raise SymgradError("--validation runs on one machine (--engine local)")


def finished(options: TrainOptions, setup: Setup, result, split: Split | None = None,
             metrics: dict | None = None) -> TrainOutcome:
    """Write --out (atomically) and describe how the run ended."""
    document = params_document(options, setup, result, split, metrics)
    if options.out:
        save_params(options.out, document)
    status = "interrupted" if result.interrupted else \
        "diverged" if result.diverged_epoch is not None else "trained"
    return TrainOutcome(document=document, status=status, params=document["params"],
                        signal=result.stop_signal or signal.SIGINT,
                        summary=_summary(document, result, metrics))


def _summary(document: dict, result, metrics: dict | None) -> str:
    """'trained 100 epochs, final loss 0.01; train loss ..., validation loss ...' and, when
    early stopping ended the run, the epoch whose parameters were kept."""
    epochs = document["epochs"]
    line = f"trained {epochs} epoch{'s' * (epochs != 1)}, final loss {document['final_loss']!r}"
    if document.get("reduction") == "sum":  # (the metrics' train loss is a mean over rows)
        line += " (summed over the rows)"
    if result.best_epoch is not None and "early_stopping" in document:
        stopped = "stopped early" if result.stopped_early else "no early stop"
        line += f" ({stopped}: kept epoch {result.best_epoch}, the best validation loss)"
    return line + (f"; {metrics_summary(metrics)}" if metrics else "")
