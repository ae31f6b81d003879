"""Imports flow one way: kernels <- scrapl <- matching, synths <- matching.

Every module's imports are parsed (``ast``, so imports inside functions count too):

* ``kernels/`` imports no other package of the project;
* ``scrapl/`` imports only ``kernels/``;
* ``synths/`` imports neither ``scrapl/`` nor ``matching/``;
* ``matching/`` may import all three.

And no module of the project (packages, benchmarks, scripts, examples) imports a private
(underscore) name from another module.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "scrapl", "synths", "matching")
#: what each package may import of the project's packages (besides itself)
ALLOWED = {"kernels": set(), "scrapl": {"kernels"}, "synths": {"kernels"},
           "matching": {"kernels", "scrapl", "synths"}}
OTHER_CODE = ("benchmarks", "scripts", "examples")


def _imports(path: Path, root: Path) -> Iterator[Tuple[int, str, List[str]]]:
    """(line, absolute module, imported names) of every import in ``path``."""
    rel = path.relative_to(root).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module, [a.name for a in node.names]


def violations(root: Path) -> List[str]:
    """Every import against the layering, and every private name imported from another
    module, in the tree at ``root``: ``"file:line: what"``."""
    root = Path(root)
    found: List[str] = []
    files = [p for pkg in PACKAGES + OTHER_CODE for p in sorted((root / pkg).rglob("*.py"))]
    for path in files:
        top = path.relative_to(root).parts[0]
        this_module = ".".join(path.relative_to(root).with_suffix("").parts)
        for line, module, names in _imports(path, root):
            where = f"{path.relative_to(root)}:{line}"
            target = module.split(".")[0]
            if top in PACKAGES and target in PACKAGES and target != top \
                    and target not in ALLOWED[top]:
                found.append(f"{where}: {top} imports {module}")
            if target in PACKAGES and module != this_module:
                for name in names:
                    if name.startswith("_") and not name.startswith("__"):
                        found.append(f"{where}: private name {name} from {module}")
            last = module.rsplit(".", 1)[-1]
            if target in PACKAGES and last.startswith("_") and not last.startswith("__"):
                found.append(f"{where}: private module {module}")
    return found


def test_the_project_follows_the_layering():
    assert violations(REPO) == []


@pytest.mark.parametrize("package, source, expected", [
    ("synths", "def f():\n    from matching.export import presets_to_midi\n", "synths imports matching.export"),
    ("scrapl", "from synths.files import atomic_output\n", "scrapl imports synths.files"),
    ("kernels", "import scrapl.jtfs\n", "kernels imports scrapl.jtfs"),
    ("matching", "from .batch import _Job\n", "private name _Job from matching.batch"),
    ("matching", "from scrapl.path_optim import _adam_normalize\n",
     "private name _adam_normalize from scrapl.path_optim"),
])
def test_an_upward_or_private_import_is_found(tmp_path, package, source, expected):
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "mod.py").write_text("import torch\n" + source)
    found = violations(tmp_path)
    assert len(found) == 1 and found[0].endswith(expected), found


def test_allowed_imports_are_not_flagged(tmp_path):
    (tmp_path / "matching").mkdir()
    (tmp_path / "matching" / "mod.py").write_text(
        "import synths\nfrom scrapl.loss import SCRAPLLoss\nfrom .engine import refine\n"
        "from . import options\nfrom __future__ import annotations\n")
    (tmp_path / "matching" / "own.py").write_text("def _x(): pass\ndef f():\n"
                                                  "    from matching.own import _x\n")
    assert violations(tmp_path) == []
