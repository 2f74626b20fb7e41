"""ModelRecipe: how a scalar model is built from a CSV header, as one frozen value.

Training an expression model starts from a few strings (the model, the target column, the
loss) and the header of the data. A ``ModelRecipe`` holds those strings and nothing about how
the run is driven (optimizer, epochs, files written), so it is what a Dask worker receives to
build and compile the same kernel as the driver, and what keys its kernel cache. The CLI's
options become a recipe in ``symgrad.jobs``; nothing here imports the jobs or the CLI, and
SymPy is imported only when a model is built.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .errors import SymgradError


@dataclass(frozen=True)
class ModelRecipe:
    model: str                              # the prediction, e.g. 'sigmoid(w*x + b)'
    target: str                             # the column the prediction is compared with
    features: tuple[str, ...] | None = None  # input columns (None: those the model names)
    loss: str = "mse"                       # a loss name, or an expression of yhat and target
    reduction: str = "mean"                 # over rows, as asked for: mean or sum
    backend: str = "numba"
    data: str = "the data"                  # where the header comes from, for messages
    order: int = 1                          # 2: the kernel has second derivatives (fit)
    dtype: str = "float64"                  # what the kernel computes in: float64 or float32

    @property
    def kernel_reduction(self) -> str:
        """The reduction the kernel applies: sse is mse summed over rows."""
        return "sum" if self.loss == "sse" else self.reduction


def training_model(recipe: ModelRecipe, header):
    """(Model, feature names): symbols naming columns of ``header`` are inputs, the rest
    parameters."""
    import sympy as sp

    from .model import Model, parameter_order
    from .parse import names_features, parse_expr

    _refuse_shadowed_columns(recipe.model, header, recipe.data)
    every_column = [c for c in header if c != recipe.target]
    listed = list(recipe.features) if recipe.features is not None else None
    prediction = parse_expr(recipe.model, features=listed or every_column)
    names = {s.name for s in prediction.free_symbols}
    if recipe.target in names:
        raise SymgradError(f"the model uses the target column {recipe.target!r}")
    if listed is not None and recipe.target in listed:
        raise SymgradError(f"--features lists the target column {recipe.target!r}: the "
                           f"features are the model's inputs, the target is --target")
    if listed is not None:
        features = listed
    elif names_features(recipe.model):  # dot(w, features): every column but the target
        features = every_column
    else:
        features = [c for c in header if c in names]
    for name in features:
        if name not in header:
            close = ColumnIndex(header).close_to(name)
            raise SymgradError(f"feature {name!r} is not a column of {recipe.data}"
                               + (f"; did you mean {close!r}?" if close else ""))
    target = sp.Symbol(recipe.target)
    per_row = row_loss(recipe.loss, prediction, target)
    if listed is None:  # columns a loss expression reads (a weight s in ((yhat - y)/s)**2)
        read = {s.name for s in per_row.free_symbols}
        features += [c for c in header if c in read and c not in features and c != target.name]
    inputs = [sp.Symbol(n) for n in features] + [target]
    params = sorted(per_row.free_symbols - set(inputs), key=parameter_order)
    if listed is not None:
        _refuse_unlisted_columns([p.name for p in params], header, recipe.data)
    _refuse_misspelt_columns([p.name for p in params], header, recipe.data, names)
    return Model(loss=per_row, params=tuple(params), inputs=tuple(inputs),
                 prediction=prediction, target=target), features


def _refuse_shadowed_columns(model: str, header, data: str) -> None:
    """A bare e or pi in the model is the constant; if the data has a column of that name,
    the user may have meant it: SymgradError saying how to write either."""
    from .lexer import tokenize
    from .parse import CONSTANTS

    columns = set(header)
    for token in tokenize(model):
        if token.kind == "name" and token.text in CONSTANTS and token.text in columns:
            name = token.text
            raise SymgradError(f"{name} in the model is the constant {name}, but {data} has a "
                               f"column {name!r}: write `{name}` (in backquotes) for the "
                               f"column, or rename it")


def _refuse_unlisted_columns(params, header, data: str) -> None:
    """A parameter named as a column that --features leaves out is that column, forgotten:
    SymgradError saying so, rather than training it as a parameter."""
    columns = set(header)
    for name in params:
        if name in columns:
            raise SymgradError(f"{name!r} in the model is a column of {data} that --features "
                               f"leaves out: add it to --features (a parameter needs a name "
                               f"that is no column)")


MIN_FUZZY_LENGTH = 4   # shorter names (w, b, k0) are parameters, however close to a column
MAX_FUZZY_LENGTH = 64  # longer names are compared up to case only (the index grows as length^2)


def _refuse_misspelt_columns(params, header, data: str, named=frozenset()) -> None:
    """A parameter whose name is a column's up to case, or (4 characters or more) up to one
    edit, is almost certainly that column misspelt: training it as a parameter would exit 0
    with a wrong model. SymgradError with a "did you mean". A parameter of a numbered series
    (w100, with w101 ...) with the same index as a column the model also names (``named``)
    is not: w100 beside x100 is x100's weight (but tmep beside temp, or tmp1 beside temp1, is
    still the column misspelt).
    Linear in the names' total length (an index of the columns' one-deletion variants), not
    parameters x columns."""
    index, series = ColumnIndex(header), Counter(_stem(p) for p in params if _stem(p) != p)
    for name in params:
        column = index.close_to(name, spelt_right=named if series[_stem(name)] > 1 else ())
        if column is not None:
            raise SymgradError(f"{name!r} in the model is not a column of {data}; did you mean "
                               f"{column!r}? (a name that is no column is a parameter: "
                               f"rename it if you meant one)")


class ColumnIndex:
    """The columns by lower-case name, and by every string one deletion away from a name:
    two names one edit (or one swap of neighbours) apart share such a string."""

    def __init__(self, header):
        self.position = {column: k for k, column in reversed(list(enumerate(header)))}
        self.by_case: dict[str, list[str]] = {}
        self.by_deletion: dict[str, list[str]] = {}
        for column in self.position:
            self.by_case.setdefault(column.lower(), []).append(column)
            if MIN_FUZZY_LENGTH <= len(column) <= MAX_FUZZY_LENGTH:
                for key in _deletions(column):
                    self.by_deletion.setdefault(key, []).append(column)

    def close_to(self, name: str, spelt_right=frozenset()) -> str | None:
        """The first column (in header order) that ``name`` is close to, else None; one edit
        from a column in ``spelt_right`` with the same index (w100, x100) is not close."""
        found = list(self.by_case.get(name.lower(), ()))
        if MIN_FUZZY_LENGTH <= len(name) <= MAX_FUZZY_LENGTH:
            found += [column for key in _deletions(name) for column in self.by_deletion.get(key, ())
                      if len(column) >= MIN_FUZZY_LENGTH and _one_edit_apart(name, column)
                      and not (column in spelt_right and same_index(name, column))]
        return min(found, key=self.position.__getitem__, default=None)


def same_index(a: str, b: str) -> bool:
    """Whether two names end in the same number after different stems (w100 and x100)."""
    index = a[len(_stem(a)):]
    return bool(index) and b[len(_stem(b)):] == index and a != b


def _stem(name: str) -> str:
    """The name without its trailing number (w of w100)."""
    return name.rstrip("0123456789")


def _deletions(name: str) -> set[str]:
    """The name, and the name with any one character left out."""
    return {name} | {name[:k] + name[k + 1:] for k in range(len(name))}


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    start = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if len(a) == len(b):
        swapped = a[start + 1:start + 2] + a[start:start + 1] == b[start:start + 2]
        return a[start + 1:] == b[start + 1:] or (swapped and a[start + 2:] == b[start + 2:])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[start + 1:] == shorter[start:]


def recipe_kernel(recipe: ModelRecipe, header):
    """The compiled Kernel of the model this recipe builds over ``header`` (its inputs: the
    features, then the target). Keyed by the recipe's strings and the header, not by the
    model: a cache hit builds no model, so it imports no SymPy and derives nothing. The model
    depends on nothing else, and its checks (misspelt columns, ...) passed when it was
    built."""
    import json

    from .compiler import compile_keyed

    features = None if recipe.features is None else list(recipe.features)
    material = "recipe:" + json.dumps([recipe.model, recipe.target, features, recipe.loss,
                                        list(header)])
    return compile_keyed(material, lambda: training_model(recipe, header)[0], None, None,
                         backend=recipe.backend, reduction=recipe.kernel_reduction,
                         dtype=recipe.dtype, order=recipe.order)


def row_loss(loss: str, prediction, target):
    """The per-row loss: a name, or an expression of ``yhat`` and the target column."""
    import sympy as sp

    from .losses import LOSSES
    from .parse import parse_expr

    if loss == "sse":
        return LOSSES["mse"](prediction, target)
    if loss == "ce":
        raise SymgradError("--loss ce is for layer chains (e.g. --model \"dense(3)\"), whose "
                           "last layer gives one logit per class; an expression model has one "
                           "output: use mse, mae, bce or a loss expression of yhat")
    if loss in LOSSES:
        return LOSSES[loss](prediction, target)
    expression = parse_expr(loss)
    if sp.Symbol("yhat") not in expression.free_symbols:
        raise SymgradError(f"the loss expression {loss!r} does not use yhat (the model's output)")
    name = getattr(target, "name", target)  # a Symbol, or its name
    if sp.Symbol(name) not in expression.free_symbols:  # (yhat - z)**2: z would be fitted
        raise SymgradError(f"the loss expression {loss!r} does not use the target column "
                           f"{name!r}")
    return expression.xreplace({sp.Symbol("yhat"): prediction})
