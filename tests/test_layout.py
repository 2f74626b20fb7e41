"""The package's layout (docs/architecture.md): no import cycles, each layer importing only the
layers above it, modules short, each first docstring line saying what the module holds. Read
from the source with ``ast``: imports inside functions count as much as those at the top."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "symgrad"
MAX_LINES = 360
BASE = {"symgrad", "symgrad.errors", "symgrad.files", "symgrad.stopping", "symgrad.trainable"}
FRONT_END = {"symgrad.primitives", "symgrad.functions", "symgrad.extrema", "symgrad.hyperbolic",
             "symgrad.losses", "symgrad.lexer", "symgrad.conditions", "symgrad.vectors", "symgrad.parse", "symgrad.rewrite",
             "symgrad.dag", "symgrad.model", "symgrad.reverse", "symgrad.program",
             "symgrad.layers", "symgrad.layers.chain", "symgrad.layers.symbolic"}
VIEWS = {"symgrad.views"}  # for people: closed forms, and Python source printed by codegen


def _module_name(path: pathlib.Path) -> str:
    parts = ("symgrad", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imported(name: str, node) -> set[str]:
    """The symgrad modules an import statement (or ``import_module("symgrad....")`` of a
    literal name) of module ``name`` loads."""
    if isinstance(node, ast.Call):
        return {arg.value for arg in node.args[:1]
                if isinstance(arg, ast.Constant) and arg.value in MODULES} - {name}
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in MODULES}
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    if node.level:
        base = package.split(".")[:len(package.split(".")) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = {f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
             for a in node.names}
    return {m for m in found if m in MODULES and m != name}


def _import_statements(tree):
    """Every import that runs (at the top, inside functions, or by importlib); not those under
    ``if TYPE_CHECKING:``, which exist for annotations only."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = [ast.Pass()]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) or _is_import_module(node):
            yield node


def _is_import_module(node) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"


GRAPH = {name: set().union(*(_imported(name, node)
                             for node in _import_statements(ast.parse(path.read_text()))))
         for name, path in MODULES.items()}


def _layer(name: str) -> str:
    if name in BASE:
        return "base"
    if name in FRONT_END:
        return "front end"
    if name in VIEWS:
        return "views"
    for prefix, layer in (("symgrad.codegen", "codegen"), ("symgrad.runtime", "runtime"),
                          ("symgrad.jobs", "jobs")):
        if name == prefix or name.startswith(prefix + "."):
            return layer
    return "engines"


ALLOWED = {  # what each layer may import, besides itself
    "base": set(),
    "front end": {"base"},
    "codegen": {"base", "front end"},
    "views": {"base", "front end", "codegen"},
    "runtime": {"base", "engines"},   # engines: optim's rules, which the runtimes compile
    "engines": {"base", "front end", "codegen", "runtime"},
    "jobs": {"base", "front end", "codegen", "views", "runtime", "engines"},
}


def test_the_import_graph_has_no_cycles():
    state: dict = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            assert state.get(target) != "open", "import cycle: " + " -> ".join(path + [target])
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_its_layer_and_those_above(module):
    layer = _layer(module)
    for target in GRAPH[module]:
        assert _layer(target) in ALLOWED[layer] | {layer}, \
            f"{module} ({layer}) imports {target} ({_layer(target)})"
    if layer == "runtime":
        assert GRAPH[module] <= BASE | {"symgrad.optim"} | {m for m in MODULES
                                                           if _layer(m) == "runtime"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_is_short_and_says_what_it_holds(module):
    text = MODULES[module].read_text()
    assert len(text.splitlines()) <= MAX_LINES
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring and len(docstring.splitlines()[0]) > 20, f"{module} has no docstring"
