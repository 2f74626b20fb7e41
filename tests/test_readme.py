"""README.md stays true: its recipes run and print what it shows, its Quick start is exactly two
commands (the second the one CI runs), it stays short, and no relative link in it or in docs/
is broken.

Recipes are fenced blocks. In a ```console block each line starting with ``$ `` is a
``symgrad`` command (a line ending in a backslash continues on the next), and the lines up to
the next command are its output: stdout, then stderr without the progress lines a long run
adds. A number with a decimal point or an exponent may differ by 1e-6 relative or by one unit
of its last printed digit (another CPU's vector width may round the sums differently); all
other text, integers included, must match exactly. A ```python block with ``>>>`` lines is a
doctest. Each block runs in its own temporary directory holding a link to ``examples/``, so
its relative paths work and what it writes (``--out``) never lands in the repository.
"""
import doctest
import importlib.util
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 200

PROGRESS = re.compile(r"^(epoch \d+/\d+\s+loss |(start \d+( on a sample of [\d,]+ rows)?, )?"
                      r"iteration \d+\s+loss |symgrad: compiling the model's kernels)")
FLOAT = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)")
RELATIVE = 1e-6


def fenced_blocks(text: str):
    """(info string, body, line number of the first body line) for each fenced block."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^(`{3,})(.*)$", lines[i])
        if not opening:
            i += 1
            continue
        fence, info, start, i = opening.group(1), opening.group(2).strip(), i + 1, i + 1
        while i < len(lines) and not lines[i].startswith(fence):
            i += 1
        blocks.append((info, "\n".join(lines[start:i]), start + 1))
        i += 1
    return blocks


def section(text: str, title: str) -> str:
    """The text under the level-2 heading ``title``, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def console_steps(body: str):
    """[(command, expected output lines)] of a console block."""
    steps, lines = [], iter(body.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1].rstrip() + " " + next(lines).strip()
            steps.append((command, []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line.rstrip())
    return steps


README_TEXT = README.read_text(encoding="utf-8")
CONSOLE = [(line, body) for info, body, line in fenced_blocks(README_TEXT) if info == "console"]
PYTHON = [(line, body) for info, body, line in fenced_blocks(README_TEXT)
          if info == "python" and ">>>" in body]


@pytest.fixture
def workdir(tmp_path):
    """A temporary directory with ``examples`` linked to the repository's."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return tmp_path


def run_symgrad(command: str, cwd: Path) -> list[str]:
    args = shlex.split(command)
    assert args[0] == "symgrad", f"a recipe runs symgrad only: {command!r}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        PYTHONIOENCODING="utf-8", COLUMNS="100")
    result = subprocess.run([sys.executable, "-m", "cli", *args[1:]], cwd=cwd, env=env,
                            capture_output=True, encoding="utf-8", timeout=600)
    assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{result.stderr}"
    return result.stdout.splitlines() + \
        [line for line in result.stderr.splitlines() if not PROGRESS.match(line)]


def _unit(number: str) -> float:
    """One unit of the last digit printed in ``number``."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def same_output(expected: str, actual: str) -> bool:
    if FLOAT.sub("#", expected) != FLOAT.sub("#", actual):
        return False
    for want, got in zip(FLOAT.findall(expected), FLOAT.findall(actual)):
        a, b = float(want), float(got)
        if not math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1.5 * _unit(want)):
            return False
    return True


def test_the_comparison_allows_rounding_and_nothing_else():
    assert same_output("R^2 0.976564, loss 0.1358805845695121", "R^2 0.976565, loss 0.13588058457")
    assert not same_output("R^2 0.976564", "R^2 0.976580")
    assert not same_output("14 iterations", "15 iterations")
    assert not same_output("W0: array of shape (8, 4)", "W0: array of shape (8, 5)")
    assert not same_output("a = 1.5", "b = 1.5")


def test_the_readme_has_recipes():
    commands = " ".join(c for _, body in CONSOLE for c, _ in console_steps(body))
    for needed in ("symgrad derive", "symgrad fit", "symgrad train", "--validation"):
        assert needed in commands
    python = " ".join(body for _, body in PYTHON)
    for needed in ("symgrad.compile(", "minimize(", "symgrad.sklearn"):
        assert needed in python


@pytest.mark.parametrize("line, body", CONSOLE, ids=[f"README.md:{n}" for n, _ in CONSOLE])
def test_console_recipe(line, body, workdir):
    for command, expected in console_steps(body):
        actual = run_symgrad(command, workdir)
        assert len(actual) == len(expected) and all(
            same_output(want, got) for want, got in zip(expected, actual)), \
            f"README.md:{line}: $ {command}\n--- README shows:\n" + "\n".join(expected) + \
            "\n--- it prints:\n" + "\n".join(actual)


@pytest.mark.parametrize("line, body", PYTHON, ids=[f"README.md:{n}" for n, _ in PYTHON])
def test_python_recipe(line, body, workdir, monkeypatch):
    if "sklearn" in body and importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed (pip install '.[sklearn]')")
    monkeypatch.chdir(workdir)
    test = doctest.DocTestParser().get_doctest(body, {}, f"README.md:{line}", str(README), line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def ci_test_command() -> str:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if "pytest" in line and not line.lstrip().startswith("#")]
    assert len(lines) == 1, lines
    return lines[0]


def test_quick_start_is_two_commands_the_second_what_ci_runs():
    blocks = fenced_blocks(section(README_TEXT, "Quick start"))
    assert len(blocks) == 1, "the Quick start holds one fenced block"
    commands = [line for line in blocks[0][1].splitlines() if line.strip()]
    assert len(commands) == 2, commands
    install, _, main_job = commands[0].partition(" && ")
    assert install == "pip install ." and main_job.startswith("symgrad ")
    assert commands[1] == ci_test_command()


def test_quick_start_job_is_a_recipe():
    """Its output is shown (and checked) as the recipe running the same command."""
    main_job = fenced_blocks(section(README_TEXT, "Quick start"))[0][1].splitlines()[0]
    main_job = main_job.partition(" && ")[2]
    recipes = [command for _, body in CONSOLE for command, _ in console_steps(body)]
    assert main_job in recipes, "add the Quick start's first command to the recipes"


def test_readme_is_short():
    assert len(README_TEXT.splitlines()) <= MAX_LINES


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def relative_links(path: Path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            yield target


PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_point_at_files_and_headings_that_exist(page):
    broken = []
    for target in relative_links(page):
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"
