"""docs/ stays true: the library's documented examples (symgrad.compile, symgrad.train,
symgrad.fit, the scikit-learn estimator) run as doctests, every benchmark table in
performance.md sits under the command that produced it, and the index lists every page."""
import doctest
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_the_library_page_documents_each_entry_point_with_an_example():
    examples = "\n".join(example.source for example in doctest.DocTestParser().get_examples(
        (DOCS / "library.md").read_text(encoding="utf-8")))
    for call in ("symgrad.compile(", "symgrad.train(", "symgrad.fit(", "SymgradRegressor("):
        assert call in examples, f"docs/library.md has no example calling {call}...)"


def test_library_examples_run(tmp_path, monkeypatch):
    """Run from a temporary directory (with examples/ linked) so nothing lands in the repo."""
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (pip install '.[sklearn]')")
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(DOCS / "library.md"), module_relative=False,
                              optionflags=FLAGS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of the examples in docs/library.md failed"


def tables_and_their_sections(text: str):
    """(heading, the section's text from its heading to the table's last row) per table."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    heading, section, in_table = None, [], False
    for line in [*text.splitlines(), ""]:
        if in_table and not line.startswith("|"):
            yield heading, "\n".join(section)
        in_table = line.startswith("|")
        if line.startswith("#"):
            heading, section = line, []
        section.append(line)


def test_every_benchmark_table_keeps_the_command_that_produced_it():
    tables = list(tables_and_their_sections((DOCS / "performance.md").read_text(encoding="utf-8")))
    assert len(tables) >= 6
    for heading, section in tables:
        assert "python benchmarks/" in section, f"performance.md: the table under {heading!r} " \
            "does not say which `python benchmarks/...` command produced it"


def test_the_index_links_every_page():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)(?:#[^)]*)?\)", index))
    missing = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
    missing = [name for name in missing if name not in linked]
    assert not missing, f"docs/README.md does not link {missing}"
