"""Layer chains: ``"dense(16) -> tanh -> dense(3)"``, from the parsed value to its engines.

    chain     the frozen value (Chain, Dense, Activation), parsing, parameter shapes and layout
    symbolic  the chain as one scalar SymPy model (unrolled), and its index-notation formulas
    network   the layer engine (plan, CPU engine, fused SGD) and ChainModel, which picks one
    cuda      the layer engine on numba.cuda

The chain's own API is re-exported here; importing it loads neither SymPy nor Numba.
"""
from .chain import (ACTIVATIONS, Activation, Chain, Dense, check_loss, flatten, init_params,
                    is_chain, parse_chain, rule_symbols, unflatten)

__all__ = ["ACTIVATIONS", "Activation", "Chain", "Dense", "check_loss", "flatten", "init_params",
           "is_chain", "parse_chain", "rule_symbols", "unflatten"]
