"""symgrad.views: the text and LaTeX ``symgrad derive`` prints. Their printers print each
subexpression once for all the partials; that must not change a character of the output,
which is checked against SymPy's printers run afresh on each partial."""
import json

import pytest
import sympy as sp

import symgrad
from support import IDS, MODELS
from symgrad.errors import SymgradError
from symgrad.views import _latex_text, _plain, _SympyTextPrinter, _TextPrinter, render


def _fresh(gradient, format):
    """The output as one new printer per partial writes it."""
    forms = symgrad.closed_forms(gradient)
    if format == "text":
        return "\n".join(f"d/{_TextPrinter().doprint(p)} = {_TextPrinter().doprint(e)}"
                         for p, e in forms.items())
    names = {s: _latex_text(s.name) for s in gradient.model.loss.free_symbols
             if not _plain(s.name)}
    return "\n".join(rf"\frac{{\partial L}}{{\partial {sp.latex(p, symbol_names=names)}}} = "
                     rf"{sp.latex(e, symbol_names=names)}" for p, e in forms.items())


CASES = [(loss, params.split(), inputs.split()) for _, loss, params, inputs in MODELS] + [
    ("(" + " + ".join(f"w{i}*x{i}" for i in range(40)) + " - y)**2 + sin(w0)**2",
     [f"w{i}" for i in range(40)], [f"x{i}" for i in range(40)] + ["y"]),
    ("where(`mean radius` > 0, w*`mean radius`, b)**2 + exp(-w)*log(b**2 + 1)",
     ["w", "b"], ["mean radius"])]


@pytest.mark.parametrize("format", ["text", "latex"])
@pytest.mark.parametrize("loss, params, inputs", CASES, ids=IDS + ["sum40", "quoted"])
def test_printing_shared_parts_once_changes_nothing(loss, params, inputs, format):
    gradient = symgrad.derive(loss, params, inputs)
    assert render(gradient, format) == _fresh(gradient, format)


def test_json_reads_back_as_the_closed_forms():
    gradient = symgrad.derive("(" + " + ".join(f"w{i}*x{i}" for i in range(30)) + " - y)**2",
                              [f"w{i}" for i in range(30)], [f"x{i}" for i in range(30)] + ["y"])
    document = json.loads(render(gradient, "json"))
    for p, form in symgrad.closed_forms(gradient).items():
        assert sp.sympify(document["gradient"][p.name]) == symgrad.functions.to_builtins(form)
        assert document["gradient"][p.name] == _SympyTextPrinter().doprint(
            symgrad.functions.to_builtins(form))


@pytest.mark.parametrize("call, message", [
    (lambda g: symgrad.render(g, "yaml"), "unknown format 'yaml' (choose from text, latex"),
    (lambda g: symgrad.render(5), "render takes the Gradient that symgrad.derive("),
    (lambda g: symgrad.closed_forms("a*x"), "closed_forms takes the Gradient"),
    (lambda g: symgrad.lower("a*x"), "lower takes the Gradient that symgrad.derive"),
    (lambda g: symgrad.compile("a*x", 5, ["x"]), "params must be a sequence of names, not 5"),
    (lambda g: symgrad.Model.supervised("w*x", target=5), "target must be a name or a sequence"),
])
def test_a_wrong_argument_is_a_symgrad_error(call, message):
    # a KeyError, AttributeError or TypeError from inside
    gradient = symgrad.derive("(a*x - y)**2", ["a"], ["x", "y"])
    with pytest.raises(SymgradError) as info:
        call(gradient)
    assert message in str(info.value)


def test_symgrads_functions_raised_to_a_power_print_in_latex():
    # SymPy passes the power to _latex: sigmoid(x)**2 and sinc(a*x)**2 raised a TypeError
    a, b, x = sp.symbols("a b x")
    gradient = symgrad.derive(b * sp.sinc(a * x) ** 2 + symgrad.sigmoid(a * x) ** 2, [a, b], [x])
    text = render(gradient, "latex")
    assert r"\operatorname{sinc}\left(a x\right)^{2}" in text
    assert r"\operatorname{sinc}^{(1)}\left(a x\right)" in text
    assert "sinc(a*x)**2" in render(gradient, "text")
