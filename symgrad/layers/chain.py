"""Layer chains: ``"dense(16) -> tanh -> dense(3)"`` as a frozen value, parsed, with its layout.

A Chain is a sequence of Dense(width) layers (W of shape (width, fan_in), b of width, as in
PyTorch's Linear) and elementwise activations (any one-argument function of the expression
language), optionally ending in softmax or log_softmax. Parameters are named W0, b0, W1, b1,
... and laid out flat in that order, each W row-major, so a theta vector means the same thing
to both lowerings (``layers.chain_model.ChainModel`` picks one by size):
- ``layers.symbolic.unrolled_model``: every weight a scalar symbol (W0_j_i), the whole net one
  SymPy expression that the ordinary pipeline derives and compiles into a fused per-row
  kernel; best for small nets (the unrolled program grows with the number of weights);
- the layer engine (``layers.plan``, walked by ``layers.cpu`` or ``layers.cuda``): GEMMs, the
  elementwise activations and the loss as generated kernels, backprop in the seed-003 index
  notation.
With ``ce`` the last dense layer gives the logits; a final softmax or log_softmax is implied
and may be written (as in PyTorch's Linear -> LogSoftmax with NLLLoss).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import ParseError, SymgradError
from ..primitives import layer_names

OUTPUT_LAYERS = ("softmax", "log_softmax")
ACTIVATIONS = layer_names()  # the expression language's one-argument functions, by the registry
MAX_WIDTH = 1_000_000
MAX_PARAMS = 100_000_000  # 800 MB of float64 parameters, before gradients and optimizer state
DENSE = re.compile(r"dense\(\s*(\d+)\s*\)\Z")


def rule_symbols():
    """(z, a): an activation's input and output, the symbols its rules are written in."""
    import sympy as sp
    return sp.symbols("z a")


@dataclass(frozen=True)
class Dense:
    width: int


@dataclass(frozen=True)
class Activation:
    name: str

    def value(self, z):
        """f(z) as a SymPy expression."""
        from ..parse import FUNCTIONS
        return FUNCTIONS[self.name].build(z)

    def derivative(self):
        """f'(z) in the symbols (z, a) of rule_symbols(), written with the output a = f(z)
        wherever the node's rule reuses the node."""
        from ..reverse import local_derivative
        z, a = rule_symbols()
        value = self.value(z)
        return local_derivative(value, 0).xreplace({value: a})


@dataclass(frozen=True)
class Chain:
    text: str
    layers: tuple

    @property
    def dense(self) -> list[Dense]:
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def output(self) -> str | None:
        """'softmax' or 'log_softmax' when the chain ends in one."""
        last = self.layers[-1]
        return last if isinstance(last, str) else None

    def shapes(self, fan_in: int) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter, in flat order; SymgradError past MAX_PARAMS."""
        shapes, count = [], 0
        for k, layer in enumerate(self.dense):
            shapes += [(f"W{k}", (layer.width, fan_in)), (f"b{k}", (layer.width,))]
            count += layer.width * (fan_in + 1)
            fan_in = layer.width
        if count > MAX_PARAMS:
            raise SymgradError(f"{self.text!r} has {count:,} parameters for {shapes[0][1][1]} "
                               f"inputs; at most {MAX_PARAMS:,} fit in memory")
        return shapes


def check_loss(chain: "Chain", loss: str) -> None:
    """A final softmax/log_softmax belongs to ce (where it is implied); under mse it would
    square one output of a distribution, which no user means. bce trains a probability: a
    chain ending in dense(1) -> sigmoid (logistic regression, and nets ending like it)."""
    if chain.output is not None and loss != "ce":
        raise SymgradError(f"{chain.text!r} ends in {chain.output}, which goes with --loss ce "
                           f"(drop it for --loss {loss})")
    if loss == "bce" and not ends_in_probability(chain):
        raise SymgradError(f"--loss bce needs a chain ending in dense(1) -> sigmoid (a "
                           f"probability); {chain.text!r} does not")


def ends_in_probability(chain: "Chain") -> bool:
    """Whether the chain ends in dense(1) -> sigmoid."""
    *_, before, last = (None, *chain.layers)
    return isinstance(last, Activation) and last.name == "sigmoid" and \
        isinstance(before, Dense) and before.width == 1


def is_chain(text: str) -> bool:
    return "->" in text or text.strip().startswith("dense(")


def parse_chain(text: str) -> Chain:
    """A Chain from 'dense(3) -> sigmoid -> dense(1)'; ParseError naming the bad layer."""
    parts = [part.strip() for part in text.split("->")]
    layers = []
    for position, part in enumerate(parts, start=1):
        layers.append(_layer(part, position, last=position == len(parts)))
    if not any(isinstance(layer, Dense) for layer in layers):
        raise ParseError(f"layer chain {text!r} has no dense(N) layer")
    return Chain(text=" -> ".join(parts), layers=tuple(layers))


def _layer(part: str, position: int, last: bool):
    match = DENSE.match(part)
    if match:
        width = int(match.group(1))
        if not 1 <= width <= MAX_WIDTH:
            raise ParseError(f"layer {position}: dense width must be 1 to {MAX_WIDTH:,}, "
                             f"got {width}")
        return Dense(width)
    if re.fullmatch(r"dense\(.*\)", part):
        raise ParseError(f"layer {position}: dense takes a whole number of units, 1 to "
                         f"{MAX_WIDTH:,}: got {part!r}")
    if part in OUTPUT_LAYERS:
        if not last:
            raise ParseError(f"layer {position}: {part} must be the last layer")
        return part
    if part not in ACTIVATIONS:
        known = "dense(N), " + ", ".join(ACTIVATIONS)
        raise ParseError(f"layer {position}: unknown layer {part!r} (known: {known}, "
                         f"softmax, log_softmax)")
    return Activation(part)


def init_params(chain: Chain, fan_in: int, seed: int) -> np.ndarray:
    """PyTorch Linear's initialisation: W and b uniform in +-1/sqrt(fan_in), from the seed."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, shape in chain.shapes(fan_in):  # each W, then its b with the same bound
        if name.startswith("W"):
            bound = 1.0 / np.sqrt(shape[1])
        parts.append(rng.uniform(-bound, bound, size=shape).ravel())
    return np.concatenate(parts)


def unflatten(chain: Chain, fan_in: int, theta) -> dict[str, np.ndarray]:
    """theta as named arrays: {'W0': (width, fan_in), 'b0': (width,), ...}."""
    out, start = {}, 0
    for name, shape in chain.shapes(fan_in):
        size = int(np.prod(shape))
        out[name] = np.asarray(theta[start:start + size]).reshape(shape)
        start += size
    return out


def flatten(chain: Chain, fan_in: int, named: dict) -> np.ndarray:
    parts = []
    for name, shape in chain.shapes(fan_in):
        value = np.asarray(named.get(name), dtype=np.float64)
        if value.shape != shape:
            raise SymgradError(f"parameter {name} has shape {value.shape}; expected {shape}")
        parts.append(value.ravel())
    return np.concatenate(parts)


