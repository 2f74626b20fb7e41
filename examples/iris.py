"""iris (lecture 000's data set): a softmax classifier dense(16) -> tanh -> dense(3) trained
with cross-entropy and Adam (lr 0.01, 300 epochs, batches of 16, shuffled, seed 0).
    python examples/iris.py   (or the same from the CLI:  symgrad train examples/data/iris.csv
        --model "dense(16) -> tanh -> dense(3)" --target species --loss ce --optimizer adam
        --lr 0.01 --epochs 300 --batch-size 16 --shuffle --seed 0 --out iris.json)
"""
from pathlib import Path

import numpy as np

import symgrad
from symgrad.data import read_labels
from symgrad.layers import init_params, parse_chain
from symgrad.layers.chain_model import ChainModel

path = str(Path(__file__).parent / "data" / "iris.csv")
features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
X = symgrad.read_csv(path, features).matrix(features)
labels = read_labels(path, "species")
classes = sorted(set(labels))
targets = np.array([classes.index(label) for label in labels], dtype=float)

chain = parse_chain("dense(16) -> tanh -> dense(3)")
model = ChainModel(chain, features, "ce")  # 131 parameters: the layer engine
result = symgrad.train(model.compile(), model.matrix(X, targets), init_params(chain, 4, 0),
                       symgrad.Adam(lr=0.01), epochs=300, batch_size=16, shuffle=True, seed=0)
predicted = np.argmax(model.outputs(result.params, X), axis=1)
print("classes:", classes)
print(f"final loss {result.history[-1]:.4f}, training accuracy {np.mean(predicted == targets):.4f}")
