"""Generated source for two models and the layer engines' kernels, checked in: a change in
codegen shows up in review.

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


LAYER_CASES = {  # the layer engines' generated kernels: (dialect, activation; None: the losses)
    "tanh_layer_kernels": ("numba", "tanh"),
    "elu_cuda_layer_kernels": ("cuda", "elu"),
    "loss_layer_kernels": ("numba", None),
    "loss_cuda_layer_kernels": ("cuda", None),
}


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_generated_layer_kernels_match_snapshot(name):
    from symgrad.codegen.layer_kernels import activation_source, loss_source
    from symgrad.layers import Activation
    dialect, activation = LAYER_CASES[name]
    source = loss_source(dialect) if activation is None else \
        activation_source(Activation(activation), dialect)
    path = SNAPSHOTS / f"{name}.py.txt"
    if os.environ.get("SYMGRAD_UPDATE_SNAPSHOTS"):
        path.write_text(source)
    assert source == path.read_text()
