"""The derive job: ``derivation`` parses an expression or a layer chain and returns the text
``symgrad derive`` prints (closed forms, LaTeX, Python, JSON, or a chain's backprop)."""
from __future__ import annotations

import json

from ..errors import SymgradError


def derivation(expression: str, wrt: str | None = None, format: str = "text",
               loss_name: str | None = None, features: list[str] | None = None) -> str:
    """``symgrad derive``: parse the expression, differentiate, render. Raises SymgradError.

    A layer chain ('dense(3) -> sigmoid -> dense(1)') prints its backprop in index notation
    for the loss ``loss_name`` (mse, the default, bce or ce), as text lines or a JSON list;
    an expression is its own loss, so takes none. ``features`` are
    the columns ``features`` stands for in ``dot(w, features)``; they are inputs, not
    parameters."""
    from ..layers import is_chain

    if is_chain(expression):
        return _chain_formulas(expression, wrt, format, loss_name or "mse")
    if loss_name is not None:
        raise SymgradError(f"--loss {loss_name} is for a layer chain; an expression is its own "
                           f"loss: write it out, e.g. '(sigmoid(w*x + b) - y)**2'")
    return _expression_gradient(expression, wrt, format, features)


def _chain_formulas(expression: str, wrt: str | None, format: str, loss_name: str) -> str:
    from ..layers import check_loss, parse_chain
    from ..layers.symbolic import chain_formulas

    if wrt is not None or format not in ("text", "json"):
        raise SymgradError("a layer chain prints with --format text or json, without --wrt")
    chain = parse_chain(expression)
    check_loss(chain, loss_name)
    lines = chain_formulas(chain, loss_name)
    return "\n".join(lines) if format == "text" else json.dumps({"formulas": lines}, indent=2)


def _expression_gradient(expression: str, wrt: str | None, format: str,
                         features: list[str] | None = None) -> str:
    """The gradient by every symbol but the features (or by those --wrt names; a vector's
    name stands for its entries), the others taken as inputs."""
    from ..model import Model, entry_names, parameter_order
    from ..parse import parse_expr, parse_names
    from ..reverse import derive
    from ..views import render

    loss = parse_expr(expression, features=features)
    if wrt is not None:
        params = entry_names(loss, parse_names(wrt))
    else:
        params = [s.name for s in sorted(loss.free_symbols, key=parameter_order)
                  if s.name not in (features or ())]
    if not params:
        raise SymgradError(f"nothing to differentiate: {expression!r} has no symbols")
    inputs = sorted(s.name for s in loss.free_symbols if s.name not in params)
    return render(derive(Model.of(loss, params, inputs)), format)
