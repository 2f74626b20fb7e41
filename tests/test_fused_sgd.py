"""The layer engine's fused SGD step (weight updates folded into the gradient GEMMs through
numpy's own BLAS): the same iterates as the unfused path, the same divergence behaviour, a
bound on |W| that never undercounts, and the BLAS call against numpy."""
import numpy as np
import pytest

import symgrad
from symgrad.runtime import blas
from symgrad.layers import init_params, parse_chain
from symgrad.layers.cpu import CpuNetwork
from symgrad.layers.fused_sgd import FusedSGD

CASES = [("dense(8) -> tanh -> dense(6) -> relu -> dense(3)", "ce", 0.0),
         ("dense(5) -> dense(4) -> sigmoid -> dense(1)", "mse", 0.01),
         ("tanh -> dense(7) -> elu -> dense(4) -> log_softmax", "ce", 0.1)]


def problem(text, loss, rows=37, features=4, seed=0):
    rng = np.random.default_rng(seed)
    chain = parse_chain(text)
    X = rng.normal(size=(rows, features))
    width = chain.dense[-1].width
    y = rng.integers(0, width, rows) if loss == "ce" else rng.normal(size=rows)
    return CpuNetwork(chain, features, loss), np.column_stack([X, y]), \
        init_params(chain, features, seed)


def run(kernel, data, theta, optimizer, fused, monkeypatch, **options):
    with monkeypatch.context() as patch:
        if not fused:
            patch.setattr(CpuNetwork, "fused_step", lambda self, opt: None)
        return symgrad.train(kernel, data, theta, optimizer, **options)


@pytest.mark.parametrize("text, loss, decay", CASES, ids=[c[0] for c in CASES])
def test_fused_sgd_takes_the_same_steps_as_gradient_then_update(text, loss, decay, monkeypatch):
    kernel, data, theta = problem(text, loss)
    optimizer = symgrad.SGD(lr=0.05, weight_decay=decay)
    options = dict(epochs=6, batch_size=5, shuffle=True, seed=3)
    fused = run(kernel, data, theta, optimizer, True, monkeypatch, **options)
    plain = run(kernel, data, theta, optimizer, False, monkeypatch, **options)
    assert fused.steps == plain.steps == 6 * 8
    np.testing.assert_allclose(fused.params, plain.params, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fused.history, plain.history, rtol=1e-12)
    assert not np.array_equal(fused.params, theta)


def test_other_rules_are_not_fused():
    kernel, _, _ = problem(*CASES[0][:2])
    assert isinstance(kernel.fused_step(symgrad.SGD(lr=0.1)), FusedSGD)
    for optimizer in (symgrad.Momentum(lr=0.1), symgrad.Nesterov(lr=0.1), symgrad.Adam()):
        assert kernel.fused_step(optimizer) is None


def test_divergence_stops_where_the_unfused_path_stops_with_the_same_finite_params(monkeypatch):
    kernel, data, theta = problem("dense(6) -> relu -> dense(1)", "mse", rows=20)
    data[:, :-1] *= 1e3
    optimizer = symgrad.SGD(lr=3.0)
    fused = run(kernel, data, theta, optimizer, True, monkeypatch, epochs=500, batch_size=4)
    plain = run(kernel, data, theta, optimizer, False, monkeypatch, epochs=500, batch_size=4)
    assert fused.diverged_epoch is not None and fused.diverged_epoch == plain.diverged_epoch
    assert fused.steps == plain.steps
    assert np.isfinite(fused.params).all() and np.abs(fused.params).max() > 1e100
    np.testing.assert_allclose(fused.params, plain.params, rtol=1e-9)


def test_the_bound_on_each_weight_matrix_never_undercounts():
    kernel, data, theta = problem(*CASES[0][:2])
    step = kernel.fused_step(symgrad.SGD(lr=0.5))
    n, (X, y) = kernel.columns(data)
    theta = theta.copy()
    for begin in range(0, n, 4):
        assert step(theta, len(X[begin:begin + 4]), [X[begin:begin + 4], y[begin:begin + 4]])
        weights = kernel.views(theta)[::2]
        for layer, bound in step.bounds.items():
            assert np.abs(weights[layer]).max() <= bound
    assert sorted(step.bounds) == [0, 1, 2]


def test_a_step_that_could_overflow_takes_the_checked_path(monkeypatch):
    kernel, data, theta = problem(*CASES[0][:2])
    step = kernel.fused_step(symgrad.SGD(lr=0.1))
    theta = theta.copy()
    kernel.views(theta)[4][0, 0] = 2e300          # past LIMIT: finiteness can't be proven
    checked, original = [], FusedSGD._checked_step

    def spy(self, *args):
        checked.append(args)
        return original(self, *args)
    monkeypatch.setattr(FusedSGD, "_checked_step", spy)
    n, columns = kernel.columns(data[:4])
    before = theta.copy()
    assert np.isfinite(step(theta, n, columns)) and len(checked) == 1
    assert np.isfinite(theta).all() and not np.array_equal(theta, before)
    assert step.bounds == {}                       # measured afresh next step


def test_activation_kernels_return_the_sum_of_squares_they_wrote():
    kernel, data, theta = problem("dense(9) -> tanh -> dense(3)", "ce")
    tanh = kernel.kernels["tanh"]
    rng = np.random.default_rng(1)
    Z, b = rng.normal(size=(11, 9)), rng.normal(size=9)
    A, dZ, db = np.empty_like(Z), np.empty_like(Z), np.empty(9)
    assert tanh.forward(Z.copy(), b, A) == pytest.approx(np.vdot(A, A), rel=1e-12)
    assert tanh.backward(Z, Z, A, dZ, db) == pytest.approx(np.vdot(dZ, dZ), rel=1e-12)
    np.testing.assert_allclose(A, np.tanh(Z + b), rtol=1e-14)


@pytest.mark.parametrize("k, m, n, alpha, beta", [(7, 5, 3, -0.1, 1.0), (1, 4, 4, 2.0, 0.5),
                                                  (64, 33, 17, -1e-3, 0.99)])
def test_gemm_update_is_alpha_a_transpose_b_plus_beta_c(k, m, n, alpha, beta, monkeypatch):
    rng = np.random.default_rng(k)
    A, B, C = rng.normal(size=(k, m)), rng.normal(size=(k, n)), rng.normal(size=(m, n))
    expected = alpha * A.T @ B + beta * C
    bundled = C.copy()
    blas.gemm_update(bundled, A, B, alpha, beta)
    np.testing.assert_allclose(bundled, expected, rtol=1e-13, atol=1e-14)
    monkeypatch.setattr(blas, "bundled_dgemm", lambda: None)   # the numpy fallback
    fallback = C.copy()
    blas.gemm_update(fallback, A, B, alpha, beta)
    np.testing.assert_allclose(fallback, expected, rtol=1e-13, atol=1e-14)
    strided = C.copy()
    blas.gemm_update(strided, A[:, ::1], np.asfortranarray(B), alpha, beta)
    np.testing.assert_allclose(strided, expected, rtol=1e-13, atol=1e-14)


def test_ctrl_c_during_an_update_lands_after_it():
    import os
    import signal

    from symgrad.stopping import deferred
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)
    assert finished == [True] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
