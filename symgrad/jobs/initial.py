"""Initial parameter values of an expression model: ``--init`` parsed, the rest drawn from
``--seed``."""
from __future__ import annotations

import re

import numpy as np

from ..data import DECIMAL
from ..errors import SymgradError, listed
from ..lexer import NAME_ITEM

INIT_SCALE = 0.1  # parameters not in --init start as INIT_SCALE * N(0, 1), drawn from --seed
ASSIGNMENT = re.compile(r"(`[^`]*`|[^=`]*?)\s*=(.*)", re.DOTALL)  # name=value; a `name` may hold =


def initial_params(names: list[str], init: str | None, seed: int,
                   dtype: str = "float64") -> np.ndarray:
    """--init values where given, else INIT_SCALE * N(0, 1) from default_rng(seed)."""
    theta = INIT_SCALE * np.random.default_rng(seed).standard_normal(len(names))
    most = float(np.finfo(dtype).max)
    for name, value in parse_assignments(init or "").items():
        if name not in names:
            raise SymgradError(f"--init names {name!r}, which is not a parameter "
                               f"(parameters: {listed(names)})")
        if abs(value) > most:
            raise SymgradError(f"--init {name}={value:g} is beyond {dtype}'s range (about "
                               f"{most:.2g}): the kernels compute in {dtype} (--dtype)")
        theta[names.index(name)] = value
    return theta


def parse_assignments(text: str) -> dict[str, float]:
    """'w=1,b=-0.5' -> {'w': 1.0, 'b': -0.5}; each number an ASCII decimal as in a CSV cell
    (not 1_0 or another script's digits), each name once. A name in backquotes may hold any
    character (`mean radius`=2, `p,q`=1), as in the model."""
    if text.count("`") % 2:
        raise SymgradError(f"--init: a '`' is never closed in {text!r}")
    if not text.strip():
        return {}
    items = NAME_ITEM.findall(text)
    if ",".join(items) != text or not all(item.strip() for item in items):
        raise SymgradError(f"--init: an empty item in {text!r}: one name=number between each "
                           f"two commas")
    values = {}
    for item in (part.strip() for part in items):
        assignment = ASSIGNMENT.fullmatch(item)
        name, value = (part.strip() for part in assignment.groups()) if assignment else ("", "")
        name = name[1:-1] if name.startswith("`") else name
        number = float(value) if DECIMAL.fullmatch(value) else None
        if number == 0 and re.search("[1-9]", value.lower().split("e")[0]):
            raise SymgradError(f"--init: {item!r} is below float64's range (about 5e-324), "
                               f"not 0")
        if name and number is not None and not np.isfinite(number):
            raise SymgradError(f"--init: {item!r} is beyond float64's range (about 1.8e308)")
        if name and value.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise SymgradError(f"--init: {item!r} is not a finite number")
        if not name or number is None:
            raise SymgradError(f"--init expects name=number pairs, got {item!r}")
        if name in values:
            raise SymgradError(f"--init names {name!r} twice")
        values[name] = number
    return values
