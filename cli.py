"""The ``symgrad`` command line: thin click wrappers, one library call per command.

Heavy modules (sympy, numba) are imported inside the commands, so ``symgrad --help`` is instant.
User errors (SymgradError) print one line on stderr and exit with status 2; anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import sys

import click

FORMATS = ("text", "latex", "python", "json")


def _fail(message: str, status: int = 2):
    click.echo(f"symgrad: error: {message}", err=True)
    sys.exit(status)


class OneLineErrors(click.Group):
    """A click group whose usage errors are one line on stderr (status 2), never a traceback."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            status = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except click.Abort:
            _fail("interrupted", 130)
        sys.exit(status if isinstance(status, int) else 0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="symgrad", prog_name="symgrad")
def main():
    """symgrad: symbolic gradients of models and losses, compiled to fast kernels."""


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("expression", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--wrt", metavar="a,b,...", default=None,
              help="Parameters to differentiate by (default: every symbol, sorted by name).")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="text",
              show_default=True, help="Output format.")
def derive(expression, wrt, format_):
    """Print the gradient of EXPRESSION, one closed form per parameter.

    \b
    Example:  symgrad derive "(sigmoid(w*x + b) - y)**2" --wrt w,b
    An expression may start with '-' (e.g. "-log(sigmoid(z))").
    """
    from symgrad.errors import SymgradError
    from symgrad.views import derivation

    try:
        click.echo(derivation(" ".join(expression), wrt, format_))
    except SymgradError as err:
        _fail(str(err))


if __name__ == "__main__":
    main()
