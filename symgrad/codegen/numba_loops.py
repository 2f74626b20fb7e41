"""The loops of the Numba CPU kernels: vector blocks and term families.

A vector block (symgrad.blocks) is a dot product of a vector parameter with a data matrix's
row; a term family (symgrad.families) is many terms of one sum that differ only in their
parameters, numbers, data columns and integer exponents of a column (or of an expression of
columns). Both are computed in loops whatever their width, so the code, and Numba's compile
time, does not grow with it. ``numba_backend`` places these lines in its functions: the
values before the row's program, the adjoints' contributions after it, the per-chunk stores
at the chunk's end.
"""
from __future__ import annotations

import sympy as sp

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
        arrays += [(f"_fam{f}_e{i}", exponents, "np.int64")
                   for i, (_, exponents) in enumerate(family.powers)]
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


# Term families (symgrad.families). With families the rows run in tiles of ``tile_rows``: for
# each family a loop over its terms, and inside it a loop over the tile's rows, evaluates the
# template (its value added into the row's family value, its partials kept in a scratch array
# term x row); then the row program runs row by row, reading each family's value and storing
# its adjoint; then for each term a loop over the rows sums adjoint x partial into the family
# accumulator (``_facc``), which the chunk's sums (or the epoch loop's gradient) take their
# entries from. The loops over rows are innermost, so they vectorize across rows as the
# written-out code does (a row's terms in a loop of their own ran 2-3.5x slower than it for
# exp terms); the tile bounds the scratch arrays.

TILE_CELLS = 8192  # partials, column and power copies kept per tile at most (64 KiB of float64)


