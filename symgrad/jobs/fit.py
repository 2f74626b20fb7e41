"""The fit job: ``fit_file`` reads the CSV file(s), fits with symgrad.fit on one machine or
on a Dask cluster, and writes ``--out``.

As with train: once the data is loaded, a Ctrl-C (compilation included), SIGTERM or SIGHUP
still writes ``--out`` (atomically) with the best parameters so far, ``"converged": false``.
The document holds what predict reads, so ``symgrad predict`` works on it unchanged, and the
fit's record: method, iterations, convergence, standard errors and covariance (null where
undefined or beyond float64), and for least squares RSS and degrees of freedom.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .. import __version__
from ..errors import SymgradError, warn
from .evaluation import measured, metrics_summary, validation_split
from .options import FitOptions, FitOutcome
from .params_file import evaluation_record, kernel_key, save_params
from .setups import (checked_header, compiling, compiling_predict, expression_setup,
                     input_files, scalar_setup)

SEPARABLE = 1e-12  # bce per row below this, without l2: the classes are separated


def fit_file(options: FitOptions, report=None,
             exit_if_interrupted_compiling: bool = False) -> FitOutcome:
    """Fit the model to the CSV file(s); write --out; SymgradError for bad input. ``report``
    is called with solvers.Progress after each step taken."""
    from ..stopping import stop_signals_raise

    _check_options(options)
    files = input_files(options)
    steps = {}  # each start's [iteration, loss] pairs

    def recording(progress):
        if not progress.sampled:  # (a start compared on a sample: another data set's loss)
            steps.setdefault(progress.start, []).append([progress.iterations,
                                                         float(progress.loss)])
        if report is not None:
            report(progress)
    with stop_signals_raise():
        if options.engine == "dask":
            outcome, fitted = _fit_on_dask(options, files, recording), None
        else:
            outcome, fitted = _fit_locally(options, recording, exit_if_interrupted_compiling,
                                           announce=report is not None)
        if options.plot:
            from .plots import plot_fit, plotted
            kept = steps.get(outcome.fit.start, [])  # the kept start's steps
            signum = plotted(lambda: plot_fit(options.plot, kept, fitted), options.plot)
            if signum is not None:
                outcome = replace(outcome, fit=replace(outcome.fit, interrupted=True,
                                                       stop_signal=signum))
    return outcome


def _check_options(options: FitOptions) -> None:
    from ..fitting import METHODS
    from ..layers import is_chain

    if is_chain(options.model):
        raise SymgradError("fit takes expression models; layer chains (dense(...)) train with "
                           "symgrad train")
    if options.loss == "ce":
        raise SymgradError("--loss ce needs one logit per class, which only layer chains "
                           "give (symgrad train); fit a two-class model with bce")
    if options.method not in METHODS:
        raise SymgradError(f"unknown method {options.method!r} (choose from "
                           f"{', '.join(METHODS)})")
    if options.loss == "mae" and options.method == "newton":
        warn("mae is not smooth where a residual is 0: Newton's method may stall there; "
             "lbfgs (the method auto picks for it) suits it better")


def _fit_locally(options: FitOptions, report, exit_if_interrupted_compiling: bool,
                 announce: bool):
    from ..data import open_csv
    from ..fitting import KernelObjective, fit_objective, warmed_up

    source = open_csv(options.data, options.delimiter)
    setup = expression_setup(options, source)
    split = validation_split(options, setup, source)
    data = split.train.data
    with compiling(lambda: _finished(options, setup, _unstarted(setup)), options.out,
                   exit_if_interrupted_compiling, announce):
        kernel = setup.build()
        objective = warmed_up(KernelObjective(kernel, data, split.train.line), kernel.params,
                              setup.theta0, options.method)
    with compiling_predict(kernel, data, setup.theta0):  # joined after --out is saved
        result = fit_objective(objective, kernel.params, setup.theta0,
                               **_settings(options, kernel.params), report=report)
        if options.loss == "bce" and result.loss < SEPARABLE * result.rows and not options.l2:
            warn("the loss is ~0: the classes are separable and the coefficients grow "
                 "without bound; add --l2 (e.g. --l2 1) for a finite answer")
        metrics, result = measured(kernel, setup, split, result, options.loss)
        _warn_if_little_explained(metrics, result)
        outcome = _finished(options, setup, result, evaluation_record(split, metrics))
    return outcome, _fitted(options, kernel, setup, split, result)


LITTLE = 0.1  # an R^2 below this on the training rows: the fit explains little of the data


def _warn_if_little_explained(metrics, result) -> None:
    """A hint where a converged fit explains little of the data (R^2 below LITTLE): the
    starts may all have missed the model's minimum (a narrow peak far from every start)."""
    r2 = ((metrics or {}).get("train") or {}).get("r2")
    if result.converged and r2 is not None and abs(r2) > 1e-9 and r2 < LITTLE:  # (a
        # constant model's R^2 is 0 by definition)
        warn(f"R^2 is {r2:.3g}: the fit explains little of the data; if the model should fit "
             f"it well and has more than one minimum (a peak, a frequency), the starts may "
             f"have missed the best: give --init near the answer or more --starts")


