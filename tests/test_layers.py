"""The layers of ``runtime/`` (docs/ARCHITECTURE.md): a lower layer never imports a higher one.

Every import statement of ``runtime/`` and ``cli/`` is read with :mod:`ast` (imports inside
functions and under ``TYPE_CHECKING`` included) and checked against :data:`RANKS`: a module may
import its own layer and layers of a lower rank; two layers of the same rank are peers and never
import each other. ``runtime/`` never imports ``xner.cli`` or the torch side (:data:`TORCH_SIDE`:
``xner.export``, ``xner.train``, peers); ``cli/`` imports the torch side only inside a command
function, never at module level. A module of
``runtime/`` that no layer claims is a failure too, so that a new folder is placed on purpose
(here and in docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layer of each top-level module or folder of runtime/, lowest first (docs/ARCHITECTURE.md).
RANKS: dict[str, int] = {
    # conventions: the shared vocabulary and the small rules everyone follows
    "errors": 0,
    "version": 0,
    "names": 0,
    "data": 0,
    "tags": 1,
    "tokenize": 1,
    "languages": 1,
    # reading and writing files; scoring
    "files": 2,
    "evaluate": 2,
    # word alignment (methods, metrics, Pharaoh files) and bundles (manifest, archive, store)
    "alignment": 3,
    "bundles": 3,
    # the models behind protocols, and projection (model-free): peers
    "engines": 4,
    "projection": 4,
    # configs, per-sentence records, stages and their compositions
    "pipelines": 5,
    # file jobs (runner, resume) and the experiment grid: peers
    "jobs": 6,
    "experiment": 6,
    # environment report for `xner doctor`
    "doctor": 7,
    # the package itself (xner/runtime/__init__.py): the version only
    "__init__": 8,
}
CLI_RANK = 9  # cli/ may import any layer of the runtime
# The torch side: peers of each other, never imported by the runtime, and by the CLI only inside
# the command that needs it (so that `xner --help` and every other command stay torch-free).
TORCH_SIDE = (["xner", "export"], ["xner", "train"])


def _module_name(path: Path, top: Path, package: str) -> str:
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _imports(path: Path, name: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path`` (module ``name``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "xner.runtime":  # `from xner.runtime import pipelines`: by its name
                found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, module))
    return found


def _module_level(path: Path) -> list[tuple[int, str]]:
    """(line, module) of the imports a module runs when it is imported: its top-level statements
    and those inside top-level ``try`` blocks (not functions, not ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    statements = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.Try):
            statements.extend(node.body)
    found: list[tuple[int, str]] = []
    for node in statements:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module))
    return found


def _layer(module: str) -> str | None:
    """The runtime layer of an ``xner.runtime...`` module name, None for anything else."""
    parts = module.split(".")
    if parts[:2] != ["xner", "runtime"]:
        return None
    return parts[2] if len(parts) > 2 else "__init__"


def violations(root: Path) -> list[str]:
    """Every import in ``root``/runtime and ``root``/cli that breaks the layering."""
    problems: list[str] = []
    sources = [(root / "runtime", "xner.runtime"), (root / "cli", "xner.cli")]
    for top, package in sources:
        for path in sorted(top.rglob("*.py")):
            name = _module_name(path, top, package)
            where = path.relative_to(root)
            mine = _layer(name) if package == "xner.runtime" else "cli"
            if mine is None or (mine != "cli" and mine not in RANKS):
                problems.append(f"{where}: {mine!r} is in no layer (RANKS in tests/test_layers.py)")
                continue
            rank = CLI_RANK if mine == "cli" else RANKS[mine]
            if mine == "cli":
                for line, module in _module_level(path):
                    if module.split(".")[:2] in TORCH_SIDE:
                        problems.append(
                            f"{where}:{line}: the cli imports {module} at module level"
                            " (import it inside the command)"
                        )
            for line, module in _imports(path, name):
                forbidden = [["xner", "cli"], *TORCH_SIDE]
                if mine != "cli" and module.split(".")[:2] in forbidden:
                    problems.append(f"{where}:{line}: the runtime imports {module}")
                    continue
                theirs = _layer(module)
                if theirs is None or theirs == mine or theirs not in RANKS:
                    continue  # not the runtime, the same layer, or a name inside a module
                if RANKS[theirs] < rank:
                    continue
                relation = "a peer" if RANKS[theirs] == rank else "a higher layer"
                problems.append(f"{where}:{line}: {mine} imports {module} ({relation}: {theirs})")
    return problems


