"""Recipes shipped with the package, found by name: `--config smollm2-135m/eval` anywhere.

    thinkscale recipes                   # list them
    thinkscale eval --config smollm2-135m/eval
    thinkscale eval --config recipes/smollm2-135m/eval.yaml   # the same file, from a checkout

A `--config` value (and a path a recipe names, such as `fsdp_config` or `sft_config`) is a file when
one exists at that path; otherwise `NAME/STAGE`, `NAME/STAGE.yaml` and `recipes/NAME/STAGE.yaml` name
the packaged recipe. A file of your own always wins over a packaged one of the same name.
"""

from __future__ import annotations

import argparse
import importlib.resources
from collections.abc import Sequence
from pathlib import Path

SUFFIXES = (".yaml", ".yml", ".json")


def packaged_root() -> Path:
    """The folder of shipped recipes (the checkout's recipes/, or the installed package's copy)."""
    return Path(str(importlib.resources.files("thinkscale.recipes")))


def resolve(value: str | Path) -> Path:
    """The recipe file `value` names: the path itself if it exists, else the packaged recipe.

    Returns the path unchanged when neither exists, so the caller's error names what was given."""
    path = Path(value)
    if path.exists():
        return path
    name = path.as_posix().removeprefix("./").removeprefix("recipes/")
    root = packaged_root()
    for candidate in (root / name, *(root / f"{name}{s}" for s in SUFFIXES)):
        if candidate.is_file():
            return candidate
    return path


def shipped() -> list[str]:
    """Every packaged recipe as the name `--config` accepts (`smollm2-135m/eval`)."""
    root = packaged_root()
    return sorted(
        p.relative_to(root).with_suffix("").as_posix()
        for p in root.rglob("*")
        if p.suffix in SUFFIXES and p.is_file()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", action="store_true", help="print each recipe's file path too")
    args = parser.parse_args(argv)
    for name in shipped():
        print(f"{name}\t{resolve(name)}" if args.path else name)
    return 0
