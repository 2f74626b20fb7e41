"""The bundled examples run and print the seed lectures' numbers."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {
    "hours_sgd.py": ["grad: 1.0 2.0 -2.0", "grad: 2.0 4.0 -7.84", "grad: 3.0 6.0 -16.2288",
                     "predict (after training) 4 7.804863933862125"],
    "momentum_line.py": ["gradient descent: w =", "momentum: w ="],
    "sensor_neuron.py": ["MSE on raw y: 2673.9028", "[0.8022 1.     1."],
    "cubic_sin.py": ["1999 ", "Result: y ="],
    "derive_neuron.py": ["d/w0 = 2*x0*(1 - sigmoid(b + w0*x0 + w1*x1))", "def loss_and_gradient"],
    "xor.py": [f"seed {k}: [0. 1. 1. 0.]" for k in range(5)],
    "iris.py": ["classes: ['setosa', 'versicolor', 'virginica']", "training accuracy 0.98"],
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script):
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for text in EXPECTED[script]:
        assert text in result.stdout, (text, result.stdout)
