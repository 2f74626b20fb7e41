"""sensor-neuron (lecture 001): sigma(w0*x0 + w1*x1 + b) on 12 sensor readings.

The bundled CSV holds y already scaled by 0.01, as the lecture trains it; the raw-y MSE at
W = (1, 1), b = 0 is 2673.9028. Full batch, SGD lr 0.01, 20,000 epochs.
    python examples/sensor_neuron.py    (or: symgrad train examples/data/sensor.csv
        --model "sigmoid(w0*x0 + w1*x1 + b)" --target y --init w0=1,w1=1,b=0 --epochs 20000)
"""
from pathlib import Path

import symgrad

csv_path = str(Path(__file__).parent / "data" / "sensor.csv")
table = symgrad.read_csv(csv_path, ["x0", "x1", "y"])
model = symgrad.Model.supervised("sigmoid(w0*x0 + w1*x1 + b)", target="y", loss="mse",
                                 inputs=["x0", "x1"])
f = symgrad.compile(model)
raw = table.matrix(["x0", "x1", "y"])
raw[:, 2] *= 100
start = [0.0, 1.0, 1.0]  # (b, w0, w1)
print("yhat at W = (1, 1), b = 0:", f.predict(start, raw).round(4))
print(f"MSE on raw y: {f(start, raw)[0]:.5f}")
data = table.matrix(["x0", "x1", "y"])
result = symgrad.train(f, data, start, symgrad.SGD(lr=0.01), epochs=20_000)
print("trained (b, w0, w1):", result.params, "MSE:", result.history[-1])
