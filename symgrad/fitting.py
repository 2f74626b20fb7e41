"""``symgrad.fit``: exact second-order fitting of a model to data, with uncertainties.

    loss, params, inputs -> compile(order=2, reduction="sum") -> KernelObjective(kernel, data)
                         -> method (auto: lm | newton | lbfgs) -> solvers -> Fit

``fit`` is the in-process job; ``fit_objective`` runs the same methods on any
``solvers.Objective`` (the Dask engine's sums over a cluster, symgrad.distributed). Least
squares that hold J (``factored``) run lm and lbfgs in units where r and J are near 1 when
their squares would leave float64's range (lbfgs always: symgrad.scaling).
The objective is the summed row loss plus ``l2/2 * ||theta||^2`` (the parameters named in
``l2_exclude`` not penalized): ``l2 = 1/C`` with a bce loss is scikit-learn's
``LogisticRegression(C)``.

Uncertainties, at the optimum:
- least squares (the row loss a sum of squares): cov = s^2 (J^T J + l2/2 P)^-1 with
  s^2 = RSS / (rows - parameters), as NIST's certified values and ``curve_fit`` define them;
- any other loss (a negative log-likelihood: bce): the inverse of the Hessian of the summed
  loss (+ l2 P).
A singular or near-singular matrix gives infinite standard errors and a warning, never a crash.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import saddles, scaling, solvers, stalls, uncertainty
from . import starts as starts_
from .errors import SymgradError, listed
from .gram import Gram
from .lbfgs import lbfgs
from .objectives import KernelObjective, Remembered
from .runtime.second_order import HESSIAN_LIMIT

METHODS = ("auto", "lm", "newton", "lbfgs")
DEFAULT_TOL = 1e-10
DEFAULT_MAX_ITER = 1000  # steps taken; NIST's Bennett5 needs 591 from its first start
GAUSS_NEWTON_LIMIT = 400  # parameters: beyond, J^T J per chunk is too large; L-BFGS instead


@dataclass(frozen=True)
class Fit:
    """A finished (or stopped) fit: ``params`` in the kernel's order; ``loss`` the objective
    minimized (the summed row loss + the l2 penalty); uncertainties inf where undefined."""
    params: np.ndarray
    names: tuple[str, ...]
    method: str
    loss: float
    iterations: int
    converged: bool
    reason: str
    stderr: np.ndarray
    covariance: np.ndarray | None
    rows: int
    rss: float | None = None         # least squares
    dof: int | None = None           # least squares: rows - parameters
    interrupted: bool = False
    stop_signal: int | None = None
    warnings: tuple[str, ...] = field(default=())
    start: int = 0      # the starts (symgrad.starts): which this fit ran from (0: the first),
    starts: int = 1     # how many ran, how many ended at this loss, and how many were passed
    reached: int = 1    # over, the loss not finite where they began
    skipped: int = 0
    loss_log2: float = math.nan  # log2 of a loss beyond float64 (lm on targets of 1e200): how
                                 # starts compare then (symgrad.starts)

    def named(self, values=None) -> dict[str, float]:
        """name -> value (the parameters by default)."""
        values = self.params if values is None else values
        return {n: float(v) for n, v in zip(self.names, values)}


def fit(loss, params=None, inputs=None, data=None, theta0=None, *, method: str = "auto",
        l2: float = 0.0, l2_exclude=(), tol: float = DEFAULT_TOL,
        max_iter: int = DEFAULT_MAX_ITER, backend: str = "numba", report=None,
        starts: int | None = None, seed: int = 0) -> Fit:
    """Fit the parameters of a per-row loss to data: the loss, params, inputs and data as
    ``symgrad.compile`` and its kernels take them; ``theta0`` the start (default zeros).
    ``starts``: how many to fit from, the lowest loss kept (default 8, 1 with theta0).

    ``method``: "lm" (Levenberg-Marquardt, for a loss that is a sum of squares), "newton"
    (damped Newton on the exact Hessian), "lbfgs", or "auto": lm for least squares, else
    newton, and lbfgs for a loss with kinks in the parameters (mae) or beyond HESSIAN_LIMIT
    parameters (GAUSS_NEWTON_LIMIT for least squares). ``report(progress)`` is called after
    each accepted step (with ``progress.sampled`` the rows of the sample while the starts
    are compared on one).
    """
    from .compiler import compile

    kernel = compile(loss, params, inputs, backend=backend, reduction="sum", order=2)
    objective = KernelObjective(kernel, data)
    count = (1 if theta0 is not None else starts_.DEFAULT_STARTS) if starts is None else starts
    return fit_objective(objective, kernel.params, _start(theta0, kernel.params), method=method,
                         l2=l2, l2_exclude=l2_exclude, tol=tol, max_iter=max_iter,
                         report=report, starts=count, seed=seed)


def fit_objective(objective, names, theta0, *, method="auto", l2=0.0, l2_exclude=(),
                  tol=DEFAULT_TOL, max_iter=DEFAULT_MAX_ITER, report=None, starts=1,
                  free=None, seed=0) -> Fit:
    """``fit`` on any solvers.Objective (its sums over the rows, reduction "sum"), from
    ``starts`` starts (symgrad.starts: theta0, then its ``free`` entries moved; all free by
    default)."""
    names = tuple(names)
    if not names:
        raise SymgradError("the model has no parameters to fit")
    _check_settings(method, l2, tol, max_iter)
    count = starts_.check_count(starts)
    method = chosen_method(method, objective, len(names))
    objective = objective if isinstance(objective, Remembered) else Remembered(objective)
    penalty = solvers.Penalty(float(l2), _penalty_mask(names, l2_exclude))

    def runner(over, penalty, report, steps):
        return _runner(over, names, method, penalty, tol, steps, report)
    return starts_.search(runner, objective, penalty,
                          starts_.candidates(theta0, free, count, seed), max_iter, report)


def _runner(objective, names, method, penalty, tol, max_iter, report):
    """(theta, index) -> the Fit of a run from theta, the index-th start."""
    def fit_from(theta, index):
        return _fit_from(objective, names, method, penalty, solvers.Progress(
            theta=np.array(theta, dtype=np.float64), start=index), tol, max_iter, report)
    return fit_from


def _fit_from(objective, names, method, penalty, progress, tol, max_iter, report) -> Fit:
    """The Fit of one run from progress.theta; solvers.NotFiniteAtStart, naming the row to
    blame where there is one, for a start where the loss is not finite."""
    stated = scaling.Stated(objective, penalty, scaling.unscaled(len(names)))
    interrupted, signum = False, None
    try:
        with np.errstate(all="ignore"):  # overflow in a trial is a rejected trial, said once
            _minimize(method, stated, progress, tol, max_iter, report)
    except solvers.NotFiniteAtStart as error:
        if progress.iterations == 0:  # the start: a data row or the start to blame
            where = stated.objective.where_not_finite(progress.theta)
            raise solvers.NotFiniteAtStart(f"{where}: {error}" if where else str(error)) \
                from None
        progress.converged = False  # a restart (off a saddle) where float64 ran out
        progress.reason = (f"the loss or its curvature left float64's range after "
                           f"{progress.iterations} iteration{'s' * (progress.iterations != 1)}"
                           f": the loss may have no minimum; check the model and loss, or "
                           f"add an l2 penalty (--l2)")
    except KeyboardInterrupt as stop:  # Ctrl-C, or stopping.Stopped (SIGTERM, SIGHUP)
        interrupted, signum = True, getattr(stop, "signum", None)
        progress.reason = "interrupted"
    with np.errstate(all="ignore"):
        return _finished(stated.objective, names, method, stated.penalty, progress,
                         interrupted, signum, stated.units)


def _minimize(method, stated, progress, tol, max_iter, report) -> None:
    """Run the method from progress.theta (in the parameters' units), and again off each
    saddle it stops on. lm and lbfgs on a held J run in units where r and J are near 1
    (symgrad.scaling), restated and run again from where they stopped if the residuals
    moved by more than scaling.MOVED there (a start of 1 on data of 1e-100: its loss fell
    1e200, read as an exact fit). ``stated`` ends holding the objective, penalty and units
    that progress is in."""
    for run in range(scaling.RESTATES):
        if method in ("lm", "lbfgs"):
            stated.restate(progress, always=method == "lbfgs" or run > 0)
        reporting = stated.units.reporting(report)
        _run(method, stated.objective, stated.penalty, progress, tol, max_iter, reporting)
        for _ in range(saddles.ESCAPES):
            if not saddles.left(method, stated.objective, stated.penalty, progress, max_iter,
                                reporting):
                break
            _run(method, stated.objective, stated.penalty, progress, tol, max_iter, reporting)
        if method not in ("lm", "lbfgs") or not progress.converged or \
                progress.iterations >= max_iter or not stated.moved(progress):
            return
        progress.converged = progress.stalled = False


def warmed_up(objective, names, theta0, method: str = "auto") -> "Remembered":
    """The objective, its passes for ``method`` made once at theta0: their kernels compiled
    now (Numba compiles on a first call; a caller guards this against Ctrl-C, which Numba's
    compiler does not survive) and their answers kept for the fit's first step."""
    remembered = Remembered(objective)
    chosen = chosen_method(method, objective, len(names)) if method in METHODS else "auto"
    kind = "hessian" if chosen == "newton" else "residual_rows" if objective.factored else \
        "gauss_newton" if chosen == "lm" else "loss_grad"  # (factored: lm and lbfgs use J)
    getattr(remembered, kind)(np.asarray(theta0, dtype=np.float64))
    return remembered


def chosen_method(method: str, objective, size: int) -> str:
    """The method "auto" stands for, or SymgradError for one the objective cannot run."""
    problem = getattr(objective, "weight_problem", "")
    if problem and method in ("auto", "lm"):  # least squares but for a negative weight
        raise SymgradError(f"{problem} (a loss that means it: --method newton, or "
                           f"method='newton', with standard errors from its Hessian)")
    if method == "auto":  # (Newton's Hessian says nothing of a kink: mae's minimum is one)
        if objective.least_squares and size <= GAUSS_NEWTON_LIMIT:
            return "lm"
        kinked = getattr(objective, "kinked", False)
        return "newton" if objective.has_hessian and not kinked else "lbfgs"
    only = getattr(objective, "first_order_only", None)
    if method in ("lm", "newton") and only:
        raise SymgradError(f"method {method} needs exact second derivatives, which {only} "
                           f"does not have; use lbfgs")
    if method == "lm" and not objective.least_squares:
        raise SymgradError("method lm needs a loss that is a sum of squares (mse, sse, or a "
                           "loss expression like ((yhat - y)/s)**2); use newton or lbfgs")
    if method == "lm" and size > GAUSS_NEWTON_LIMIT:
        raise SymgradError(f"method lm keeps J^T J dense: at most {GAUSS_NEWTON_LIMIT} "
                           f"parameters ({size} here); use lbfgs")
    if method == "newton" and not objective.has_hessian:
        raise SymgradError(f"method newton needs the dense Hessian, compiled for at most "
                           f"{HESSIAN_LIMIT} parameters ({size} here); use lbfgs")
    return method


def _run(method, objective, penalty, progress, tol, max_iter, report) -> None:
    if method == "lbfgs":
        def loss_grad(theta):
            loss, grad = objective.loss_grad(theta)
            return loss + penalty.value(theta), grad + penalty.gradient(theta)
        lbfgs(loss_grad, progress, tol, max_iter, report, getattr(objective, "kinked", False))
        return
    quantities = solvers.gauss_newton_quantities(objective, penalty) if method == "lm" \
        else solvers.newton_quantities(objective, penalty)
    solvers.trust_region(quantities, progress, tol, max_iter, report)


def _finished(objective, names, method, penalty, progress, interrupted, signum,
              units) -> Fit:
    """The Fit at progress.theta, computed in the objective's units and given in the
    parameters' own (``units``, scaling.Units)."""
    theta, size, warnings = progress.theta, len(names), []
    rss = dof = inverse = None
    cov, root, flat = None, 1.0, False  # cov = root**2 x the inverse; stderr = root x roots
    kind = "gauss_newton" if objective.least_squares and size <= GAUSS_NEWTON_LIMIT else \
        "hessian" if objective.has_hessian else None
    known = "residual_rows" if kind == "gauss_newton" and objective.factored else kind
    if interrupted and kind is not None and not objective.knows(known, theta):
        kind = None  # no further pass over the data once the user has said stop
        warnings.append("no standard errors: interrupted before the last point's curvature "
                        "was known")
    if kind == "gauss_newton":
        rss, jtj, _ = objective.gauss_newton(theta)
        # (J^T J / s)^-1 (RSS / s) / dof, s the centre of J^T J's diagonal: inverted where
        # its entries are near 1, so sums of 1e-310 and of 1e300 both stay finite
        per = _centre(jtj)
        inverse = uncertainty.inverse(_curvature(objective, theta, penalty, jtj, per))
        dof = objective.observations - (size if inverse is None else inverse.rank)
        rounding = uncertainty.rounding_rss(rss, theta, jtj) if dof > 0 else None
        if rounding is not None:
            warnings.append("the fit is exact to float64's rounding: the standard errors "
                            "are those that rounding leaves")
        if dof > 0:
            root = math.sqrt((rounding or rss) / dof) / math.sqrt(per)  # (each root in range)
            cov = None if inverse is None else inverse.times(root * root)
        else:
            count = objective.observations
            warnings.append(f"no standard errors: {count} residual{'s' * (count != 1)} for "
                            f"{size} parameter{'s' * (size != 1)} "
                            f"leave{'s' * (count == 1)} no degrees of freedom")
    elif kind == "hessian":
        _, _, hessian = objective.hessian(theta)
        curvature = hessian + penalty.hessian()
        # the loss's doing, not the data's: |r| has no second derivative, and at a kink
        # (mae's minimum) the Hessian beside it says nothing of the uncertainty
        flat = not np.any(curvature) or getattr(objective, "kinked", False) and (
            interrupted or not uncertainty.smooth_at(  # (no more passes once told to stop)
                lambda t: objective.loss_grad(t)[1] + penalty.gradient(t), theta, curvature))
        inverse = None if flat else uncertainty.inverse(curvature)
        cov = None if inverse is None else inverse.matrix
        if flat:
            warnings.append("no standard errors: the loss has kinks in the parameters (abs, "
                            "max or relu of them, as mae has) or no curvature at the fit, "
                            "and its Hessian says nothing of their uncertainty; the values "
                            "stand")
    elif not warnings:
        warnings.append(f"no standard errors: {size} parameters is beyond the dense Hessian "
                        f"kernel ({HESSIAN_LIMIT})")
    stderr = uncertainty.standard_errors(inverse if cov is not None else None, root, size,
                                         computed=kind is not None and not flat)
    singular = cov is None or bool(np.isinf(stderr).any())
    saddle = (progress.converged or progress.stalled) and singular and kind is not None and \
        objective.has_hessian and saddles.still_at(objective, theta, penalty, progress)
    # a run stopped short of a minimum: its curvature says nothing of what the data determine
    said = saddle or progress.stalled or (cov is None and bool(warnings))
    undetermined = [] if said else list(names) if cov is None else \
        [n for n, e in zip(names, stderr) if np.isinf(e)]
    if undetermined:
        errors, are, them = ("standard errors", "are", "them") if len(undetermined) > 1 else \
            ("standard error", "is", "it")
        warnings.append(f"the {errors} of {listed(undetermined)} {are} infinite: the data "
                        f"do not determine {them} (the loss moves with a combination of "
                        f"parameters alone, or not at all: a singular or near-singular "
                        f"{'J^T J' if rss is not None else 'Hessian'})")
    if not interrupted:  # (an interrupted run's point, or its loss inf before the first
        uncertainty.unbounded(progress, stderr, units,  # pass ended: no optimum is said)
                              flat=flat and not getattr(objective, "kinked", False))
    scaled, progress.theta = progress.loss, units.theta(theta)
    progress.loss = units.loss(scaled)
    if progress.stalled and progress.edge is not None:  # said with the parameter's name
        j, value = progress.edge
        progress.reason = stalls.OUTSIDE_DOMAIN.format(name=names[j], value=stalls.apart(
            float(np.ldexp(value, units.e[j])), float(progress.theta[j])))
    stderr = units.errors(stderr)
    return Fit(params=progress.theta, names=names, method=method, loss=progress.loss,
               iterations=progress.iterations, converged=progress.converged,
               reason=progress.reason, stderr=stderr, covariance=units.covariance(cov),
               rows=objective.rows, rss=units.loss(rss), dof=dof,
               interrupted=interrupted, stop_signal=signum, warnings=tuple(warnings),
               start=progress.start, loss_log2=units.log2(scaled, progress.loss))


def _centre(jtj) -> float:
    """The geometric mean of the largest and smallest positive diagonal entries (1 where none
    is positive and finite): x of 1e-100 beside a constant spans 1e200, centred to 1e+-100."""
    diagonal = np.diag(jtj)
    usable = diagonal[np.isfinite(diagonal) & (diagonal > 0)]
    if not usable.size:
        return 1.0
    return math.sqrt(usable.max()) * math.sqrt(usable.min())


def _curvature(objective, theta, penalty, jtj, per: float):
    """(J^T J + l2/2 P) / per at theta, a Gram keeping J where the objective holds it: then
    ``inverse`` works on J's singular values, not on its square's eigenvalues."""
    if not objective.factored:
        return (jtj + 0.5 * penalty.hessian()) / per
    _, jacobian = objective.residual_rows(theta)
    factor = np.vstack([jacobian, math.sqrt(0.5) * penalty.root()])
    return Gram(factor / math.sqrt(per))


def _check_settings(method, l2, tol, max_iter) -> None:
    if method not in METHODS:
        raise SymgradError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    if not (isinstance(l2, (int, float)) and math.isfinite(l2) and l2 >= 0):
        raise SymgradError(f"l2 must be a finite number >= 0, not {l2!r}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise SymgradError(f"tol must be a number in (0, 1), not {tol!r}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise SymgradError(f"max_iter must be a whole number >= 1, not {max_iter!r}")


def _penalty_mask(names, excluded) -> np.ndarray:
    excluded = [str(e) for e in excluded]
    unknown = [e for e in excluded if e not in names]
    if unknown:
        raise SymgradError(f"l2_exclude (--l2-exclude) names {unknown[0]!r}, which is not "
                           f"a parameter ({listed(names)})")
    return np.array([0.0 if n in excluded else 1.0 for n in names])


def _start(theta0, names) -> np.ndarray:
    from .runtime.columns import checked_theta

    if theta0 is None:
        return np.zeros(len(names))
    return checked_theta(theta0, names, np.float64, "theta0")
