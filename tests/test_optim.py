"""symgrad.optim: the rules, their declared state, the guard, and the compiled steps that
run the same rules (runtime.numba_support). Trajectories against PyTorch's documented
algorithms are in test_training.py."""
import numpy as np
import pytest

from symgrad.errors import SymgradError
from symgrad.optim import (HYPER_SIZE, OPTIMIZERS as NAMED, RULES, SGD, STATE_ROWS, Adagrad,
                           Adam, AdamW, Momentum, Nesterov, Optimizer, RMSprop, optimizer)

OPTIMIZERS = [SGD(lr=0.1, weight_decay=0.01), Momentum(lr=0.1, momentum=0.8),
              Nesterov(lr=0.05, momentum=0.9), Adam(lr=0.01, beta1=0.8, beta2=0.99),
              RMSprop(lr=0.01, alpha=0.9, weight_decay=0.1), Adagrad(lr=0.1, weight_decay=0.1),
              AdamW(lr=0.01, weight_decay=0.1)]
IDS = [type(o).__name__ for o in OPTIMIZERS]
UNUSED = 7.0  # a state row a rule does not use keeps this value


def _random_problem(size=9, seed=0):
    rng = np.random.default_rng(seed)
    # v (Adam's second moment) is a mean of squares: never negative
    return rng.normal(size=size), rng.normal(size=size), \
        np.abs(rng.normal(size=(STATE_ROWS, size)))


def test_every_optimizer_kind_names_its_rule():
    kinds = {cls.KIND for cls in NAMED.values()}  # AdamW shares Adam's rule
    assert kinds == set(range(len(RULES))) and AdamW.KIND == Adam.KIND
    assert set(NAMED) == {"sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "adamw"}
    assert all(0 <= rule.state_rows <= STATE_ROWS for rule in RULES)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
def test_state_and_hyper_come_from_the_optimizer(opt):
    state = opt.new_state(5)
    assert state.shape == (STATE_ROWS, 5) and not state.any()
    hyper = opt.hyper()
    assert hyper.shape == (HYPER_SIZE,) and hyper[0] == opt.lr


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
def test_a_rule_changes_only_the_state_rows_it_declares(opt):
    theta, grad, state = _random_problem()
    _, m, v = RULES[opt.KIND].update(theta, grad, state[0], state[1], opt.hyper(), 3)
    rows = RULES[opt.KIND].state_rows
    assert (rows >= 1) == (not np.array_equal(m, state[0]))
    assert (rows >= 2) == (not np.array_equal(v, state[1]))


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
def test_compiled_steps_match_the_numpy_step_and_keep_unused_rows(opt):
    from symgrad.runtime.numba_support import guarded_step, step_into

    theta, grad, state = _random_problem(seed=opt.KIND)
    rows = RULES[opt.KIND].state_rows
    state[rows:] = UNUSED
    expected_theta, expected_state = theta.copy(), state.copy()
    assert opt.step(expected_theta, grad, expected_state, 4)

    in_place_theta, in_place_state = theta.copy(), state.copy()
    assert guarded_step(opt.KIND, in_place_theta, grad, in_place_state, opt.hyper(), 4)
    theta_out, state_out = np.empty_like(theta), np.full_like(state, UNUSED)
    assert step_into(opt.KIND, theta, grad, state, opt.hyper(), 4, theta_out, state_out)
    for got_theta, got_state in ((in_place_theta, in_place_state), (theta_out, state_out)):
        np.testing.assert_allclose(got_theta, expected_theta, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(got_state[:rows], expected_state[:rows], rtol=1e-14,
                                   atol=1e-15)
        assert (got_state[rows:] == UNUSED).all()


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=IDS)
def test_a_step_to_a_non_finite_value_changes_nothing(opt):
    from symgrad.runtime.numba_support import guarded_step

    theta, grad, state = _random_problem()
    grad[4] = np.inf
    for step in (opt.step, lambda *a: guarded_step(opt.KIND, a[0], a[1], a[2], opt.hyper(),
                                                   a[3])):
        kept_theta, kept_state = theta.copy(), state.copy()
        with np.errstate(invalid="ignore"):  # Adam's inf/inf: the nan the guard must catch
            assert not step(kept_theta, grad, kept_state, 1)
        assert np.array_equal(kept_theta, theta) and np.array_equal(kept_state, state)


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(lr=-1.0), "lr must be a finite number >= 0"),
    (lambda: Adam(eps=float("nan")), "eps must be a finite number above 0, got nan"),
    (lambda: optimizer("lbfgs", 0.1), "unknown optimizer 'lbfgs'"),
    (lambda: RMSprop(alpha=-0.5), "alpha must be a finite number >= 0"),
    (lambda: Momentum(momentum=1.5), r"momentum must be in \[0, 1\), got 1.5"),
    (lambda: Nesterov(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: Adam(beta1=1.0), r"beta1 must be in \[0, 1\)"),  # 1/(1 - beta1**t)
    (lambda: Adam(beta2=2.0), r"beta2 must be in \[0, 1\)"),
    (lambda: RMSprop(alpha=1.0), r"alpha must be in \[0, 1\)"),
    # a TypeError from numpy's isfinite, or (True) taken as 1
    (lambda: SGD(lr="0.1"), "lr must be a number, not '0.1'"),
    (lambda: Adam(lr=None), "lr must be a number, not None"),
    (lambda: SGD(lr=[0.1]), r"lr must be a number, not \[0.1\]"),
    (lambda: SGD(lr=True), "lr must be a number, not True"),
    (lambda: Adam(eps=0), r"eps must be a finite number above 0, got 0: the step divides by "
                          r"sqrt\(v\) \+ eps"),
    (lambda: Adam(eps=-1e-8), "eps must be a finite number above 0, got -1e-08"),
])
def test_bad_hyperparameters_are_refused(make, message):
    with pytest.raises(SymgradError, match=message):
        make()


