"""Term families whose terms read different data columns or powers of one (symgrad.families'
column and exponent placeholders): a linear or additive model written out feature by
feature, such as ``w0*x0 + w1*x1 + ... + w199*x199``, compiles to one loop over a data
matrix, as a vector block does; a polynomial ``a0 + a1*x + a2*x**2 + ...`` to one loop whose
powers are built by multiplication, as is one in ``(x - 1)**k`` or ``sin(x)**k``. The numpy
reference writes every term out, so it checks the loops independently; the data layouts (C,
Fortran, a mapping, columns out of order), training, prediction, float32 and the data check
take the same path."""
import numpy as np
import pytest
import sympy as sp

import symgrad
from symgrad import Model
from symgrad.families import term_families
from tests.support import central_differences, close, trains_as_the_reference

COUNT = 36
xs, ws, vs = (sp.symbols(f"{name}0:{COUNT}") for name in "xwv")
b, z, y = sp.symbols("b z y")


def linear(count=COUNT):
    return sum(ws[k] * xs[k] for k in range(count)) + b


def additive(count=COUNT):  # a varying column and a shared one (z) in each term
    return sum(ws[k] * sp.tanh(vs[k] * xs[k] + z) for k in range(count)) + b


def model_of(prediction, loss="mse", inputs=None):
    params = sorted(prediction.free_symbols - {*xs, z}, key=sp.default_sort_key)
    return Model.supervised(prediction, y, loss, params=params,
                            inputs=inputs or [*xs, z, y])


def data_of(model, rows=70, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, len(model.params)), rng.normal(size=(rows, len(model.inputs)))


def test_a_sum_over_columns_is_one_family_whose_columns_vary():
    (family,) = term_families(model_of(linear()), model_of(linear()).params).families
    assert family.size == COUNT and len(family.data) == 1
    assert [c for (c,) in family.columns] == sorted(xs, key=lambda s: int(s.name[1:]))
    (family,) = term_families(model_of(additive()), model_of(additive()).params).families
    assert len(family.data) == 1 and z in family.template.free_symbols  # z put back


@pytest.mark.parametrize("prediction", [linear(), additive()], ids=["linear", "additive"])
def test_column_families_agree_with_the_written_out_reference(prediction):
    model = model_of(prediction)
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert "_fx0_0" in loops.source and "_fam" not in reference.source
    theta, data = data_of(model)
    agrees_with_the_reference(loops, reference, theta, [
        data, np.asfortranarray(data),
        {s.name: data[:, j].copy() for j, s in enumerate(model.inputs)}], predict_rtol=1e-12)


def agrees_with_the_reference(loops, reference, theta, layouts, predict_rtol):
    """The looped kernel's loss and gradient on each layout of the data (the first an array)
    equal the written-out reference's, and so does its prediction."""
    expected_value, expected_grad = reference(theta, layouts[0])
    for layout in layouts:
        value, grad = loops(theta, layout)
        assert close(value, expected_value)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(loops.predict(theta, layouts[0]),
                               reference.predict(theta, layouts[0]), rtol=predict_rtol,
                               atol=1e-14)


def test_columns_out_of_order_in_the_data():
    """The family's columns are not adjacent in the data (y lies among them): a copy."""
    inputs = [*xs[::2], y, *xs[1::2], z]
    model = model_of(linear(), inputs=inputs)
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    theta, data = data_of(model, seed=1)
    np.testing.assert_allclose(loops(theta, data)[1], reference(theta, data)[1],
                               rtol=1e-10, atol=1e-14)


def agrees_with_central_differences(model, checked, seed):
    """The looped kernel's gradient entries ``checked`` against 50-digit central differences
    of the model's loss at one row."""
    theta, data = data_of(model, rows=1, seed=seed)
    names = [p.name for p in model.params]
    values = {**dict(zip(names, theta)),
              **{s.name: data[0, j] for j, s in enumerate(model.inputs)}}
    expected = central_differences(model.loss, checked, values)
    _, grad = symgrad.compile(model)(theta, data)
    for name in checked:
        assert close(grad[names.index(name)], expected[name]), name


def test_column_families_agree_with_50_digit_central_differences():
    agrees_with_central_differences(model_of(additive()), ["b", "v0", "v17", "w35", "w9"], 2)


def test_training_a_column_family_follows_the_reference_step_for_step():
    model = model_of(additive())
    theta, data = data_of(model, rows=101, seed=3)
    trains_as_the_reference(model, data, theta, epochs=5, batch_size=16, shuffle=True, seed=4)


def test_float32_column_families_agree_with_float64():
    model = model_of(linear())
    theta, data = data_of(model, rows=300, seed=5)
    single, double = symgrad.compile(model, dtype="float32"), symgrad.compile(model)
    np.testing.assert_allclose(single(theta, data)[1], double(theta, data)[1],
                               rtol=2e-4, atol=2e-4)


def test_a_non_finite_value_in_a_family_column_is_named():
    model = model_of(linear())
    kernel = symgrad.compile(model)
    theta, data = data_of(model, seed=6)
    theta[:] = 0.0                            # 0 * nan is still nan: the data check names it
    data[7, model.inputs.index(xs[20])] = np.nan
    with pytest.raises(symgrad.SymgradError, match=r"row 7, column 'x20' is nan"):
        kernel(theta, data)


def test_the_kernel_does_not_grow_with_the_number_of_columns():
    def lines(count):
        xs_, ws_ = sp.symbols(f"x0:{count}"), sp.symbols(f"w0:{count}")
        loss = (sum(w_ * x_ for w_, x_ in zip(ws_, xs_)) - y) ** 2
        return len(symgrad.compile(Model.of(loss, ws_, [*xs_, y])).source.splitlines())
    assert lines(40) == lines(300)


