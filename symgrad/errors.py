"""The errors a user can act on. Each message is one line: what was wrong and where.

They subclass ValueError so library callers can catch them the ordinary way; the CLI prints the
message alone (no traceback) and exits with status 2.
"""


class SymgradError(ValueError):
    """Bad input to symgrad: the message says what and where."""


class ParseError(SymgradError):
    """An expression string that the whitelist parser refuses."""


class DerivationError(SymgradError):
    """An expression symgrad has no derivative rule for."""
