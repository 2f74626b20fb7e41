"""The CLI's jobs as library functions, one per command: ``derivation`` (derive),
``train_file`` (train), ``fit_file`` (fit) and ``predict_file`` (predict).

Each job is a short pipeline over the library and returns a value describing what happened;
the CLI only prints it and picks the exit status. One concern per module:

    options      TrainOptions (what train is asked) and TrainOutcome (what it answers);
                 FitOptions and FitOutcome likewise
    train        train_file: on one machine or on a Dask cluster, then --out written
    fit          fit_file: symgrad.fit on one machine or a Dask cluster, then --out written
    setups       Setup, what a run needs, built per kind of model from the options and CSV
    initial      --init parsed, the other parameters drawn from --seed
    labels       a cross-entropy target's class labels as indices
    params_file  PARAMS.json: written by train, read back (and checked) by predict
    predict      predict_file and score_file
    evaluation   the validation split and the metrics train and fit report
    derive       derivation

Importing this package loads neither SymPy, Numba nor Dask; the jobs import them when run.
"""
from .derive import derivation
from .fit import fit_file
from .options import FitOptions, FitOutcome, TrainOptions, TrainOutcome
from .params_file import read_params
from .predict import predict_file, score_file
from .setups import checked_header
from .train import train_file

__all__ = ["FitOptions", "FitOutcome", "TrainOptions", "TrainOutcome", "checked_header",
           "derivation", "fit_file", "predict_file", "read_params", "score_file",
           "train_file"]
