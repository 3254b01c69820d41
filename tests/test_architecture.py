"""The packages of grainseg import each other in one order, bottom to top (docs/architecture.md).

Every ``import`` of every module under ``src/grainseg`` counts, at the top of a file or inside a
function: a lazy import is a dependency all the same, and a cycle through one still ties the two
packages together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "grainseg"

#: Bottom to top. A unit (a subpackage or top-level module of grainseg; "grainseg" is the package's
#: own __init__) may import itself and the units of lower layers only; the units of one layer are
#: independent of each other.
LAYERS: list[tuple[str, ...]] = [
    ("grainseg", "errors", "layout", "progress"),
    ("pixel_size",),
    ("io",),
    ("cluster", "overlay", "preprocess"),
    ("grains", "register"),
    ("ebsd", "metrics", "synth"),
    ("labels", "models", "losses"),
    ("data", "infer"),
    ("train", "review"),
    ("report",),
    ("commands",),
    ("cli",),
]
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def module_name(path: Path) -> str:
    """``src/grainseg/io/ebsd/ang.py`` -> ``grainseg.io.ebsd.ang``."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The unit a module belongs to: ``grainseg.io.ebsd.ang`` -> ``io``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported_modules(module: str, source: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every grainseg module that ``source`` (the text of ``module``) imports, with its line."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base)
                targets = ([f"{prefix}.{node.module}"] if node.module
                           else [f"{prefix}.{alias.name}" for alias in node.names])
            else:
                targets = [node.module or ""]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t.split(".")[0] == "grainseg"]
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that go upward or sideways in `LAYERS` (or to unknown units)."""
    unit = unit_of(module)
    problems = []
    for target, line in imported_modules(module, source, is_package):
        other = unit_of(target)
        if other == unit:
            continue
        if unit not in RANK or other not in RANK:
            missing = unit if unit not in RANK else other
            problems.append(f"{module}:{line}: unit {missing!r} is not in LAYERS")
        elif RANK[other] >= RANK[unit]:
            problems.append(f"{module}:{line}: {unit} (layer {RANK[unit]}) imports {target} "
                            f"({other}, layer {RANK[other]})")
    return problems


def test_every_import_follows_the_layers():
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        problems += violations(module_name(path), path.read_text(encoding="utf-8"),
                               is_package=path.name == "__init__.py")
    assert not problems, "imports against the dependency order:\n" + "\n".join(problems)


def test_every_unit_is_placed_once():
    units = {module_name(p).split(".")[1] for p in SRC.rglob("*.py") if p.parent != SRC}
    units |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"} | {"grainseg"}
    placed = [u for layer in LAYERS for u in layer]
    assert len(placed) == len(set(placed))
    assert units == set(placed), f"missing {units - set(placed)}, stale {set(placed) - units}"


@pytest.mark.parametrize(
    ("module", "source", "is_package"),
    [
        # grains -> report -> grains: grain statistics drawing their figures with report's code.
        ("grainseg.grains.outputs", "from grainseg.report.figures import save_png\n", False),
        # io -> ebsd -> grains -> io: a reader reaching up to the orientation maths.
        ("grainseg.io.ebsd.map", "from ...ebsd import quaternion\n", False),
        ("grainseg.io.ebsd", "from grainseg.ebsd.misorientation import misorientation_deg\n",
         True),
        # A command running other commands through the CLI; a lazy import counts.
        ("grainseg.commands.demo", "def _step():\n    from grainseg.cli import main\n", False),
        # infer <-> cluster: the generic task runner importing the predictor.
        ("grainseg.cluster", "def f():\n    import grainseg.infer.segment\n", False),
        # Units of one layer are independent.
        ("grainseg.ebsd.grains", "from grainseg.synth import specimen\n", False),
    ],
)
def test_the_check_catches_upward_imports(module, source, is_package):
    assert violations(module, source, is_package)


@pytest.mark.parametrize(
    ("module", "source", "is_package"),
    [
        ("grainseg.report.collect", "from grainseg.grains.analysis import analyse_grains\n",
         False),
        ("grainseg.io.ebsd.ang", "from .common import header\nfrom ..atomic import atomic_path\n",
         False),
        ("grainseg.io", "from . import tiff\n", True),
        ("grainseg.cli", "import numpy\nfrom grainseg import __version__\n", False),
    ],
)
def test_the_check_allows_downward_imports(module, source, is_package):
    assert violations(module, source, is_package) == []
