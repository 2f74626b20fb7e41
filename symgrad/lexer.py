"""The lexer of the expression language: user text as tokens, each with its column.

Tokens are numbers, plain names, backquoted names (a column whose name is no identifier, such
as mean radius, written in backquotes as in pandas' ``DataFrame.query``), strings (only to
refuse them with a clear message), operators, and an end marker. Operators Python has but the language refuses are
tokens too, so the parser can name them (``REFUSED_OPERATORS``). Lists of names given on the
command line (``--features "`mean radius`,x"``) are read here too (``parse_names``).
"""
from __future__ import annotations

import re
from typing import NamedTuple

from .errors import ParseError

TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>'[^']*'?|"[^"]*"?)
  | (?P<quoted>`[^`]*`?)
  | (?P<op>\*\*|//|<<|>>|<=|>=|==|!=|->|[-+*/^(),.\[\]{}<>=@~%&|!:;])
""", re.VERBOSE)

REFUSED_OPERATORS = {  # Python's names for them, as the messages always said
    "@": "operator MatMult", "~": "operator Invert", "%": "operator Mod",
    "//": "operator FloorDiv", "<<": "operator LShift", ">>": "operator RShift",
    "&": "operator BitAnd", "|": "operator BitOr",
    **{op: "comparisons (outside where(condition, a, b))" for op in ("<", ">", "<=", ">=",
                                                                     "==", "!=")},
    "if": "conditional expressions", "else": "conditional expressions",
    **{op: "boolean operators (outside where(condition, a, b))" for op in ("and", "or", "not")},
    "is": "comparisons", "in": "comparisons", "for": "comprehensions",
    "lambda": "lambda expressions (lambda as a name goes in backquotes: `lambda`)",
}
OPENING = {"(": ")", "[": "]", "{": "}"}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
MAX_NAME = 256       # characters in a backquoted name
NAME_ITEM = re.compile(r"(?:`[^`]*`|[^,`])+")  # one item of a comma-separated list of names


class Token(NamedTuple):
    kind: str    # number, name, quoted, string, op, end
    text: str
    start: int   # 0-based offset into the user's text


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            hint = " (a name with other characters goes in backquotes: `température`)" \
                if text[position].isalnum() else ""
            raise ParseError(f"unexpected character at column {position + 1}: "
                             f"{text[position]!r}{hint}")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_names(text: str) -> tuple[str, ...]:
    """Comma-separated names ('w0,w1,b'): identifiers, or any column name in backquotes
    ('`mean radius`,x')."""
    if text.count("`") % 2:
        raise ParseError(f"a '`' is never closed in {text!r}")
    items = NAME_ITEM.findall(text)
    if not any(item.strip() for item in items):
        raise ParseError("expected one or more comma-separated names")
    if ",".join(items) != text or not all(item.strip() for item in items):
        raise ParseError(f"an empty name in {text!r}: one name between each two commas")
    return tuple(_listed_name(item.strip()) for item in items)


def _listed_name(item: str) -> str:
    quoted = len(item) > 2 and item[0] == item[-1] == "`" and item.count("`") == 2
    name = item[1:-1] if quoted else item
    if not (NAME.match(name) or (quoted and len(name) <= MAX_NAME and name.isprintable()
                                 and name.strip())):
        hint = f" (a name with other characters goes in backquotes: `{name}`)" if not quoted \
            and name.strip() and "`" not in name and name.isprintable() else ""
        raise ParseError(f"not a valid name: {item!r}{hint}")
    return name
