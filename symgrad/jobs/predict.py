"""The predict and score jobs: ``predict_file`` applies a PARAMS.json to a CSV file and
returns CSV text; ``score_file`` measures it on a labelled file (symgrad.metrics).

Both rebuild the trained model from the document (``Trained``): an expression model's kernel
is the one train or fit compiled (the same recipe and header give the same cache key), a
layer chain's is rebuilt from its text.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SymgradError, listed, warn
from ..metrics import metric_kind, softmax
from .params_file import read_params


@dataclass(frozen=True)
class Trained:
    """A PARAMS.json's model: the kernel it trained, its parameters, and how its data and
    outputs are laid out."""
    document: dict
    kernel: object
    theta: np.ndarray
    setup: object         # what reads a labelled file: read_rows, outputs (jobs.setups.Setup)

    @property
    def features(self) -> list[str]:
        return self.document["features"]

    @property
    def read_features(self) -> list[str]:
        """The features the prediction reads: not a column only the loss read (a weight)."""
        reads = getattr(self.kernel, "prediction_inputs", None)
        return self.features if reads is None else [f for f in self.features if f in reads]

    @property
    def classes(self) -> list[str] | None:
        return self.document.get("classes")

    @property
    def kind(self) -> str:
        return metric_kind(self.document.get("loss", "mse"))

    def outputs(self, data: np.ndarray) -> np.ndarray:
        return self.setup.outputs(self.kernel, self.theta, data)


def predict_file(params_path: str, data_path: str, proba: bool = False,
                 delimiter: str | None = None) -> str:
    """CSV text: the feature columns and a column ``prediction`` (a class label for a
    classifier with labels), then with ``proba`` one column ``p_<label>`` per class (bce:
    the positive class only); numbers as repr, so float64 round-trips. Those columns' names
    take a trailing _ while one is a feature's."""
    from ..data import line_of_row, open_csv, read_csv
    from ..files import csv_text
    from .evaluation import non_finite_outputs

    trained = trained_model(read_params(params_path))
    if proba and trained.kind == "regression":
        raise SymgradError(f"--proba is for classifiers (--loss bce or ce); {params_path} "
                           f"was made with --loss {trained.document.get('loss', 'mse')}")
    read = trained.read_features
    source = open_csv(data_path, delimiter)
    table = read_csv(source, read, _dtype(trained.document))
    data = np.zeros((table.rows, len(trained.features) + 1), order="F")  # no target: zeros,
    for j, name in enumerate(trained.features):                          # nor loss columns
        if name in read:
            data[:, j] = table.columns[name]
    outputs = trained.outputs(data)
    where = non_finite_outputs(outputs, lambda i: line_of_row(source, i))
    if where:
        warn(where)
    columns = [map(repr, table.columns[n].tolist()) for n in read]
    header, cells = [*read, "prediction"], [_predictions(trained, outputs)]
    if proba:
        names, probabilities = _probabilities(trained, outputs)
        header += names
        cells += [[repr(float(p)) for p in column] for column in probabilities.T]
    while len(set(header)) < len(header):  # a feature named prediction (or p_1): ours get a _
        header[len(read):] = [f"{h}_" for h in header[len(read):]]
    return csv_text(header, zip(*columns, *cells))


def score_file(params_path: str, data_path: str, delimiter: str | None = None) -> dict:
    """{"rows": n, "loss": the mean per-row loss, and the metrics of the loss's kind}."""
    from ..data import open_csv
    from .evaluation import Part, part_metrics
    from .setups import checked_header

    document = read_params(params_path)
    trained = trained_model(document)
    source = open_csv(data_path, delimiter)
    checked_header(source, document["target"])
    data, targets = trained.setup.read_rows(source)
    part = Part(data, targets, source=source)
    metrics = part_metrics(trained.kernel, trained.setup.outputs, part, trained.theta,
                           document.get("loss", "mse"), named="the")
    return {"rows": part.rows, **metrics}


