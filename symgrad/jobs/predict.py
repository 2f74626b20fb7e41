"""The predict job: ``predict_file`` applies a PARAMS.json to a CSV file and returns CSV text."""
from __future__ import annotations

import numpy as np

from ..errors import SymgradError
from .params_file import read_params


def predict_file(params_path: str, data_path: str) -> str:
    """CSV text: the feature columns and a last column ``prediction``, one line per row
    (numbers as repr, so float64 round-trips; names and labels quoted where CSV needs it)."""
    from ..data import csv_text, read_csv
    from ..layers import is_chain

    document = read_params(params_path)
    features = document["features"]
    table = read_csv(data_path, features)
    predictions = (_chain_predictions if is_chain(document["model"]) else
                   _expression_predictions)(document, table)
    columns = [map(repr, table.columns[n].tolist()) for n in features]
    return csv_text([*features, "prediction"], zip(*columns, predictions))


def _expression_predictions(document, table) -> list:
    """The kernel train (or fit) compiled for this model: the same recipe and header give
    the same cache key, so it is loaded, not built."""
    from ..recipe import recipe_kernel

    kernel = recipe_kernel(*_training_recipe(document))
    names, features, target = document["params"], document["features"], document["target"]
    if set(kernel.params) != set(names) or list(kernel.inputs[:-1]) != list(features):
        raise SymgradError(f"the file's parameters ({', '.join(names)}) and features "
                           f"({', '.join(features)}) are not the model's "
                           f"({', '.join(kernel.params)}; {', '.join(kernel.inputs[:-1])})")
    theta = np.array([names[p] for p in kernel.params], dtype=np.float64)
    # no feature: the (unread) target column tells the kernel how many rows to predict
    data = {n: table.columns[n] for n in features}
    data[target] = np.zeros(table.rows)
    return [repr(float(v)) for v in kernel.predict(theta, data)]


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
                         order=2 if "method" in document else 1)
    return recipe, header


def _valid_key(key) -> bool:
    def strings(value):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(key, dict) and strings(key.get("columns")) and \
        (key.get("features") is None or strings(key.get("features")))


def _chain_predictions(document, table) -> list:
    """Values for mse; for ce the class label (as it appeared in training) of the top logit."""
    from ..layers import flatten, parse_chain
    from ..layers.chain_model import ChainModel

    chain, features = parse_chain(document["model"]), document["features"]
    theta = flatten(chain, len(features), document["params"])
    model = ChainModel(chain, features, document.get("loss", "mse"))
    outputs = model.outputs(theta, table.matrix(features))
    if document.get("loss") == "ce":
        classes = document["classes"]  # one per output: read_params checked
        return [classes[k] for k in np.argmax(outputs.reshape(table.rows, -1), axis=1)]
    return [repr(float(v)) for v in outputs]
