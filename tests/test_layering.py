"""Data flows one way (data -> sft -> inference -> eval); what several stages share sits below them.
Checked on the import statements, so a new module is covered without listing it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> packages it must never import
FORBIDDEN = {
    "common": {"data", "sft", "inference", "eval", "ibpo", "grading"},
    "grading": {"data", "sft", "inference", "eval", "ibpo"},
    "data": {"sft", "eval", "ibpo"},
    "inference": {"data", "sft", "eval", "ibpo"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package):
    bad = {str(f.relative_to(ROOT)): sorted(imported_packages(f) & FORBIDDEN[package])
           for f in (ROOT / package).rglob("*.py")}  # fmt: skip
    assert not {f: b for f, b in bad.items() if b}, bad
