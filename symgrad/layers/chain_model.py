"""ChainModel: a layer chain compiled for training and prediction, by the engine its size picks."""
from __future__ import annotations

import numpy as np

from ..compiler import dtype_name
from ..errors import SymgradError
from .chain import Chain


UNROLL_PARAMS = 32  # nets this small run unrolled (docs/networks.md: compile time grows fast)


class ChainModel:
    """A chain compiled for training and prediction, whichever engine its size picks.

    Nets with at most UNROLL_PARAMS parameters are unrolled into one scalar SymPy model and
    go through the ordinary pipeline (fused per-row kernel, whole epochs in compiled code):
    the fastest per step, but Numba's compile time grows steeply with the unrolled program
    (measured: 13 parameters ~10 s, 131 ~19 s, 403 ~91 s, once per model, then cached).
    Larger nets use CpuNetwork (GEMMs + fused elementwise kernels). Targets: a numeric
    column for mse, class indices for ce (one-hot columns for the unrolled engine).
    ``dtype`` float32 is for the cuda backend (the CPU layer engine computes in float64).
    """

    def __init__(self, chain: Chain, features, loss: str, backend: str = "numba",
                 dtype: str = "float64"):
        dtype = dtype_name(dtype)
        if dtype != "float64" and backend != "cuda":
            raise SymgradError(f"layer chains compute in {dtype} on the cuda backend only; on "
                               f"the CPU they compute in float64")
        self.chain, self.features, self.loss, self.backend = chain, list(features), loss, backend
        self.dtype = dtype
        self.size = sum(int(np.prod(s)) for _, s in chain.shapes(len(self.features)))
        self.unrolled = self.size <= UNROLL_PARAMS
        self.width = chain.dense[-1].width
        self.kernel = None

    def compile(self):
        """The kernel symgrad.train drives (compiled on first call, then cached)."""
        if self.kernel is None:
            self.kernel = self._unrolled_kernel() if self.unrolled else self._layer_engine()
        return self.kernel

    def _layer_engine(self):
        """The layer engine for the backend (cuda's is imported only when asked for)."""
        from ..compiler import require_runtime
        require_runtime(self.backend)
        if self.backend != "cuda":
            from .cpu import CpuNetwork
            return CpuNetwork(self.chain, len(self.features), self.loss)
        from .cuda import CudaNetwork
        return CudaNetwork(self.chain, len(self.features), self.loss, self.dtype)

    def _unrolled_kernel(self):
        """The unrolled model, compiled; keyed by the chain's text, so a cache hit needs no
        SymPy (the model is built only to compile it)."""
        from ..compiler import compile_keyed

        def build():
            from .symbolic import unrolled_model
            return unrolled_model(self.chain, self.features, self.loss)
        params = [f"{name}_{'_'.join(map(str, index))}"
                  for name, shape in self.chain.shapes(len(self.features))
                  for index in np.ndindex(*shape)]
        targets = [f"y{k}" for k in range(self.width)] if self.loss == "ce" else ["y"]
        key = f"chain:{self.chain.text}|{self.loss}|{','.join(self.features)}"
        return compile_keyed(key, build, params, [*self.features, *targets],
                             backend=self.backend, dtype=self.dtype)

    def matrix(self, X, targets) -> np.ndarray:
        """The data matrix the kernel trains on: features, then the targets as it wants them."""
        if self.loss == "ce" and self.unrolled:
            targets = np.eye(self.width)[np.asarray(targets, dtype=np.int64)]
        return np.column_stack([X, targets])

    def outputs(self, theta, X) -> np.ndarray:
        """The last layer's values per row: (rows,) for one output, else (rows, width); the
        probability for bce (the layer engine leaves the final sigmoid to its loss)."""
        kernel = self.compile()
        if self.unrolled:
            return kernel.predict(theta, {name: X[:, j] for j, name in enumerate(self.features)})
        values = kernel.predict(theta, X)
        if self.loss == "bce":
            values = _sigmoid(values)
        return values[:, 0] if values.shape[1] == 1 else values


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