def tile_rows(loops) -> int:
    """Rows per tile: a power of two from 8 to 32, so the scratch has <= TILE_CELLS."""
    cells = sum(f.size * (len(f.theta) + len(f.matrices) + len(f.powers))
                for f in loops.families)
    fit = max(8, min(32, TILE_CELLS // max(cells, 1)))
    return 1 << (fit.bit_length() - 1)


def _contiguous(indexes) -> int | None:
    """The first of indexes that count up by one (a, a+1, ...), else None."""
    first = indexes[0]
    return first if tuple(indexes) == tuple(range(first, first + len(indexes))) else None


def _numbered(loops, families) -> list[tuple]:
    """(f, family) for each of ``families``, f its index among the model's families."""
    return [(f, family) for f, family in enumerate(loops.families) if family in families]


def _read(families) -> set:
    """The symbols the families' terms read (data columns among them)."""
    return set().union(*(family.reads() for family in families))


def family_loads(loops, indent: str, families) -> list[str]:
    """Each of ``families``' parameter values term by term, from theta."""
    lines = []
    for f, family in _numbered(loops, families):
        for j, ix in enumerate(family.theta):
            first = _contiguous(ix)
            source = f"_fam{f}_at{j}" if first is None else f"{first}:{first + len(ix)}"
            lines.append(f"{indent}_fam{f}_v{j} = _theta[{source}]")
    return lines


def family_scratch(loops, indent: str, printer, columns, families,
                   gradient=True) -> list[str]:
    """A tile's copy of each data column the families read (and of their data matrices,
    term-major), each family's values for a tile's rows, and with ``gradient`` its adjoints
    and its terms' partials (term-major)."""
    tile, read = tile_rows(loops), _read(families)
    lines = [f"{indent}_tc{k} = {_empty(tile, printer)}" for k, c in enumerate(columns)
             if c in read]
    for f, family in _numbered(loops, families):
        lines += [f"{indent}_fx{f}_{i} = {_empty(family.size * tile, printer)}"
                  for i in range(len(family.matrices))]
        lines += [f"{indent}_fq{f}_{i} = {_empty(family.size * tile, printer)}"
                  for i in range(len(family.powers))]
        lines += [f"{indent}_fb{f}_{i} = {_empty(tile, printer)}"
                  for i, (base, _) in enumerate(family.powers) if base not in columns]
        lines.append(f"{indent}_famt{f} = {_empty(tile, printer)}")
        if gradient:
            lines.append(f"{indent}_fadjt{f} = {_empty(tile, printer)}")
            lines += [f"{indent}{name} = {_empty(family.size * tile, printer)}"
                      for name, stored in _partials(f, family) if stored]
    return lines


def _partials(f, family) -> list[tuple[str, bool]]:
    """Per parameter placeholder, the term-major array its partials are read from, and
    whether the terms' loop stores them there: a partial that is a term's column or power
    (a linear model's x_k, a polynomial's x**k) is read from that copy, not copied again."""
    copies = {**{sp.Symbol(f"_f{f}x{i}"): f"_fx{f}_{i}" for i in range(len(family.matrices))},
              **{sp.Symbol(f"_f{f}q{i}"): f"_fq{f}_{i}" for i in range(len(family.powers))}}
    return [(copies[d], False) if d in copies else (f"_fam{f}_d{j}", True)
            for j, d in enumerate(family.gradient.outputs[1:])]


def _empty(size: int, printer) -> str:
    return f"np.empty({size}, {printer.float_type})" if printer.float_type else \
        f"np.empty({size})"


def family_accumulator(loops, indent: str, printer) -> list[str]:
    return [f"{indent}_facc = {zeros(len(loops.slot_theta), printer)}"] \
        if loops.families else []


def row_loop(loops, printer, indent: str, bounds, order: str | None, body, columns,
             families=(), adjoints=None, check=False) -> list[str]:
    """The loop over rows ``bounds`` (start, stop) running ``body`` (lines written at
    indent + 4 that read the row as ``_row``; ``order``: the row is order[i], else i). With
    ``families`` (and ``adjoints``, the gradient program's adjoint outputs, in a kernel that
    differentiates), the rows run in tiles around it; with ``check`` the families' data
    matrices join the data check (``_check``)."""
    used = _numbered(loops, families)
    row = f"{order}[_i]" if order else "_i"
    if not used:
        head = [f"{indent}for _i in range({bounds[0]}, {bounds[1]}):",
                f"{indent}    _row = {row}"] if order else \
            [f"{indent}for _row in range({bounds[0]}, {bounds[1]}):"]
        return head + list(body)
    tile, inner = tile_rows(loops), indent + "    "
    read, row = _read(families), "_tile + np.int64(_i)"
    row = f"{order}[{row}]" if order else row
    lines = [f"{indent}for _tile in range({bounds[0]}, {bounds[1]}, {tile}):",
             f"{inner}_tend = _tile + {tile} if _tile + {tile} < {bounds[1]} else {bounds[1]}",
             f"{inner}_tn = np.uint64(_tend - _tile)",
             f"{inner}for _i in range(_tn):",
             f"{inner}    _row = {row}",
             *(f"{inner}    _tc{k}[_i] = _c{k}[_row]" for k, c in enumerate(columns)
               if c in read)]
    for f, family in used:
        lines += _matrix_copies(f, family, inner + "    ", tile, printer if check else None)
    for f, family in used:
        lines += _powers(f, family, printer, inner, tile, columns)
        lines += _family_terms(f, family, printer, inner, tile, columns, adjoints is not None)
    lines += [f"{inner}for _i in range(_tn):", f"{inner}    _row = {row}",
              *(f"{inner}    {family.name} = _famt{f}[_i]" for f, family in used),
              *("    " + line for line in body)]
    if adjoints is not None:
        adjoints = adjoints[len(loops.dots):]
        lines += [f"{inner}    _fadjt{f}[_i] = {printer.doprint(adjoints[f])}"
                  for f, _ in used]
        for f, family in used:
            lines += _family_partials(f, family, printer, inner, tile)
    return lines


def _matrix_copies(f, family, indent, tile, check_printer) -> list[str]:
    """The tile row's entries of each of a family's data matrices, term-major (so the terms'
    loops over rows read them contiguously); with ``check_printer``, into the data check."""
    lines = []
    for i, m in enumerate(family.matrices):
        lines += [f"{indent}for _k in range(np.uint64({family.size})):",
                  f"{indent}    _fx{f}_{i}[_k * np.uint64({tile}) + _i] = _mat{m}[_row, _k]"]
        if check_printer is not None:
            lines.append(f"{indent}    _check += _mat{m}[_row, _k] * "
                         f"{check_printer.typed('0.0')}")
    return lines


def _powers(f, family, printer, indent, tile, columns) -> list[str]:
    """Each power placeholder's values for the tile's rows, term-major: the previous term's
    times the base where the exponent is one more (a polynomial's terms, sorted by
    exponent), else the base to the integer power. A base that is an expression of columns
    (x - 1, sin(x)) is computed once per row first."""
    lines = []
    for i, (base, _) in enumerate(family.powers):
        e, q = f"_fam{f}_e{i}", f"_fq{f}_{i}"
        if base in columns:
            x = f"_tc{columns.index(base)}"
        else:
            x = f"_fb{f}_{i}"
            lines += [f"{indent}for _i in range(_tn):",
                      *(f"{indent}    {c.name} = _tc{k}[_i]" for k, c in enumerate(columns)
                        if c in base.free_symbols),
                      f"{indent}    {x}[_i] = {printer.doprint(base)}"]
        lines += [f"{indent}for _k in range(np.uint64({family.size})):",
                  f"{indent}    if _k >= np.uint64(1) and {e}[_k] == {e}[_k - np.uint64(1)] + 1:",
                  f"{indent}        for _i in range(_tn):",
                  f"{indent}            {q}[_k * np.uint64({tile}) + _i] = "
                  f"{q}[(_k - np.uint64(1)) * np.uint64({tile}) + _i]"
                  f" * {x}[_i]",
                  f"{indent}    else:",
                  f"{indent}        for _i in range(_tn):",
                  f"{indent}            {q}[_k * np.uint64({tile}) + _i] = {x}[_i] ** {e}[_k]"]
    return lines


def _family_terms(f, family, printer, indent, tile, columns, gradient) -> list[str]:
    """A family's value for each row of the tile, by a loop over its terms (reading the
    tile's data from its contiguous copies: shared columns ``_tc{k}``, the terms' own columns
    ``_fx{f}_{i}`` and powers ``_fq{f}_{i}``); with ``gradient`` each term's partials into
    the scratch."""
    program = family.gradient if gradient else family.value
    used = program.free_symbols()
    inner, row = indent + "    ", indent + "        "
    lines = [f"{indent}for _i in range(_tn):",
             f"{indent}    _famt{f}[_i] = {printer.typed('0.0')}",
             f"{indent}for _k in range(np.uint64({family.size})):",
             *(f"{inner}_f{f}p{j} = _fam{f}_v{j}[_k]" for j in range(len(family.theta))),
             *(f"{inner}_f{f}c{i} = _fam{f}_c{i}[_k]" for i in range(len(family.constants))),
             f"{inner}for _i in range(_tn):",
             *(f"{row}{c.name} = _tc{k}[_i]" for k, c in enumerate(columns) if c in used),
             *(f"{row}_f{f}x{i} = _fx{f}_{i}[_k * np.uint64({tile}) + _i]"
               for i in range(len(family.matrices))),
             *(f"{row}_f{f}q{i} = _fq{f}_{i}[_k * np.uint64({tile}) + _i]"
               for i in range(len(family.powers))),
             *statement_lines(program, printer, row),
             f"{row}_famt{f}[_i] += {printer.doprint(program.outputs[0])}"]
    if gradient:
        lines += [f"{row}{name}[_k * np.uint64({tile}) + _i] = {printer.doprint(d)}"
                  for (name, stored), d in zip(_partials(f, family), program.outputs[1:])
                  if stored]
    return lines


def _family_partials(f, family, printer, indent, tile) -> list[str]:
    """For each term of a family, the tile's adjoint x partial sums into the accumulator."""
    zero, count = printer.typed("0.0"), len(family.theta)
    lines = [f"{indent}for _k in range(np.uint64({family.size})):",
             *(f"{indent}    _fg{j} = {zero}" for j in range(count)),
             f"{indent}    for _i in range(_tn):",
             *(f"{indent}        _fg{j} += _fadjt{f}[_i] * {name}[_k * np.uint64({tile}) + _i]"
               for j, (name, _) in enumerate(_partials(f, family)))]
    for j, slots in enumerate(family.slots):
        first = _contiguous(slots)
        slot = f"_fam{f}_s{j}[_k]" if first is None else \
            f"np.uint64({first}) + _k" if first else "_k"
        lines.append(f"{indent}    _facc[{slot}] += _fg{j}")
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
