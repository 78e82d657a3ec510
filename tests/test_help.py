"""Every entry point answers `--help` (exit 0, a usage line) without loading a model or data.

Entry points are found, not listed: every module of the toolkit's packages (and bench/) that runs as
`python -m <module>`, so a new one is covered the day it is added. The `thinkscale` command's
subcommands are tested in tests/test_cli.py.
"""

import runpy
import sys
from pathlib import Path

import pytest

# runpy warns that the module was imported before it runs as __main__ (its package imported it): harmless here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "data", "sft", "inference", "eval", "ibpo", "grading", "bench")


def entry_points() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
                name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                found.append(name if package == "bench" else f"thinkscale.{name}")
    return found


def test_entry_points_are_found():
    assert {
        "thinkscale.sft.train",
        "thinkscale.inference.generate",
        "thinkscale.eval.run",
        "thinkscale.data.curate",
        "thinkscale.ibpo.run",
        "bench.bench_processor",
    } <= set(entry_points())


@pytest.mark.parametrize("module", entry_points())
def test_help(module, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(module, run_name="__main__")
    out = capsys.readouterr()
    assert done.value.code in (0, None), out.err[-500:]
    assert "usage" in out.out.lower(), out.out[:500]
