"""momentum-line (lecture 003): w*x + b on five points, E = 0.5*||Xw - y||^2 (a sum), from
(w, b) = (-3, 2): plain gradient descent (alpha 0.05) and momentum (beta 0.5), 25 steps each.
    python examples/momentum_line.py
"""
from pathlib import Path

import symgrad

table = symgrad.read_csv(str(Path(__file__).parent / "data" / "line.csv"), ["x", "y"])
half_squared_error = lambda yhat, y: (yhat - y)**2 / 2  # noqa: E731
model = symgrad.Model.supervised("w*x + b", target="y", loss=half_squared_error, inputs=["x"])
f = symgrad.compile(model, reduction="sum")  # params in name order: (b, w)
for name, optimizer in (("gradient descent", symgrad.SGD(lr=0.05)),
                        ("momentum", symgrad.Momentum(lr=0.05, momentum=0.5))):
    result = symgrad.train(f, table.matrix(["x", "y"]), [2.0, -3.0], optimizer, epochs=25)
    b, w = result.params
    print(f"{name:>16}: w = {w:.6f}, b = {b:.6f}, E = {result.history[-1]:.6f}")
