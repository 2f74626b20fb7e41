"""symgrad.recipe: the misspelt-column check agrees with its definition (case, or one edit or
swap for names of 4+ characters) on any names, through its index."""
from hypothesis import given, settings
from hypothesis import strategies as st

from symgrad.recipe import MAX_FUZZY_LENGTH, MIN_FUZZY_LENGTH, _ColumnIndex, _one_edit_apart

NAMES = st.text(alphabet="abAB_1", min_size=1, max_size=7)


def close_by_definition(name: str, column: str) -> bool:
    if name.lower() == column.lower():
        return True
    short = min(len(name), len(column))
    if not MIN_FUZZY_LENGTH <= short or max(len(name), len(column)) > MAX_FUZZY_LENGTH:
        return False
    return _one_edit_apart(name, column)


@settings(max_examples=300, deadline=None)
@given(st.lists(NAMES, min_size=1, max_size=12, unique=True), NAMES)
def test_the_index_finds_the_first_close_column_by_definition(header, name):
    expected = next((column for column in header if close_by_definition(name, column)), None)
    assert _ColumnIndex(header).close_to(name) == expected


def test_one_edit_apart_by_hand():
    assert _one_edit_apart("abcd", "abdc") and _one_edit_apart("abcd", "abcde")
    assert _one_edit_apart("abcd", "bcd") and _one_edit_apart("abcd", "abxd")
    assert not _one_edit_apart("abcd", "abcd") and not _one_edit_apart("abcd", "adcb")
    assert not _one_edit_apart("abcd", "xbcdy")
