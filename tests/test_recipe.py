"""symgrad.recipe: the misspelt-column check agrees with its definition (case, or one edit or
swap for names of 4+ characters) on any names, through its index."""
from hypothesis import given, settings
from hypothesis import strategies as st

from symgrad.recipe import (MAX_FUZZY_LENGTH, MIN_FUZZY_LENGTH, ColumnIndex, _one_edit_apart,
                            same_index)

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
    assert ColumnIndex(header).close_to(name) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(NAMES, min_size=1, max_size=12, unique=True), NAMES, st.data())
def test_a_column_spelt_right_elsewhere_is_not_close_to_its_index_mates(header, name, data):
    spelt_right = set(data.draw(st.lists(st.sampled_from(header), unique=True)))
    expected = next((column for column in header if name.lower() == column.lower() or (
        close_by_definition(name, column)
        and not (column in spelt_right and same_index(name, column)))), None)
    assert ColumnIndex(header).close_to(name, spelt_right) == expected


def test_same_index_by_hand():
    assert same_index("w100", "x100") and same_index("beta_7", "x_7")
    assert not same_index("tmep", "temp") and not same_index("x10", "x100")
    assert not same_index("w1", "w1") and not same_index("w10", "x11")


def test_one_edit_apart_by_hand():
    assert _one_edit_apart("abcd", "abdc") and _one_edit_apart("abcd", "abcde")
    assert _one_edit_apart("abcd", "bcd") and _one_edit_apart("abcd", "abxd")
    assert not _one_edit_apart("abcd", "abcd") and not _one_edit_apart("abcd", "adcb")
    assert not _one_edit_apart("abcd", "xbcdy")