def _fitted(options, kernel, setup, split, result):
    """plot_fit's data and curve, for --plot on a model of one input column."""
    from .plots import fitted_curve

    if not options.plot or len(setup.features) != 1 or result.interrupted:
        return None
    return fitted_curve(kernel, result.params, split.train, split.validation,
                        [setup.features[0], options.target])


def _fit_on_dask(options: FitOptions, files, report):
    from ..distributed import DaskData, DaskObjective, dask_client
    from ..fitting import fit_objective
    from ..recipe import recipe_kernel

    if options.backend != "numba":
        raise SymgradError("--engine dask runs the numba backend on its workers")
    if options.validation is not None:
        raise SymgradError("--validation runs on one machine (--engine local)")
    recipe = replace(options.recipe, data=files[0])  # every worker builds the same kernel
    header = checked_header(files[0], options.target)
    kernel = recipe_kernel(recipe, header)  # on the driver too: what the sums hold
    setup = scalar_setup(options, kernel, header)
    with dask_client(options.scheduler, options.workers) as client:
        data = DaskData(client, files, recipe, header)
        objective = DaskObjective(data, len(kernel.params), kernel.least_squares,
                                  kernel.has_hessian, kernel.residuals_per_row, kernel.kinked)
        result = fit_objective(objective, kernel.params, setup.theta0,
                               **_settings(options, kernel.params), report=report)
    return _finished(options, setup, result)


def _settings(options: FitOptions, names) -> dict:
    """fit_objective's settings: every parameter --init does not give moves between starts
    (symgrad.starts); one start when --init gives them all, unless --starts says."""
    from ..starts import DEFAULT_STARTS
    from .initial import parse_assignments

    given = parse_assignments(options.init or "")
    free = [name not in given for name in names]
    if (options.starts or 1) > 1 and not any(free):
        warn("--starts moves the parameters --init does not give; it gives them all, so the "
             "fit runs from one start")
    count = options.starts or (DEFAULT_STARTS if any(free) else 1)
    return {"method": options.method, "l2": options.l2, "l2_exclude": options.l2_exclude,
            "tol": options.tol, "max_iter": options.max_iter, "starts": count, "free": free,
            "seed": options.seed}


def _unstarted(setup):
    """The Fit of a run stopped before its first pass: the start, nothing known."""
    from ..fitting import Fit

    size = len(setup.theta0)
    return Fit(params=setup.theta0, names=tuple(setup.described(setup.theta0)["params"]),
               method="none", loss=math.nan, iterations=0, converged=False,
               reason="interrupted while compiling", stderr=np.full(size, np.inf),
               covariance=None, rows=0, interrupted=True)


def _finished(options: FitOptions, setup, result, evaluation: dict | None = None) -> FitOutcome:
    """Write --out (atomically) and describe how the fit ended. ``evaluation``: PARAMS.json's
    "validation" and "metrics" (params_file.evaluation_record)."""
    evaluation = evaluation or {}
    document = {**fit_document(options, setup, result), **evaluation}
    if options.out:
        save_params(options.out, document)
    state = f"converged ({result.reason})" if result.converged else \
        f"stopped: {result.reason}" if not result.interrupted else result.reason \
        if result.reason.startswith("interrupted") else "interrupted"
    summary = (f"{result.method}: {result.iterations} iteration{'s' * (result.iterations != 1)}, "
               f"{state}; loss "
               f"{float(result.loss):.10g} (summed over {result.rows} "
               f"row{'s' * (result.rows != 1)})")
    if result.starts > 1 or result.skipped:
        skipped = f"; {result.skipped} more not finite where they began" \
            if result.skipped else ""
        summary += (f"; the best of {result.starts} start{'s' * (result.starts != 1)} "
                    f"({result.reached} reached it{skipped})")
    if evaluation.get("metrics"):
        summary += f"; {metrics_summary(evaluation['metrics'])}"
    return FitOutcome(document=document, fit=result, summary=summary)


def fit_document(options: FitOptions, setup, result) -> dict:
    """The PARAMS.json of a fit: what predict reads (as train writes it), then the fit's
    record. Non-finite numbers (an undefined standard error) are null."""
    names = list(result.names)
    document = {
        "symgrad_version": __version__,
        "model": options.model,
        "loss": options.loss,
        "reduction": "sum",
        "target": options.target,
        "features": list(setup.features),
        **setup.described(result.params),
        **setup.labelled,
        **kernel_key(options, setup),
        "backend": options.backend,
        "engine": options.engine,
        "seed": options.seed,
        "final_loss": _number(result.loss),
        "interrupted": result.interrupted,
        "method": result.method,
        "iterations": result.iterations,
        "converged": result.converged,
        "reason": result.reason,
        "l2": options.l2,
        "l2_exclude": list(options.l2_exclude),
        "stderr": {n: _number(v) for n, v in zip(names, result.stderr)},
        "covariance": None if result.covariance is None else
        [[_number(v) for v in row] for row in result.covariance],
        "rows": result.rows,
        "starts": {"run": result.starts, "kept": result.start + 1, "reached": result.reached,
                   "not_finite": result.skipped},
    }
    if result.rss is not None:
        document.update(rss=_number(result.rss), dof=result.dof)
    return document


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
