"""The package's structure, read from its imports: no circles, and the Keras side stays pure.

Imports are read with `ast` (lazy imports inside functions included), so the rules hold for
every code path, not just for what one test run happens to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "freezesweep"

# The Keras side: knows nothing of Hydra, OmegaConf, MLflow or Optuna.
PURE_KERAS = ("model", "freeze", "train", "data", "runtime", "trial_summary", "prepare")
FORBIDDEN_FOR_KERAS = ("hydra", "omegaconf", "mlflow", "optuna")
# Leaves: import nothing of the project.
LEAVES = ("errors", "objectives", "redaction", "stopping")
# Keras code: the frameworks, and the project's modules that build, freeze or train models.
KERAS_CODE = ("keras", "tensorflow", "jax", "torch")
KERAS_MODULES = ("model", "freeze", "train", "data", "runtime", "trial_summary", "prepare")
# Sideways imports refused: (importer area, imported area). Tracking records what the Keras
# side computed without loading it; a model is built from its spec, never from the data.
SIDEWAYS = (("tracking", KERAS_MODULES), ("model", ("data",)))
# The longest a function may be (`end_lineno - lineno`): one screen.
MAX_FUNCTION_LINES = 60
# Functions allowed past it, each with why (none today).
LONG_FUNCTIONS: set[str] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str, *, lazy: bool = True) -> set[str]:
    """Absolute names of the modules `name` imports (project modules resolved to files).

    `lazy=False` keeps only the imports that run when the module is imported.
    """
    path = MODULES[name]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if lazy else _module_level(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}"
            found.add(base)
            # `from freezesweep.data import digits` imports the submodule itself.
            found |= {
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES
            }
    return found


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run at import: the body, with `if`/`try` blocks opened (not functions)."""
    statements: list[ast.stmt] = []
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        statements.append(node)
        if isinstance(node, ast.If | ast.Try):
            pending += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            pending += [h for handler in getattr(node, "handlers", []) for h in handler.body]
    return statements


def _project_imports(name: str) -> set[str]:
    return {imported for imported in _imports(name) if imported in MODULES}


def _reached(name: str) -> set[str]:
    """What importing `name` loads: its own imports (lazy ones too), then, through the project's
    modules it reaches, their imports that run at import time."""
    seen, queue, found = set(), [name], set()
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in _imports(current, lazy=current == name):
            found.add(imported)
            if imported in MODULES:
                queue.append(imported)
    return found


def _under(name: str, areas: tuple[str, ...]) -> bool:
    return any(
        name == f"freezesweep.{area}" or name.startswith(f"freezesweep.{area}.") for area in areas
    )


def test_no_import_cycles() -> None:
    graph = {name: _project_imports(name) - {name} for name in MODULES}
    # A package's __init__ re-exporting its own modules is not a cycle of meaning.
    for name, edges in graph.items():
        if MODULES[name].name == "__init__.py":
            graph[name] = {edge for edge in edges if not edge.startswith(name + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, f"import cycle: {' -> '.join([*visiting, node])}"
        visiting.append(node)
        for edge in sorted(graph[node]):
            visit(edge)
        visiting.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)


@pytest.mark.parametrize("name", sorted(name for name in MODULES if _under(name, PURE_KERAS)))
def test_keras_side_imports_no_hydra_mlflow_or_optuna(name: str) -> None:
    # Its own imports (lazy ones too), and what importing it loads through other project modules.
    seen, queue = set(), [name]
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in _imports(current, lazy=current == name):
            top = imported.split(".")[0]
            assert top not in FORBIDDEN_FOR_KERAS, f"{name} reaches {imported} via {current}"
            if imported in MODULES:
                queue.append(imported)


@pytest.mark.parametrize("name", [f"freezesweep.{leaf}" for leaf in LEAVES])
def test_leaves_import_nothing_of_the_project(name: str) -> None:
    assert _project_imports(name) == set()


def test_only_tracking_imports_mlflow() -> None:
    importers = {
        name for name in MODULES if any(i.split(".")[0] == "mlflow" for i in _imports(name))
    }
    assert importers and all(_under(name, ("tracking",)) for name in importers), importers


def test_only_the_config_reader_and_the_entry_points_touch_omegaconf() -> None:
    # Below the reader, functions take typed specs; OmegaConf appears only at the boundary: the
    # reader, the trial that hands it the config, and entry points that compose the project's
    # config (the benchmark, the CLI).
    readers = {
        name for name in MODULES if any(i.split(".")[0] == "omegaconf" for i in _imports(name))
    }
    allowed = {
        "freezesweep.spec.read",
        "freezesweep.spec._schedule",
        "freezesweep.spec._sources",
        "freezesweep.spec._urls",
        "freezesweep.trial",
        "freezesweep.bench._common",
        "freezesweep.cli",
    }
    assert readers <= allowed, readers - allowed


def test_no_source_module_is_over_300_lines() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(SRC / "hydra_plugins").rglob("*.py")]
    long = {
        str(path.relative_to(SRC)): lines
        for path in sources
        if (lines := len(path.read_text().splitlines())) > 300
    }
    assert long == {}


@pytest.mark.parametrize("name", sorted(name for name in MODULES if _under(name, ("tracking",))))
def test_tracking_loads_no_keras_code(name: str) -> None:
    # Importing the MLflow side (the sweeper's hooks, `freezesweep sync`) must not load Keras.
    reached = _reached(name)
    frameworks = {i for i in reached if i.split(".")[0] in KERAS_CODE}
    keras_side = {i for i in reached if _under(i, KERAS_MODULES)}
    assert frameworks | keras_side == set()


@pytest.mark.parametrize(("importer", "imported"), SIDEWAYS)
def test_no_sideways_imports(importer: str, imported: tuple[str, ...]) -> None:
    # One area does not reach into a sibling that is not its business (lazy imports included).
    found = {
        f"{name} -> {target}"
        for name in MODULES
        if _under(name, (importer,))
        for target in _project_imports(name)
        if _under(target, imported)
    }
    assert found == set()


def _functions(path: Path) -> dict[str, int]:
    """`Class.method` or `function` (nested ones as `outer.inner`) -> its length in lines."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    assert child.end_lineno is not None
                    lengths[name] = child.end_lineno - child.lineno
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return lengths


def test_no_function_is_longer_than_a_screen() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(SRC / "hydra_plugins").rglob("*.py")]
    lengths = {
        f"{path.relative_to(SRC)}::{name}": lines
        for path in sources
        for name, lines in _functions(path).items()
    }
    long = {name: lines for name, lines in lengths.items() if lines > MAX_FUNCTION_LINES}
    assert set(long) - LONG_FUNCTIONS == set(), long
    # An entry that is short again (or gone) leaves the list.
    assert {name for name in LONG_FUNCTIONS if name not in long} == set()