def trained_model(document: dict) -> Trained:
    from ..layers import is_chain

    return (_chain_model if is_chain(document["model"]) else _expression_model)(document)


def _expression_model(document) -> Trained:
    from ..recipe import recipe_kernel
    from .setups import Setup, expression_rows

    kernel = recipe_kernel(*_training_recipe(document))
    names, features, target = document["params"], document["features"], document["target"]
    if set(kernel.params) != set(names) or list(kernel.inputs[:-1]) != list(features):
        raise SymgradError(f"the file's parameters ({listed(names)}) and features "
                           f"({listed(features)}) are not the model's "
                           f"({listed(kernel.params)}; {listed(kernel.inputs[:-1])})")
    theta = np.array([names[p] for p in kernel.params], dtype=np.float64)
    loss, classes = document.get("loss", "mse"), document.get("classes")
    setup = Setup(data=None, theta0=theta, build=None, reduction=kernel.reduction,
                  features=features, described=dict,
                  read_rows=lambda source: expression_rows(source, features, target, loss,
                                                           classes, kernel.dtype.name)[:2],
                  outputs=lambda built, theta, data: built.predict(theta, data))
    return Trained(document, kernel, theta, setup)


def _training_recipe(document):
    """(recipe, header) as train (``reduction`` as the kernel applied it) or fit (order 2)
    keyed its kernel; from a file without a kernel_key, the features and target."""
    from ..recipe import ModelRecipe

    key = document.get("kernel_key")
    if _valid_key(key):
        header, features = key["columns"], key["features"]
    else:
        header, features = [*document["features"], document["target"]], document["features"]
    recipe = ModelRecipe(model=document["model"], target=document["target"],
                         features=None if features is None else tuple(features),
                         loss=document.get("loss", "mse"),
                         reduction=document.get("reduction", "mean"),
                         order=2 if "method" in document else 1,
                         dtype=_dtype(document))
    return recipe, header


def _dtype(document) -> str:
    """What the run's kernel computed in (float64 unless the file says float32)."""
    return "float32" if document.get("dtype") == "float32" else "float64"


def _valid_key(key) -> bool:
    def strings(value):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(key, dict) and strings(key.get("columns")) and \
        (key.get("features") is None or strings(key.get("features")))


def _chain_model(document) -> Trained:
    """A layer chain, rebuilt from its text with the file's parameters."""
    from ..layers import flatten, parse_chain
    from .options import TrainOptions
    from .setups import chain_rows

    chain, features = parse_chain(document["model"]), document["features"]
    theta = flatten(chain, len(features), document["params"])
    options = TrainOptions(data="", model=document["model"], target=document["target"],
                           features=tuple(features), loss=document.get("loss", "mse"))
    setup = chain_rows(options, chain, features, document.get("classes"))
    return Trained(document, setup.build(), theta, setup)


def _predictions(trained: Trained, outputs: np.ndarray) -> list[str]:
    """Values; a classifier's labels where it has them: the top logit's class for ce, the
    class of probability > 0.5 for bce."""
    classes = trained.classes
    if trained.kind == "multiclass":
        return [classes[k] for k in np.argmax(outputs.reshape(len(outputs), -1), axis=1)]
    if trained.kind == "binary" and classes is not None:
        return [classes[int(p > 0.5)] for p in outputs]
    return [repr(float(v)) for v in outputs]


def _probabilities(trained: Trained, outputs: np.ndarray):
    """(column names, rows x columns): p_<label> of each class for ce; for bce the positive
    class's (p_1, or p_<the second label> for text labels)."""
    classes = trained.classes
    if trained.kind == "multiclass":
        return [f"p_{c}" for c in classes], softmax(outputs.reshape(len(outputs), -1))
    positive = classes[1] if classes is not None else "1"
    return [f"p_{positive}"], outputs.reshape(-1, 1)
