"""hours-sgd (lectures 000, 002): yhat = x*w, per-sample SGD, lr 0.01, 10 epochs, data order.

The lecture's PyTorch loop prints the first epoch's gradients -2.0, -7.84, -16.2288 and
predict(4) = 7.804863933862125 after training; symgrad reproduces them in float64.
    python examples/hours_sgd.py        (same as: symgrad train examples/data/hours.csv
        --model "w*x" --target y --init w=1 --batch-size 1 --epochs 10 --out params.json)
"""
from pathlib import Path

import numpy as np

import symgrad

table = symgrad.read_csv(str(Path(__file__).parent / "data" / "hours.csv"), ["x", "y"])
data = table.matrix(["x", "y"])
model = symgrad.Model.supervised("w*x", target="y", loss="mse", inputs=["x"])
f = symgrad.compile(model)
four = {"x": np.array([4.0])}
print("predict (before training)", 4, f.predict([1.0], four)[0])

theta = np.array([1.0])
for x, y in data:  # the first epoch by hand, to show each sample's gradient
    _, grad = f(theta, np.array([[x, y]]))
    print("\tgrad:", x, y, grad[0])
    symgrad.SGD(lr=0.01).step(theta, grad, np.zeros((2, 1)), 1)

result = symgrad.train(f, data, [1.0], symgrad.SGD(lr=0.01), epochs=10, batch_size=1)
print("predict (after training)", 4, f.predict(result.params, four)[0])
