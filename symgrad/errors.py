"""The errors (and warnings) a user can act on. Each message is one line: what and where.

Errors subclass ValueError so library callers can catch them the ordinary way; the CLI prints
the message alone (no traceback) and exits with status 2. ``warn`` writes a one-line warning on
stderr, once per message and process, and lets the work go on.
"""
import sys

_WARNED: set[str] = set()


def warn(message: str) -> None:
    """``symgrad: warning: message`` on stderr, the first time this message is given."""
    if message not in _WARNED:
        _WARNED.add(message)
        sys.stderr.write(f"symgrad: warning: {message}\n")
        sys.stderr.flush()


def listed(names, most: int = 12) -> str:
    """'a, b, c'; a longer list as its first ``most`` and a count ('w0, ..., w11, ... (201 in
    all)'), so that an error stays one readable line."""
    names = [str(name) for name in names]
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown}, ... ({len(names)} in all)"


class SymgradError(ValueError):
    """Bad input to symgrad: the message says what and where."""


class ParseError(SymgradError):
    """An expression string that the whitelist parser refuses."""


class DerivationError(SymgradError):
    """An expression symgrad has no derivative rule for."""