def polynomial(exponents, extra=1, base=z):
    return sum(ws[k] * base ** e * extra for k, e in enumerate(exponents)) + b + vs[0] * z


def test_a_polynomial_is_one_family_whose_exponents_vary():
    model = model_of(polynomial(range(2, 2 + COUNT)))
    (family,) = term_families(model, model.params).families
    assert family.template == family.params[0] * z ** family.exponents[0]
    assert [e for (e,) in family.powers] == list(range(2, 2 + COUNT))  # ascending
    assert family.data == () and family.columns == ()


@pytest.mark.parametrize("base", [z - 1, sp.sin(z), z * xs[1] + 0.5])
def test_powers_of_an_expression_of_columns_are_one_family(base):
    """(z - 1)**k, sin(z)**k, (z*x1 + 0.5)**k: the base, of data columns alone, is computed
    once per row and its powers built as a column's are."""
    model = model_of(polynomial(range(2, 2 + COUNT), base=base))
    (family,) = term_families(model, model.params).families
    assert family.template == family.params[0] * base ** family.exponents[0]


def test_a_base_with_a_parameter_or_a_varying_number_stays_written_out():
    for base in ([b * z] * COUNT, [z - k for k in range(COUNT)]):
        prediction = sum(ws[k] * base[k] ** (k + 2) for k in range(COUNT))
        model = model_of(prediction)
        assert term_families(model, model.params).families == ()


def test_exponents_beyond_int64_stay_written_out_and_compile():
    """The family's exponents would be an int64 array: 10**20 + k is written out (and is
    inf or 0 on both backends, not an OverflowError when the kernel loads)."""
    model = model_of(polynomial([10**20 + k for k in range(COUNT)], base=z - 0.5))
    assert term_families(model, model.params).families == ()
    theta, data = data_of(model, rows=5, seed=14)
    data[:, model.inputs.index(z)] = [0.2, 0.5, 0.9, 1.6, -1.0]
    for backend in ("numba", "numpy"):
        value, grad = symgrad.compile(model, backend=backend)(theta, data)
        assert not np.isfinite(value), backend


@pytest.mark.parametrize("exponents, extra, base", [
    (range(2, 2 + COUNT), 1, z),                              # each power: the last times z
    ([2 + 3 * k for k in range(COUNT)][::-1], 1, z),         # steps of 3: z**e each time
    (range(2, 2 + COUNT), sp.exp(-b * z) + xs[0], z),       # beside shared terms
    (range(2, 2 + COUNT), 1, z - 1.25),                      # a base of columns and numbers
    ([2 + 3 * k for k in range(COUNT)], 1, sp.sin(z)),
    (range(2, 2 + COUNT), sp.exp(-b * z), xs[2] * z + 0.5),  # x2: read by the base alone
], ids=["consecutive", "steps-of-3", "with-shared-factors", "shifted", "sine-steps",
        "two-column-base"])
def test_polynomial_families_agree_with_the_written_out_reference(exponents, extra, base):
    model = model_of(polynomial(exponents, extra, base))
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert "_fq0_0" in loops.source
    assert ("_fb0_0" in loops.source) is (base not in model.inputs)  # a base per row
    # a partial that is the term's power itself is read from the powers, not copied
    assert ("_fam0_d0" in loops.source) is (extra != 1)
    rng = np.random.default_rng(8)
    theta, data = rng.uniform(-1, 1, len(model.params)), rng.uniform(-1.1, 1.1,
                                                                      (90, len(model.inputs)))
    agrees_with_the_reference(loops, reference, theta, [data, np.asfortranarray(data)],
                              predict_rtol=1e-11)


@pytest.mark.parametrize("base", [z, sp.cos(z) - xs[3]])
def test_polynomial_families_agree_with_50_digit_central_differences(base):
    model = model_of(polynomial(range(2, 2 + COUNT), sp.exp(-b * z), base))
    agrees_with_central_differences(model, ["b", "v0", "w0", "w20", "w35"], 9)


def test_a_non_finite_value_in_a_column_only_a_base_reads_is_named():
    model = model_of(polynomial(range(2, 2 + COUNT), base=z - xs[4]))
    kernel = symgrad.compile(model)
    theta, data = data_of(model, seed=13)
    data[5, model.inputs.index(xs[4])] = np.inf
    with pytest.raises(symgrad.SymgradError, match=r"row 5, column 'x4' is inf"):
        kernel(theta, data)


@pytest.mark.parametrize("base", [z, z - 0.5])
def test_float32_polynomial_families_agree_with_float64(base):
    """Each power is the previous one times the base: one rounding per term, in float32
    too."""
    model = model_of(polynomial(range(2, 2 + COUNT), base=base))
    rng = np.random.default_rng(11)
    theta, data = rng.uniform(-1, 1, len(model.params)), rng.uniform(-1, 1,
                                                                      (300, len(model.inputs)))
    single, double = symgrad.compile(model, dtype="float32"), symgrad.compile(model)
    np.testing.assert_allclose(single(theta, data)[1], double(theta, data)[1],
                               rtol=1e-4, atol=1e-5)


def test_a_sum_and_its_negation_are_one_family():
    """The stable bce of sigmoid(z) reads z and -z (softplus of each): both sums are the one
    family, the second entering negated, so the kernel computes it once."""
    model = model_of(symgrad.sigmoid(linear()), loss="bce")
    found = term_families(model, model.params)
    assert len(found.families) == 1
    loops, reference = symgrad.compile(model), symgrad.compile(model, backend="numpy")
    assert "_fam1" not in loops.source
    theta, data = data_of(model, seed=12)
    data[:, model.inputs.index(y)] = data[:, 0] > 0
    expected_value, expected_grad = reference(theta, data)
    value, grad = loops(theta, data)
    assert close(value, expected_value)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
