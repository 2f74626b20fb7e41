"""The loops of the Numba CPU kernels: vector blocks and term families.

A vector block (symgrad.blocks) is a dot product of a vector parameter with a data matrix's
row; a term family (symgrad.families) is many terms of one sum that differ only in their
parameters and numbers. Both are computed in loops whatever their width, so the code, and
Numba's compile time, does not grow with it. ``numba_backend`` places these lines in its
functions: the values before the row's program, the adjoints' contributions after it, the
per-chunk stores at the chunk's end.
"""
from __future__ import annotations

from .printer import statement_lines

def zeros(size: int, printer) -> str:
    """A new array of ``size`` zeros of the kernel's float type."""
    return f"np.zeros({size}, {printer.float_type})" if printer.float_type else \
        f"np.zeros({size})"


# Vector blocks (symgrad.blocks): each dot's value is a loop over its vector's entries and its
# data matrix's row; each block's partials are per-chunk arrays that each row adds
# adjoint * data row into.

def split_outputs(program, loops) -> tuple[tuple, tuple]:
    """(the loss and scalar partials, the dots' then the families' adjoints) of a gradient
    program."""
    cut = len(program.outputs) - loops.adjoint_count
    return program.outputs[:cut], program.outputs[cut:]


def index_arrays(loops, printer) -> str:
    """Module-level theta indexes of each vector block's entries, and each family's theta
    indexes, accumulator slots and numbers term by term (Numba reads them as constants)."""
    arrays = [(f"_at{v}", ix, "np.int64") for v, ix in enumerate(loops.vectors)]
    for f, family in enumerate(loops.families):
        arrays += [(f"_fam{f}_at{j}", ix, "np.int64") for j, ix in enumerate(family.theta)
                   if _contiguous(ix) is None]
        arrays += [(f"_fam{f}_s{j}", ix, "np.int64") for j, ix in enumerate(family.slots)
                   if _contiguous(ix) is None]
        arrays += [(f"_fam{f}_c{i}", values, printer.float_type or "np.float64")
                   for i, values in enumerate(family.constants)]
    if loops.shared:
        arrays.append(("_fshared", loops.shared, "np.int64"))
    if loops.families:
        arrays.append(("_fslots", loops.slot_theta, "np.int64"))
    return "".join(f"{name} = np.array({[*values]!r}, dtype={dtype})\n"
                   for name, values, dtype in arrays) + ("\n" if arrays else "")


def matrix_args(ids) -> str:
    return "".join(f", _mat{m}" for m in ids)


def vector_loads(loops, indent: str) -> list[str]:
    return [f"{indent}_vec{v} = _theta[_at{v}]" for v in range(len(loops.vectors))]


def dot_lines(loops, dots, indent: str, zero: str = "0.0", check: bool = False) -> list[str]:
    """Each dot's value for the row (``zero``: 0 of the kernel's type); with ``check``, the
    data check of each matrix's row. Loop bounds are constants, so LLVM unrolls a narrow
    block's loops completely."""
    lines, checked = [], set()
    for name, v, m in dots:
        lines += [f"{indent}{name} = {zero}",
                  f"{indent}for _j in range({len(loops.vectors[v])}):",
                  f"{indent}    {name} += _vec{v}[_j] * _mat{m}[_row, _j]"]
        if check and m not in checked:
            checked.add(m)
            lines.append(f"{indent}    _check += _mat{m}[_row, _j] * {zero}")
    return lines


def block_lines(adjoints, loops, printer, indent: str) -> list[str]:
    """Each dot's adjoint for the row, times its data row, added into its block's sums."""
    lines = [f"{indent}_adj{k} = {printer.doprint(e)}"
             for k, e in enumerate(adjoints[:len(loops.dots)])]
    for v in range(len(loops.vectors)):
        terms = " + ".join(f"_adj{k} * _mat{m}[_row, _j]"
                           for k, (_, block, m) in enumerate(loops.dots) if block == v)
        lines += [f"{indent}for _j in range({len(loops.vectors[v])}):",
                  f"{indent}    _acc{v}[_j] += {terms}"]
    return lines


def block_stores(loops, offset: int, indent: str) -> list[str]:
    """Each block's sums into the chunk's row, by a loop: a slice assignment
    (``_sums[_chunk, a:b] = _acc0``) costs 2.5 s of Numba's compile."""
    lines = []
    for v, ix in enumerate(loops.vectors):
        lines += [f"{indent}for _j in range({len(ix)}):",
                  f"{indent}    _sums[_chunk, {offset} + _j] = _acc{v}[_j]"]
        offset += len(ix)
    return lines


