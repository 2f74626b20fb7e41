"""Generated source for two models, checked in: a change in codegen shows up in review.

Set SYMGRAD_UPDATE_SNAPSHOTS=1 to rewrite the files after an intended change.
"""
import os
from pathlib import Path

import pytest

from symgrad import derive, lower
from symgrad.codegen.python_source import python_source

SNAPSHOTS = Path(__file__).parent / "snapshots"
CASES = {
    "sigmoid_neuron": ("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", ["w0", "w1", "b"], ["x0", "x1", "y"]),
    "bce_logistic": ("bce(sigmoid(w*x + b), y)", ["w", "b"], ["x", "y"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_program_matches_snapshot(name):
    loss, params, inputs = CASES[name]
    source = python_source(lower(derive(loss, params=params, inputs=inputs)))
    path = SNAPSHOTS / f"{name}.py.txt"
    if os.environ.get("SYMGRAD_UPDATE_SNAPSHOTS"):
        path.write_text(source)
    assert source == path.read_text()


ACTIVATION_CASES = {  # the layer engines' generated kernels: (backend module, activation)
    "tanh_layer_kernels": ("symgrad.codegen.layer_kernels", "tanh"),
    "elu_cuda_layer_kernels": ("symgrad.layers.cuda", "elu"),
}


@pytest.mark.parametrize("name", sorted(ACTIVATION_CASES))
def test_generated_activation_kernels_match_snapshot(name):
    import importlib

    from symgrad.layers import Activation
    module, activation = ACTIVATION_CASES[name]
    source = importlib.import_module(module).activation_source(Activation(activation))
    path = SNAPSHOTS / f"{name}.py.txt"
    if os.environ.get("SYMGRAD_UPDATE_SNAPSHOTS"):
        path.write_text(source)
    assert source == path.read_text()
