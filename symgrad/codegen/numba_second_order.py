"""The Numba backend's second-order functions (``compile(..., order=2)``): ``hessian_sums``
(the Hessian program's outputs summed per chunk, written as ``loss_and_gradient`` is) and
``gauss_newton_sums`` (RSS, J^T r and J^T J from each row's residuals and Jacobian entries,
never storing the rows x parameters Jacobian), and ``residual_rows`` (those residuals and
entries stored, for a fit small enough to factor J itself)."""
from __future__ import annotations

from .printer import (column_args, data_check, jacobian_stores, param_loads, residual_stores,
                      row_lines)
from .spec import UNROLLED_JACOBIAN, KernelSpec, Loops


def second_order_functions(spec: KernelSpec, printer, sums_function, options: str,
                           row_options: str) -> str:
    """order=2: the Hessian sums (written by the backend's ``sums_function``), for least
    squares the Gauss-Newton sums, for a model with a prediction its Jacobian per row;
    ``options``, ``row_options``: the backend's njit options for sums and for rows."""
    if spec.second is None:
        return ""
    text = "" if spec.second.hessian is None else \
        "\n\n" + sums_function("hessian_sums", spec.second.hessian, spec.hessian_inputs(),
                                   Loops(), (), printer)
    if spec.second.residuals is not None:
        text += "\n\n" + gauss_newton_function(spec, printer, sums_function, options)
        text += "\n\n" + residual_rows_function(spec, printer, row_options)
    if spec.second.prediction is not None:
        text += "\n\n" + jacobian_function(spec, printer, row_options)
    return text


def jacobian_function(spec: KernelSpec, printer, options: str) -> str:
    """The prediction's Jacobian for every row: rows x outputs x parameters."""
    second = spec.second
    return rows_function("jacobian", second.prediction, spec.jacobian_inputs(),
                         jacobian_stores(second, printer, "        "),
                         (second.output_count, len(spec.params)), printer, options)


def residual_rows_function(spec: KernelSpec, printer, options: str) -> str:
    """Every row's residuals and their Jacobian entries: rows x residuals x (1 + the
    Jacobian's non-zero columns), for a fit that factors J rather than its sums."""
    second = spec.second
    return rows_function("residual_rows", second.residuals, spec.residual_inputs(),
                         residual_stores(second, printer, "        "),
                         (second.residual_count, 1 + len(second.jacobian_index)), printer,
                         options)


def rows_function(name: str, program, columns, stores, shape, printer, options: str) -> str:
    """``name(theta, n, *columns)``: an (n, *shape) array, each row's ``stores``."""
    lines = [
        f"@njit({options})",
        f"def _{name}(_theta, _start, _stop, _out{column_args(columns)}):",
        *param_loads(program, "    "),
        "    for _row in range(_start, _stop):",
        *row_lines(program, columns, printer, "        "),
        *stores,
        "",
        "",
        f"{name} = chunked_rows(_{name}, {tuple(shape)})",
    ]
    return "\n".join(lines) + "\n"


def gauss_newton_function(spec: KernelSpec, printer, sums_function, options: str) -> str:
    """Per-chunk RSS, J^T r and J^T J (upper triangle, row by row, over the Jacobian's
    non-zero columns) and the data check; each row's Jacobian is never stored. Up to
    UNROLLED_JACOBIAN columns every sum is a scalar accumulator of one program
    (``SecondOrder.gauss_newton_program``), as the Hessian's: they vectorize across rows.
    Beyond, each row's Jacobian is one short array, and loops add its pairs."""
    second = spec.second
    if len(second.jacobian_index) <= UNROLLED_JACOBIAN:
        return sums_function("gauss_newton_sums", second.gauss_newton_program(),
                             spec.residual_inputs(), Loops(), (), printer)
    program, columns = second.residuals, spec.residual_inputs()
    q = len(second.jacobian_index)
    width = 1 + q + q * (q + 1) // 2 + 1
    lines = [
        f"@njit({options})",
        f"def _gauss_newton_sums(_theta, _n, _chunks, _first, _last, _sums"
        f"{column_args(columns)}):",
        *param_loads(program, "    "),
        "    for _chunk in range(_first, _last):",
        "        _start = _chunk * _n // _chunks",
        "        _stop = (_chunk + 1) * _n // _chunks",
        "        _rss = 0.0",
        "        _check = 0.0",
        f"        _jtr = np.zeros({q})",
        f"        _jtj = np.zeros(({q}, {q}))",
        f"        _jr = np.zeros({q})",
        "        for _row in range(_start, _stop):",
        *row_lines(program, columns, printer, "            "),
        *(line for i in range(second.residual_count)
          for line in residual_lines(program, second, i, printer)),
        f"            _check += {data_check(columns)}",
        "        _sums[_chunk, 0] = _rss",
        f"        _sums[_chunk, 1:{1 + q}] = _jtr",
        f"        _at = {1 + q}",
        f"        for _a in range({q}):",
        f"            _sums[_chunk, _at:_at + {q} - _a] = _jtj[_a, _a:]",
        f"            _at += {q} - _a",
        f"        _sums[_chunk, {width - 1}] = _check",
        "",
        "",
        f"gauss_newton_sums = chunked_sums(_gauss_newton_sums, {width})",
    ]
    return "\n".join(lines) + "\n"


def residual_lines(program, second, i: int, printer) -> list[str]:
    """Residual i of the row and its Jacobian row, added into RSS, J^T r and J^T J."""
    count, index = second.residual_count, second.jacobian_index
    entries = {k: program.outputs[count + e] for e, (r, k) in enumerate(second.jacobian)
               if r == i}
    indent = "            "
    return [f"{indent}_r = {printer.doprint(program.outputs[i])}",
            *(f"{indent}_jr[{a}] = {printer.doprint(entries[k]) if k in entries else '0.0'}"
              for a, k in enumerate(index)),
            f"{indent}_rss += _r * _r",
            f"{indent}for _a in range({len(index)}):",
            f"{indent}    _ja = _jr[_a]",
            f"{indent}    _jtr[_a] += _ja * _r",
            f"{indent}    for _b in range(_a, {len(index)}):",
            f"{indent}        _jtj[_a, _b] += _ja * _jr[_b]"]
