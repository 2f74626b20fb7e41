"""Every CUDA kernel compiled for a real GPU (PTX for compute capability 8.0 through NVVM), no
device needed. The simulator runs kernels as Python, so it accepts code that numba.cuda cannot
compile (it found the builtin max of floats and np.sqrt in the device code); this does not.
Needs NVVM (the CUDA toolkit's compiler library); without it the test is skipped and says so."""
import types as pytypes

import pytest
from numba import cuda, types

import symgrad
from symgrad.layers import ACTIVATIONS, Activation
from support import IDS, MODELS


def nvvm_present() -> bool:
    try:
        from numba.cuda.cudadrv.nvvm import NVVM
        NVVM()
        return True
    except Exception:
        return False


pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not nvvm_present(), reason="no NVVM (CUDA toolkit) here: the "
                                 "kernels were checked on the simulator only")]
F64, I64, BOOL = types.float64, types.int64, types.boolean
VECTOR, MATRIX = types.Array(F64, 1, "A"), types.Array(F64, 2, "A")
INDICES = types.Array(I64, 1, "A")


@pytest.fixture(autouse=True)
def no_device_needed(monkeypatch):
    """Device functions are compiled for the current device's compute capability: pretend one
    (8.0), and let the cuda backend build its modules without a GPU."""
    import numba.cuda.dispatcher as dispatcher

    from symgrad.runtime import cuda_support
    monkeypatch.setattr(dispatcher, "get_current_device",
                        lambda: pytypes.SimpleNamespace(compute_capability=(8, 0)))
    monkeypatch.setattr(cuda_support, "require_device", lambda: None)


def compiles(kernel, *signature) -> bool:
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(8, 0))
    return ".entry" in ptx


@pytest.mark.parametrize("name, loss, params, inputs", MODELS, ids=IDS)
def test_the_scalar_models_kernels_compile(name, loss, params, inputs):
    f = symgrad.compile(loss, params.split(), inputs.split(), backend="cuda")
    assert compiles(f.module.partial_sums, VECTOR, INDICES, BOOL, I64, I64, MATRIX, MATRIX)


def test_prediction_and_float32_kernels_compile():
    model = symgrad.Model.supervised("softplus(w*x + b)", target="y", inputs=["x"])
    f = symgrad.compile(model, backend="cuda", dtype="float32")
    single, rows = types.Array(types.float32, 1, "A"), types.Array(types.float32, 2, "A")
    assert compiles(f.module.partial_sums, single, INDICES, BOOL, I64, I64, MATRIX, rows)
    assert compiles(f.module.predict_rows, single, I64, MATRIX, rows)


@pytest.mark.parametrize("kind", range(4), ids=["sgd", "momentum", "nesterov", "adam"])
def test_the_optimizer_step_kernels_compile(kind):
    from symgrad.runtime import cuda_support
    for kernel in (cuda_support.check_step, cuda_support.apply_step):
        assert compiles(kernel, I64, VECTOR, VECTOR, MATRIX, VECTOR, I64, INDICES)
    assert compiles(cuda_support.add_block_sums, MATRIX, I64, F64, INDICES, VECTOR, VECTOR, I64,
                    INDICES)
    assert compiles(cuda_support.finish_step, MATRIX, I64, F64, INDICES, VECTOR, VECTOR, I64,
                    I64, VECTOR, MATRIX, VECTOR, I64, INDICES)


def test_the_layer_engines_fixed_kernels_compile():
    from symgrad.layers import cuda as layers
    assert compiles(layers.gemm, MATRIX, MATRIX, MATRIX, BOOL, BOOL, INDICES)
    assert compiles(layers.column_sums, MATRIX, VECTOR, INDICES)
    assert compiles(layers.add_bias, MATRIX, VECTOR, MATRIX, INDICES)
    assert compiles(layers.gather, MATRIX, VECTOR, INDICES, I64, MATRIX, VECTOR, INDICES)


def test_the_layer_engines_generated_loss_kernels_compile():
    from symgrad.layers.plan import generated_kernels
    module = generated_kernels("cuda")
    for rows in (module.ce, module.mse):
        assert compiles(rows, MATRIX, VECTOR, VECTOR, MATRIX, MATRIX, F64, INDICES)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activations_layer_kernels_compile(name):
    from symgrad.layers.plan import generated_kernels
    module = generated_kernels("cuda", Activation(name))
    assert compiles(module.forward, MATRIX, VECTOR, MATRIX, MATRIX, INDICES)
    assert compiles(module.backward, MATRIX, MATRIX, MATRIX, MATRIX, INDICES)