# Term families (symgrad.families): each family's value for the row is a loop over its terms,
# each the template's program at the term's parameters and numbers; the loop keeps each
# term's partials in a scratch array, and after the row's program each is multiplied by the
# family's adjoint and added into the family accumulator (``_facc``), which the chunk's sums
# (or the epoch loop's gradient) take its entries from.

def _contiguous(indexes) -> int | None:
    """The first of indexes that count up by one (a, a+1, ...), else None."""
    first = indexes[0]
    return first if tuple(indexes) == tuple(range(first, first + len(indexes))) else None


def family_loads(loops, indent: str, families=None) -> list[str]:
    """Each family's parameter values term by term, from theta (of ``families`` only, if
    given)."""
    lines = []
    for f, family in enumerate(loops.families):
        if families is None or family in families:
            for j, ix in enumerate(family.theta):
                first = _contiguous(ix)
                source = f"_fam{f}_at{j}" if first is None else f"{first}:{first + len(ix)}"
                lines.append(f"{indent}_fam{f}_v{j} = _theta[{source}]")
    return lines


def family_scratch(loops, indent: str, printer) -> list[str]:
    """The arrays each family's loop keeps its terms' partials in, for the row."""
    return [f"{indent}_fam{f}_d{j} = {_empty(family.size, printer)}"
            for f, family in enumerate(loops.families) for j in range(len(family.theta))]


def _empty(size: int, printer) -> str:
    return f"np.empty({size}, {printer.float_type})" if printer.float_type else \
        f"np.empty({size})"


def family_accumulator(loops, indent: str, printer) -> list[str]:
    return [f"{indent}_facc = {zeros(len(loops.slot_theta), printer)}"] \
        if loops.families else []


def family_lines(loops, printer, indent: str, families=None, gradient: bool = True) -> list[str]:
    """Each family's value for the row (``_fam{f}``; of ``families`` only, if given), by a
    loop over its terms; with ``gradient`` each term's partials into the scratch arrays."""
    lines = []
    for f, family in enumerate(loops.families):
        if families is not None and family not in families:
            continue
        program = family.gradient if gradient else family.value
        inner = indent + "    "
        lines += [f"{indent}{family.name} = {printer.typed('0.0')}",
                  f"{indent}for _k in range({family.size}):",
                  *(f"{inner}_f{f}p{j} = _fam{f}_v{j}[_k]" for j in range(len(family.theta))),
                  *(f"{inner}_f{f}c{i} = _fam{f}_c{i}[_k]"
                    for i in range(len(family.constants))),
                  *statement_lines(program, printer, inner),
                  f"{inner}{family.name} += {printer.doprint(program.outputs[0])}"]
        if gradient:
            lines += [f"{inner}_fam{f}_d{j}[_k] = {printer.doprint(d)}"
                      for j, d in enumerate(program.outputs[1:])]
    return lines


def family_adjoint_lines(adjoints, loops, printer, indent: str) -> list[str]:
    """Each family's adjoint for the row times each term's partials, added into the
    family accumulator."""
    lines = []
    for f, (family, adjoint) in enumerate(zip(loops.families, adjoints[len(loops.dots):])):
        lines += [f"{indent}_fadj{f} = {printer.doprint(adjoint)}",
                  f"{indent}for _k in range({family.size}):"]
        for j, slots in enumerate(family.slots):
            first = _contiguous(slots)
            slot = f"_fam{f}_s{j}[_k]" if first is None else f"{first} + _k" if first else "_k"
            lines.append(f"{indent}    _facc[{slot}] += _fadj{f} * _fam{f}_d{j}[_k]")
    return lines


def family_stores(loops, offset: int, indent: str) -> list[str]:
    """The family accumulator into the chunk's sums: the first ``own`` slots into their
    columns from ``offset``, the others added to their parameter's scalar partial."""
    lines = []
    if loops.own:  # a loop, as in block_stores
        lines += [f"{indent}for _q in range({loops.own}):",
                  f"{indent}    _sums[_chunk, {offset} + _q] = _facc[_q]"]
    if loops.shared:
        lines += [f"{indent}for _q in range({len(loops.shared)}):",
                  f"{indent}    _sums[_chunk, _fshared[_q]] += _facc[{loops.own} + _q]"]
    return lines


def family_gradient(loops, indent: str) -> list[str]:
    """The family accumulator into the epoch loop's gradient (after the scalar partials)."""
    if not loops.families:
        return []
    return [f"{indent}for _q in range({len(loops.slot_theta)}):",
            f"{indent}    if _q < {loops.own}:",
            f"{indent}        _grad[_fslots[_q]] = _facc[_q] * _scale",
            f"{indent}    else:",
            f"{indent}        _grad[_fslots[_q]] += _facc[_q] * _scale"]
