"""Derivation speed and program size: symgrad's reverse accumulation vs naive sympy.diff + cse.

For each model: symgrad's model construction + derive + lower (median of --repeats cold runs),
the program's operation count against the loss's own (both CSE'd the same way), and the naive
path: sympy.diff once per parameter, then sympy.cse over all partials (run once for the MLP).

    python benchmarks/derive.py [--repeats 5] [--skip-naive-mlp]
"""
from __future__ import annotations

import argparse

import sympy as sp

from symgrad import Model, derive, lower
from symgrad.program import lower_loss
from symgrad.layers.symbolic import unrolled_model
from symgrad.layers import parse_chain
from timing import timed


def sensor_neuron() -> Model:
    return Model.of("(sigmoid(w0*x0 + w1*x1 + b) - y)**2", ["w0", "w1", "b"], ["x0", "x1", "y"])


def cubic() -> Model:
    return Model.of("(a + b*x + c*x**2 + d*x**3 - y)**2", ["a", "b", "c", "d"], ["x", "y"])


def mlp() -> Model:
    chain = parse_chain("dense(16) -> tanh -> dense(16) -> tanh -> dense(3)")
    return unrolled_model(chain, ["x0", "x1", "x2", "x3"], "ce")


def cold(fn, repeats):
    """timed(), each repeat with SymPy's memo cache cleared: every run starts cold."""
    return timed(fn, repeats, before=sp.core.cache.clear_cache)


def naive(model: Model):
    partials = [sp.diff(model.loss, p) for p in model.params]
    return sp.cse(partials + [model.loss])


def naive_ops(cse_result) -> int:
    replacements, exprs = cse_result
    return sum(sp.count_ops(e) for _, e in replacements) + sum(sp.count_ops(e) for e in exprs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-naive-mlp", action="store_true")
    args = parser.parse_args()
    header = (f"{'model':<24}{'params':>7}{'symgrad s':>11}{'prog ops':>10}{'loss ops':>10}"
              f"{'ratio':>7}{'naive diff s':>14}{'naive cse s':>13}{'naive ops':>11}{'speedup':>9}")
    print(header)
    for name, build in (("sensor neuron", sensor_neuron), ("cubic", cubic),
                        ("MLP 4-16-16-3 tanh+CE", mlp)):
        model = build()
        # build the model inside the timed call too: SymPy caches assumptions on the
        # expression objects, so deriving the same objects again would hide first-call costs
        seconds, program = cold(lambda: lower(derive(build())), args.repeats)
        loss_ops = lower_loss(derive(model)).operation_count()
        ops = program.operation_count()
        row = (f"{name:<24}{len(model.params):>7}{seconds:>11.3f}{ops:>10}{loss_ops:>10}"
               f"{ops / loss_ops:>7.2f}")
        if build is mlp and args.skip_naive_mlp:
            print(row + f"{'skipped':>14}")
            continue
        repeats = 1 if build is mlp else args.repeats
        diff_s, partials = cold(lambda: [sp.diff(model.loss, p) for p in model.params], repeats)
        cse_s, reduced = cold(lambda: sp.cse(partials + [model.loss]), repeats)
        print(row + f"{diff_s:>14.3f}{cse_s:>13.3f}{naive_ops(reduced):>11}"
                    f"{(diff_s + cse_s) / seconds:>8.0f}x", flush=True)


if __name__ == "__main__":
    main()
