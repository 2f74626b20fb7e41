"""The ``symgrad`` command line: thin click wrappers, one library call per command.

Heavy modules (sympy, numba) are imported inside the commands, so ``symgrad --help`` is instant.
User errors (SymgradError) print one line on stderr and exit with status 2; anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import sys

try:
    import click
except KeyboardInterrupt:  # Ctrl-C in the first tenth of a second: one line, as later
    sys.stderr.write("symgrad: error: interrupted\n")
    sys.exit(130)

FORMATS = ("text", "latex", "python", "json")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")


def _fail(message: str, status: int = 2):
    click.echo(f"symgrad: error: {message}", err=True)
    sys.exit(status)


class Whole(click.IntRange):
    """click's IntRange, named "a whole number" in its error ("'2.5' is not a valid whole
    number", where click says "integer range"), and taking 1e3 or 1000.0 for 1000."""
    name = "whole number"

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    number = None
                if number is not None and number.is_integer():
                    value = int(number)
        return super().convert(value, param, ctx)


class ListsMerged(click.Command):
    """A command whose repeated list option (metavar 'a,b,...') is one list: ``--init a=5
    --init b=7`` is ``--init a=5,b=7`` (click kept the last, silently). Any other option
    repeated takes its last value, as in most tools (an alias's default overridden)."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, _merged_repeats(self, list(args)))


def _merged_repeats(command: click.Command, args: list[str]) -> list[str]:
    valued = {opt: p for p in command.params
              if isinstance(p, click.Option) and not p.is_flag and not p.count
              for opt in p.opts if opt.startswith("--")}
    merged, seen, k = [], {}, 0
    while k < len(args) and args[k] != "--":
        name, equals, inline = args[k].partition("=")
        param = valued.get(name)
        if param is None or (not equals and k + 1 == len(args)):
            merged.append(args[k])  # not a valued option (or its value is missing: click's)
            k += 1
            continue
        value, k = (inline, k + 1) if equals else (args[k + 1], k + 2)
        if param.name not in seen:
            merged += [name, value]
            seen[param.name] = len(merged) - 1
        elif (param.metavar or "").endswith(",..."):
            merged[seen[param.name]] += "," + value
        else:
            merged[seen[param.name]] = value
    return merged + args[k:]


class OneLineErrors(click.Group):
    """A click group whose usage errors are one line on stderr (status 2), never a traceback;
    its commands take a repeated list option as one list (``ListsMerged``)."""
    command_class = ListsMerged

    def main(self, args=None, prog_name=None, **extra):
        try:
            from symgrad.files import StdoutError, checked_stdout
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        extra.pop("standalone_mode", None)
        _write_errors_not_signals()
        try:
            with checked_stdout():
                status = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except click.Abort:
            _fail("interrupted", 130)
        except StdoutError as err:
            _stdout_failed(err)
        sys.exit(status if isinstance(status, int) else 0)


def _stdout_failed(err) -> None:
    """A reader that went away (``| head``) ends the command quietly, as SIGPIPE ends other
    tools (status 141); any other failure to write stdout is an error (status 2)."""
    import errno
    if err.errno == errno.EPIPE:
        sys.exit(141)
    _fail(f"cannot write the standard output: {err}")


def _write_errors_not_signals():
    """A write past the file-size limit fails with EFBIG (one line, old file kept) instead of
    SIGXFSZ killing the process mid-write."""
    import signal
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="symgrad", prog_name="symgrad")
def main():
    """symgrad: symbolic gradients of models and losses, compiled to fast kernels."""


def _names_option(_ctx, _param, value):
    if value is None:
        return None
    from symgrad.errors import SymgradError
    from symgrad.parse import parse_names
    try:
        return parse_names(value)
    except SymgradError as err:
        raise click.BadParameter(str(err)) from None


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("expression", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--wrt", metavar="a,b,...", default=None,
              help="Parameters to differentiate by (default: every symbol, sorted by name).")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="text",
              show_default=True, help="Output format.")
@click.option("--loss", type=click.Choice(["mse", "bce", "ce"]), default=None,
              help="For a layer chain: the loss its backprop formulas end in (default: mse).")
@click.option("--features", callback=_names_option, metavar="a,b,...",
              help="The columns 'features' stands for in dot(w, features) (inputs).")
def derive(expression, wrt, format_, loss, features):
    """Print the gradient of EXPRESSION, one closed form per parameter.

    \b
    Example:  symgrad derive "(sigmoid(w*x + b) - y)**2" --wrt w,b
    An expression may start with '-' (e.g. "-log(sigmoid(z))").
    A layer chain ("dense(3) -> sigmoid -> dense(1)") prints its backprop in index notation.
    """
    from symgrad.errors import SymgradError
    from symgrad.jobs import derivation
    from symgrad.stopping import exit_status, stop_signals_raise, stopped_by

    try:
        with stop_signals_raise():
            text = derivation(" ".join(expression), wrt, format_, loss, features)
    except SymgradError as err:
        _fail(str(err))
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM or SIGHUP: nothing was printed
        _fail(stopped_by(exit_status(stop) - 128), exit_status(stop))
    click.echo(text)


def _batch_size(_ctx, _param, value):
    if value is None or value == "full":
        return None
    try:  # (a whole number as the other options take one: 64, 1e3)
        return Whole(min=1).convert(value, None, None)
    except click.BadParameter:
        raise click.BadParameter(f"expected a positive integer or 'full', got {value!r}") \
            from None


DELIMITER_HELP = "The CSV's field separator: one character, or 'tab' (default: a tab for " \
    "*.tsv files, else a comma)."


def _model_options(command):
    """DATA and the options naming the model, its columns and how it is judged (train, fit)."""
    options = [
        click.argument("data", type=click.Path(dir_okay=False)),
        click.option("--model", required=True,
                     help="Model expression, e.g. 'sigmoid(w0*x0 + b)'; train also takes "
                     "a layer chain, e.g. 'dense(3) -> sigmoid -> dense(1)'."),
        click.option("--target", required=True, help="The CSV column to predict."),
        click.option("--features", callback=_names_option, metavar="a,b,...",
                     help="Input columns (default: the columns the model names)."),
        click.option("--delimiter", metavar="CHAR", help=DELIMITER_HELP),
        click.option("--validation", metavar="F|FILE", help="Hold out a fraction F of the rows "
                     "(drawn from --seed; stratified by class for bce/ce), or validate on "
                     "FILE (same columns); metrics for both parts."),
        click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.png",
                     help="Draw the loss curve (fit of a model of one column: also the data "
                     "and the fitted curve); needs matplotlib (pip install 'symgrad[plot]')."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _output_options(dask_runs: str):
    """--out and the Dask engine's options (train and fit)."""
    options = [
        click.option("--out", type=click.Path(dir_okay=False), help="Write PARAMS.json here."),
        click.option("--engine", type=click.Choice(["local", "dask"]), default="local",
                     show_default=True, help=f"dask: {dask_runs}, DATA may be a quoted "
                     "pattern ('data/*.csv'), one partition per file."),
        click.option("--scheduler", metavar="ADDRESS", help="dask: a running scheduler "
                     "(default: start a local cluster)."),
        click.option("--workers", type=Whole(min=1), help="dask: local worker "
                     "processes (default: one per CPU)."),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


@main.command(context_settings={"ignore_unknown_options": False})
@_model_options
@click.option("--loss", default="mse", show_default=True,
              help="mse, mae, sse, bce, ce, or an expression of yhat and the target column.")
@click.option("--reduction", type=click.Choice(["mean", "sum"]), default="mean",
              show_default=True)
@click.option("--init", metavar="name=value,...", help="Initial parameter values.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True)
@click.option("--lr", type=float, default=0.01, show_default=True, help="Learning rate.")
@click.option("--momentum", type=float, default=0.9, show_default=True,
              help="For momentum and nesterov.")
@click.option("--weight-decay", type=click.FloatRange(min=0), metavar="F",
              help="L2 weight decay as PyTorch defines it (decoupled for adamw); default 0, "
              "adamw 0.01.")
@click.option("--epochs", type=Whole(min=1), default=100, show_default=True)
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
              show_default=True, help="What the kernels compute in (float32: expression "
              "models on one machine, and layer chains on --backend cuda; about 1.6-2x "
              "faster, ~1e-6 relative error).")
@click.option("--early-stopping", type=Whole(min=1), metavar="N",
              help="With --validation: stop once the validation loss has not improved for N "
              "epochs, and keep the best epoch's parameters.")
@click.option("--batch-size", callback=_batch_size, default="full", show_default=True,
              metavar="N|full")
@click.option("--shuffle/--no-shuffle", default=False, show_default=True)
@click.option("--seed", type=Whole(min=0), default=0, show_default=True)
@click.option("--backend", type=click.Choice(["numba", "numpy", "cuda"]), default="numba",
              show_default=True)
@_output_options("full batch over a Dask cluster")
@click.option("--quiet", is_flag=True, help="No progress bar or loss reports.")
def train(data, quiet, **options):
    """Train the parameters of --model on DATA (a CSV file with a header line)."""
    from symgrad.jobs import TrainOptions, train_file

    if options["optimizer"] not in ("momentum", "nesterov") and _given("momentum"):
        _fail(f"--momentum is for --optimizer momentum or nesterov, not {options['optimizer']}")
    _refuse_unused_engine_options(options)
    progress = None if quiet else _Progress(options["epochs"])
    try:
        outcome = _run_job(train_file, TrainOptions(data=data, **options), progress)
    finally:
        if progress is not None:
            progress.close()
    _report(outcome, options["out"], quiet)


def _refuse_unused_engine_options(options) -> None:
    """--scheduler and --workers are the Dask engine's; --workers starts a local cluster,
    which --scheduler (a running one) replaces."""
    unused = [f"--{name}" for name in ("scheduler", "workers") if options[name] is not None]
    if options["engine"] != "dask" and unused:
        _fail(f"{' and '.join(unused)} {'are' if len(unused) > 1 else 'is'} for --engine dask")
    if len(unused) == 2:
        _fail("--workers sizes a local cluster; with --scheduler the running cluster's own "
              "workers do the work")


def _given(option: str) -> bool:
    """The user gave the option (it did not take its default)."""
    source = click.get_current_context().get_parameter_source(option)
    return source not in (click.core.ParameterSource.DEFAULT, None)


def _run_job(job, options, progress):
    """job(options, progress): a SymgradError is one line (status 2); a stop signal before
    the data was loaded ends the process with its status, nothing written."""
    from symgrad.errors import SymgradError
    try:
        return job(options, progress, exit_if_interrupted_compiling=True)
    except SymgradError as err:
        _fail(str(err))
    except KeyboardInterrupt as stop:
        from symgrad.stopping import exit_status, stopped_by
        status = exit_status(stop)
        _fail(f"{stopped_by(status - 128)} before the data was loaded; nothing written", status)


@main.command(context_settings={"ignore_unknown_options": False})
@_model_options
@click.option("--loss", default="mse", show_default=True,
              help="mse, sse, bce, or an expression of yhat and the target column.")
@click.option("--method", type=click.Choice(["auto", "lm", "newton", "lbfgs"]),
              default="auto", show_default=True,
              help="auto: lm for a sum of squares, else newton; lbfgs beyond 24 parameters "
              "(400 for a sum of squares).")
@click.option("--init", metavar="name=value,...", help="Initial parameter values (the "
              "others start at 0.1 * N(0, 1) drawn from --seed).")
@click.option("--seed", type=Whole(min=0), default=0, show_default=True)
@click.option("--starts", type=Whole(min=1, max=1000), metavar="N",
              help="Fit from N starts and keep the lowest loss: the first as --init and --seed "
              "give it, then the parameters not in --init at 1, then at random sizes 0.1-10 "
              "(default: 8, or 1 when --init gives every parameter; at most 1000).")
@click.option("--l2", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Add l2/2 * ||theta||^2 to the summed loss.")
@click.option("--l2-exclude", callback=_names_option, metavar="a,b,...",
              help="Parameters --l2 leaves out (e.g. the intercept).")
@click.option("--tol", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              default=1e-10, show_default=True,
              help="Converged when a step changes the parameters by less than this "
              "(relative), or the loss by less than its square.")
@click.option("--max-iter", type=Whole(min=1), default=1000, show_default=True,
              help="Steps taken at most.")
@click.option("--backend", type=click.Choice(["numba", "numpy"]), default="numba",
              show_default=True)
@_output_options("each pass summed over a Dask cluster")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def fit(data, quiet, **options):
    """Fit the parameters of --model on DATA with exact second derivatives
    (Levenberg-Marquardt or Newton): values, standard errors and a summary."""
    from symgrad.jobs import FitOptions, fit_file

    if options["l2_exclude"] and not options["l2"]:
        _fail("--l2-exclude names parameters the --l2 penalty leaves out; give --l2 too")
    options["l2_exclude"] = tuple(options["l2_exclude"] or ())
    _refuse_unused_engine_options(options)
    outcome = _run_job(fit_file, FitOptions(data=data, **options),
                       None if quiet else _FitProgress())
    _report_fit(outcome, options["out"], quiet)


def _report_fit(outcome, out, quiet):
    result = outcome.fit
    for name, value, error in zip(result.names, result.params, result.stderr):
        shown = "n/a" if error != error else f"{float(error):.6g}"  # nan: not computed
        click.echo(f"{_written(name)} = {float(value)!r} \u00b1 {shown}")
    if not quiet:  # on stderr, as train's: stdout is the parameters alone
        click.echo(outcome.summary, err=True)
    for warning in result.warnings:
        click.echo(f"symgrad: warning: {warning}", err=True)
    saved = f"; parameters saved to {out}" if out else ""
    if result.interrupted:
        import signal

        from symgrad.stopping import stopped_by
        signum = result.stop_signal or signal.SIGINT
        steps = f"{result.iterations} iteration{'s' * (result.iterations != 1)}"
        _fail(f"{stopped_by(signum)} after {steps}; the best parameters so far"
              f"{saved or ' shown'}", 128 + signum)
    if not result.converged:
        advice = ": raise --max-iter, start elsewhere (--init, --starts) or check the model" \
            if result.reason.startswith("not converged in") else ""
        reason = result.reason if result.reason.startswith("not converged") else \
            f"not converged ({result.reason})"
        _fail(f"{reason}{advice}; the best parameters so far"
              f"{saved or ' shown'}", 1)


class _FitProgress:
    """A line on stderr every two seconds once a fit has lasted one: step and loss (and
    which start, after the first, and whether on a sample of the rows)."""

    def __init__(self):
        import time
        self.clock = time.monotonic
        self.started = self.last = self.clock()

    def __call__(self, progress):
        now = self.clock()
        if now - self.started >= 1.0 and now - self.last >= 2.0:
            start = f"start {progress.start + 1}, " if progress.start else ""
            if progress.sampled:
                start = f"start {progress.start + 1} on a sample of {progress.sampled:,} rows, "
            click.echo(f"{start}iteration {progress.iterations}  loss {progress.loss:.10g}",
                       err=True)
            self.last = now


def _report(outcome, out, quiet):
    document = outcome.document
    saved = f"; parameters saved to {out}" if out else ""
    for name, value in outcome.params.items():
        if isinstance(value, list):  # a layer's array: its values are in --out
            click.echo(f"{name}: array of shape {_shape(value)}")
        else:
            click.echo(f"{_written(name)} = {value!r}")
    if outcome.status == "interrupted":
        epochs = document["epochs"]
        _fail(f"{outcome.stopped_by} after {epochs} epoch{'s' * (epochs != 1)}{saved}",
              128 + outcome.signal)
    if outcome.status == "diverged":
        _fail(f"diverged at epoch {document['diverged_epoch']} (loss became NaN or inf); "
              f"kept the last finite parameters{saved}", 1)
    if not quiet:
        click.echo(f"{outcome.summary}{saved}", err=True)


def _written(name: str) -> str:
    """A parameter's name as the model spells it: `c 0` in backquotes (it printed as c 0)."""
    from symgrad.lexer import NAME
    return name if NAME.match(name) else f"`{name}`"


def _shape(nested) -> tuple:
    shape = []
    while isinstance(nested, list):
        shape.append(len(nested))
        nested = nested[0] if nested else None
    return tuple(shape)


class _Progress:
    """Progress on stderr once a run has lasted a second: a bar on a terminal, else a line
    with the epoch and loss every few seconds."""

    def __init__(self, epochs: int):
        import time
        self.clock, self.epochs, self.shown = time.monotonic, epochs, 0
        self.started = self.last_line = self.clock()
        self.stream = sys.stderr
        self.bar = None

    def __call__(self, done: int, loss: float):
        now = self.clock()
        if now - self.started < 1.0:
            return
        if not self.stream.isatty():
            if now - self.last_line >= 2.0 or done == self.epochs:
                click.echo(f"epoch {done}/{self.epochs}  loss {loss:.6g}", err=True)
                self.last_line = now
            return
        if self.bar is None:
            self.bar = click.progressbar(length=self.epochs, file=self.stream)
            self.bar.__enter__()
        self.bar.label = f"loss {loss:.6g}"
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@main.command()
@click.argument("params", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Write the CSV here, not stdout.")
@click.option("--proba", is_flag=True, help="Classifiers: add a column p_<label> per class "
              "(bce: the positive class's).")
@click.option("--delimiter", metavar="CHAR", help=DELIMITER_HELP)
def predict(params, data, out, proba, delimiter):
    """Apply a trained PARAMS.json to DATA: prints CSV with a column 'prediction'."""
    from symgrad.errors import SymgradError
    from symgrad.files import refuse_overwriting, write_atomically
    from symgrad.jobs import predict_file

    try:
        refuse_overwriting(out, {"data file": data, "params file": params})
        text = predict_file(params, data, proba, delimiter)
        if out:
            write_atomically(out, text)
        else:
            click.echo(text, nl=False)
    except SymgradError as err:
        _fail(str(err))


@main.command()
@click.argument("params", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--delimiter", metavar="CHAR", help=DELIMITER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as a JSON object.")
def score(params, data, delimiter, as_json):
    """Score a trained PARAMS.json on a labelled DATA file: the mean loss per row and, by the
    loss, R^2 and RMSE or accuracy and log-loss."""
    from symgrad.errors import SymgradError
    from symgrad.jobs import score_file

    try:
        scores = score_file(params, data, delimiter)
    except SymgradError as err:
        _fail(str(err))
    if as_json:  # strict JSON: a score that is not finite is null, as in PARAMS.json
        import json
        import math
        click.echo(json.dumps({name: value if math.isfinite(value) else None
                               for name, value in scores.items()}, allow_nan=False))
        return
    for name, value in scores.items():
        click.echo(f"{name} {value!r}")


if __name__ == "__main__":
    main()
