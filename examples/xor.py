"""xor (lecture 003): Linear(2,3) -> sigmoid -> Linear(3,1), MSE, SGD lr 0.01, 50,000 epochs,
one sample at a time, data order; seeds 0-4 all converge.
    python examples/xor.py    (or: symgrad train examples/data/xor.csv
        --model "dense(3) -> sigmoid -> dense(1)" --target label --batch-size 1 --epochs 50000)
"""
import numpy as np

import symgrad
from symgrad.layers import init_params, parse_chain
from symgrad.layers.chain_model import ChainModel

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
truth = np.array([0.0, 1.0, 1.0, 0.0])
chain = parse_chain("dense(3) -> sigmoid -> dense(1)")
model = ChainModel(chain, ["a", "b"], "mse")  # 13 parameters: unrolled, fully compiled loop
for seed in range(5):
    result = symgrad.train(model.compile(), model.matrix(X, truth), init_params(chain, 2, seed),
                           symgrad.SGD(lr=0.01), epochs=50_000, batch_size=1)
    print(f"seed {seed}:", np.round(model.outputs(result.params, X), 4))