def test_the_cli_factory_passes_momentum_only_where_it_is_used():
    assert optimizer("momentum", 0.1, 0.5) == Momentum(lr=0.1, momentum=0.5)
    assert optimizer("adam", 0.1, 0.5) == Adam(lr=0.1)
    assert isinstance(optimizer("sgd", 0.1), Optimizer)
    assert optimizer("rmsprop", 0.1, 0.5) == RMSprop(lr=0.1)
    assert optimizer("adagrad", 0.1) == Adagrad(lr=0.1)


def test_the_factory_s_weight_decay_none_is_each_optimizer_s_own_default():
    assert optimizer("adamw", 0.1) == AdamW(lr=0.1) and AdamW(lr=0.1).weight_decay == 0.01
    assert optimizer("adamw", 0.1, weight_decay=0.0).weight_decay == 0.0
    for name in set(NAMED) - {"adamw"}:
        assert optimizer(name, 0.1).weight_decay == 0.0
        assert optimizer(name, 0.1, weight_decay=0.25).weight_decay == 0.25
    assert optimizer("momentum", 0.1, 0.5, 0.2) == Momentum(lr=0.1, momentum=0.5,
                                                            weight_decay=0.2)


def test_pytorch_s_default_hyperparameters():
    assert (RMSprop().lr, RMSprop().alpha, RMSprop().eps, RMSprop().weight_decay) == \
        (0.01, 0.99, 1e-8, 0.0)
    assert (Adagrad().lr, Adagrad().eps, Adagrad().weight_decay) == (0.01, 1e-10, 0.0)
    assert (AdamW().lr, AdamW().beta1, AdamW().beta2, AdamW().eps, AdamW().weight_decay) == \
        (0.001, 0.9, 0.999, 1e-8, 0.01)


def test_adamw_s_decay_is_decoupled_and_adam_s_is_l2():
    from symgrad.optim import DECOUPLED_DECAY, WEIGHT_DECAY
    adamw, adam = AdamW(lr=0.1, weight_decay=0.3).hyper(), Adam(lr=0.1, weight_decay=0.3).hyper()
    assert (adamw[DECOUPLED_DECAY], adamw[WEIGHT_DECAY]) == (0.3, 0.0)
    assert (adam[DECOUPLED_DECAY], adam[WEIGHT_DECAY]) == (0.0, 0.3)