def test_lower_layers_never_import_higher_ones() -> None:
    assert violations(ROOT) == []


def test_every_runtime_folder_and_module_has_a_layer() -> None:
    present = {p.stem for p in (ROOT / "runtime").glob("*.py")}
    present |= {p.name for p in (ROOT / "runtime").iterdir() if (p / "__init__.py").is_file()}
    assert present <= set(RANKS), sorted(present - set(RANKS))
    assert {"engines", "projection", "pipelines", "jobs", "data"} <= present  # walked the tree


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_the_check_catches_each_kind_of_violation(tmp_path: Path) -> None:
    """The check cannot pass vacuously: planted violations of every kind are reported."""
    root = _tree(
        tmp_path,
        {
            "runtime/pipelines/__init__.py": "",
            "runtime/pipelines/compose.py": (
                "from xner.runtime.jobs.runner import run\n"  # higher layer
                "from xner.runtime.pipelines import stages\n"  # own layer: fine
                "from xner.runtime.data import Span\n"  # lower layer: fine
            ),
            "runtime/engines/__init__.py": "",
            "runtime/engines/tagger.py": (
                "def lazy():\n    from ..projection import project\n"  # peer, relative, lazy
            ),
            "runtime/projection/__init__.py": "",
            "runtime/projection/hook.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from xner.runtime.engines.tagger import Tagger\n"  # a peer, for types only
            ),
            "runtime/files/__init__.py": "",
            "runtime/files/io.py": "import xner.cli.app\nfrom xner.runtime import pipelines\n",
            "runtime/jobs/__init__.py": "",
            "runtime/jobs/runner.py": "def lazy():\n    from xner.train import train\n",
            "runtime/gadgets/__init__.py": "",
            "cli/main.py": "from xner.runtime.jobs import runner\nfrom xner.export import api\n",
            "cli/train_command.py": (
                "try:\n    import xner.train\nexcept ImportError:\n    pass\n"  # module level
                "def command():\n    from xner.train import train\n"  # inside: fine
            ),
        },
    )
    found = violations(root)
    expected = [
        "cli/main.py:2: the cli imports xner.export at module level (import it inside the command)",
        "cli/train_command.py:2: the cli imports xner.train at module level"
        " (import it inside the command)",
        "runtime/engines/tagger.py:2: engines imports xner.runtime.projection (a peer: projection)",
        "runtime/files/io.py:1: the runtime imports xner.cli.app",
        "runtime/files/io.py:2: files imports xner.runtime.pipelines (a higher layer: pipelines)",
        "runtime/gadgets/__init__.py: 'gadgets' is in no layer (RANKS in tests/test_layers.py)",
        "runtime/jobs/runner.py:2: the runtime imports xner.train",
        "runtime/pipelines/compose.py:1: pipelines imports xner.runtime.jobs.runner"
        " (a higher layer: jobs)",
        "runtime/projection/hook.py:3: projection imports xner.runtime.engines.tagger"
        " (a peer: engines)",
    ]
    assert sorted(set(found)) == expected, found


def test_no_two_runtime_modules_share_a_name_and_none_looks_like_a_test() -> None:
    """A newcomer finds one module per name (no decoys) and never mistakes one for a test file."""
    names: dict[str, list[str]] = {}
    for path in sorted((ROOT / "runtime").rglob("*.py")):
        if path.name != "__init__.py":
            names.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    for folder in sorted(p for p in (ROOT / "runtime").rglob("*") if (p / "__init__.py").is_file()):
        names.setdefault(folder.name, []).append(str(folder.relative_to(ROOT)) + "/")
    assert len(names) > 30  # walked the tree
    assert {name: where for name, where in names.items() if len(where) > 1} == {}
    assert [n for n in names if n.startswith("test_") or n.endswith("_test")] == []
