"""The layering of docs/design: common at the bottom, grading above it, then inference, then the stages
that call it (data, sft), then eval and ibpo; no stage imports one above it, nothing imports in a
circle (modules, or sub-packages as units), and an import inside a function defers something heavy.

Read from the source by `tests/layering.py` (every import of the package's own code, also those
inside functions). The checker is itself tested on a copy of the tree with a planted fault."""

from __future__ import annotations

import shutil

import pytest

from tests.layering import (
    ROOT,
    STAGES,
    cycles,
    edges,
    module_graph,
    read_tree,
    stage,
    unit_graph,
    unjustified_inner_imports,
    upward_imports,
)


@pytest.fixture(scope="module")
def tree():
    return read_tree()


def test_the_reader_sees_the_stage_imports(tree):
    # The test this one replaced read only the first name of each import (always `thinkscale`) and so
    # checked nothing: make sure the imports between stages are really seen.
    between = {(stage(a), stage(b)) for a, b, _, _ in edges(tree)}
    assert {
        ("inference", "common"),
        ("eval", "inference"),
        ("data", "inference"),
        ("sft", "common"),
    } <= between
    assert len(edges(tree)) > 500


def test_no_stage_imports_one_above_it(tree):
    assert upward_imports(tree) == []


def test_no_module_imports_in_a_circle(tree):
    assert cycles(module_graph(tree)) == []


def test_no_sub_packages_import_in_a_circle(tree):
    assert cycles(unit_graph(tree)) == []


def test_imports_inside_functions_defer_something_heavy(tree):
    assert unjustified_inner_imports(tree) == []


def _copy(tmp_path):
    for name in (*STAGES, "thinkscale"):
        shutil.copytree(ROOT / name, tmp_path / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.html", "*.yaml"))  # fmt: skip
    return tmp_path


def test_a_planted_back_arrow_and_circle_fail(tmp_path):
    root = _copy(tmp_path)
    with open(root / "common" / "io.py", "a") as f:  # the bottom layer reaching up, inside a function
        f.write(
            "\n\ndef _planted():\n    from thinkscale.eval.run import main\n    import json\n\n    return main, json\n"
        )
    with open(root / "inference" / "forcing" / "budget.py", "a") as f:  # the rules importing their user
        f.write("\nfrom thinkscale.inference.hf import engine as _planted  # noqa\n")
    planted = read_tree(root)
    assert any(
        line.startswith("common/io.py:") and "common imports eval" in line for line in upward_imports(planted)
    )
    assert any("thinkscale.inference.forcing.budget" in c for c in cycles(module_graph(planted)))
    # `import json` in a function defers nothing; the planted eval import defers torch and is allowed
    assert [line for line in unjustified_inner_imports(planted) if line.startswith("common/io.py:")] == [
        f"common/io.py:{len((root / 'common' / 'io.py').read_text().splitlines()) - 2}: json"
    ]
