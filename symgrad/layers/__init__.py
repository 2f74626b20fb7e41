"""Layer chains: ``"dense(16) -> tanh -> dense(3)"``, from the parsed value to its engines.

    chain     the frozen value (Chain, Dense, Activation), parsing, parameter shapes and layout
    symbolic  the chain as one scalar SymPy model (unrolled), and its index-notation formulas
    plan      the layer engine's plan of steps, the layout engines share, and the one walker
    cpu       CpuNetwork: the walker over numpy GEMMs and generated Numba kernels
    fused_sgd FusedSGD: plain SGD folded into the CPU engine's weight GEMMs
    cuda      CudaNetwork: the walker over numba.cuda launches (and NetworkRun, its training run)
    model     ChainModel: a chain compiled by the engine its size picks

The chain's own API is re-exported here; importing it loads neither SymPy nor Numba.
"""
from .chain import (ACTIVATIONS, Activation, Chain, Dense, check_loss, flatten, init_params,
                    is_chain, parse_chain, rule_symbols, unflatten)

__all__ = ["ACTIVATIONS", "Activation", "Chain", "Dense", "check_loss", "flatten", "init_params",
           "is_chain", "parse_chain", "rule_symbols", "unflatten"]
