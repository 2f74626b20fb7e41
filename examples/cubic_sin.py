"""cubic-sin (lecture 004): fit y = sin(x) on 2,000 points in [-pi, pi] with
yhat = a + b x + c x^2 + d x^3, the sum of squared errors, lr 1e-6, 2,000 steps of full-batch
gradient descent from random (seeded) parameters. Prints the loss every 100 steps.
    python examples/cubic_sin.py
"""
import math

import numpy as np

import symgrad

x = np.linspace(-math.pi, math.pi, 2000)
model = symgrad.Model.supervised("a + b*x + c*x**2 + d*x**3", target="y", loss="mse",
                                 inputs=["x"])
f = symgrad.compile(model, reduction="sum")
start = np.random.default_rng(0).standard_normal(4)
data = np.column_stack([x, np.sin(x)])
result = symgrad.train(f, data, start, symgrad.SGD(lr=1e-6), epochs=2000)
for t in range(99, 2000, 100):
    print(t, result.history[t])
a, b, c, d = result.params
print(f"Result: y = {a} + {b} x + {c} x^2 + {d} x^3")
