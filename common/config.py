"""Recipe parsing: dataclass configs filled from `--config recipe.yaml` plus command-line flags.

Every stage entry point declares one dataclass per concern (model, format, the stage itself), with
`metadata={"help": ...}` on each field, and calls `parse_config`. A recipe is a flat YAML mapping
whose keys are field names of those dataclasses; flags given on the command line win over the
recipe, which wins over the dataclass defaults. Flags accept `--max-thinking-tokens` and
`--max_thinking_tokens` alike. Validation lives in each dataclass's `__post_init__` and raises
`ValueError` naming the field.

    cfg_model, cfg_fmt, cfg_gen = parse_config([ModelArgs, FormatArgs, GenerateArgs], sys.argv[1:])
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_text
from thinkscale.common.recipes import resolve as resolve_recipe


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a recipe: a flat YAML mapping, from a file or a packaged recipe's name
    (`smollm2-135m/eval`, common.recipes). Errors name the file."""
    path = resolve_recipe(path)
    if not path.is_file():
        raise ConfigError(
            f"--config {path}: no such recipe file, nor a recipe shipped with thinkscale (`thinkscale recipes` lists them)"
        )
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"--config {path}: not valid YAML ({e})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"--config {path}: a recipe must be a mapping of field: value")
    return values


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help: the stage's docstring as written (its example commands), every flag with its default."""


def parse_config(types: Sequence[type], argv: Sequence[str] | None = None, doc: str | None = None,
                 hidden: Sequence[str] = ()) -> tuple:  # fmt: skip
    """Parse `argv` into one instance of each dataclass in `types` (recipe + overrides).

    `doc`: the stage's description for --help (its module docstring, with an example command); the
    flags are grouped by dataclass under its `_argument_group_name`. `hidden`: fields a stage shares
    with another but does not read (left out of its --help; still accepted from a shared recipe)."""
    # Imported here: transformers takes seconds to import and `--help` should not wait for it
    # longer than it must.
    from transformers import HfArgumentParser

    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)

    parser = HfArgumentParser(
        list(types),
        description=doc,
        formatter_class=_HelpFormatter,
        usage="%(prog)s [--config RECIPE] [--print-config] [options]",
    )
    for action in parser._actions:  # argparse has no public way to hide an added flag
        if action.dest in hidden:
            action.help = argparse.SUPPRESS
    parser.add_argument(
        "--config",
        help="YAML recipe: a file, or a recipe shipped with thinkscale by name (smollm2-135m/eval); "
        "flags given on the command line override it",
    )
    parser.add_argument(
        "--print-config", action="store_true",
        help="check the recipe and flags, print the resolved config as a recipe and exit without running",
    )  # fmt: skip
    if known.config:
        values = load_recipe(known.config)
        fields = {f.name for t in types for f in dataclasses.fields(t)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ConfigError(
                f"--config {known.config}: unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(fields))}"
            )
        parser.set_defaults(**values)
    try:
        outputs = parser.parse_args_into_dataclasses(args=argv)
    except TypeError as e:  # a recipe value of the wrong type reaches a dataclass constructor
        raise ConfigError(f"--config {known.config}: {e}") from None
    configs = tuple(outputs[: len(types)])
    if getattr(outputs[len(types)] if len(outputs) > len(types) else None, "print_config", False):
        # Everything above ran: the recipe was found and read, and each dataclass validated its fields.
        print(yaml.safe_dump(config_dict(*configs), sort_keys=False, allow_unicode=True), end="")
        raise SystemExit(0)
    return configs


def config_dict(*configs: Any) -> dict[str, Any]:
    """Merge dataclass instances into one flat dict (the resolved recipe)."""
    merged: dict[str, Any] = {}
    for c in configs:
        merged.update(dataclasses.asdict(c))
    return merged


def _defaults(*configs: Any) -> dict[str, Any]:
    out = {}
    for c in configs:
        for f in dataclasses.fields(c):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
    return out


def recipe_differences(saved: str | Path, *configs: Any, ignore: Sequence[str] = ()) -> list[str]:
    """Fields in which the resolved config differs from a saved one (`config.yaml` of an earlier run).

    A field the saved file lacks counts as different only when it is set away from its default, so
    a run made before a new option existed still matches.
    """
    old = load_recipe(saved)
    now, defaults = config_dict(*configs), _defaults(*configs)
    return sorted(
        k for k, v in now.items()
        if k not in ignore and (old[k] != v if k in old else v != defaults.get(k))
    )  # fmt: skip


def save_config(path: str | Path, *configs: Any) -> Path:
    """Write the resolved config as a recipe that reproduces the run (`--config` accepts it)."""
    text = yaml.safe_dump(config_dict(*configs), sort_keys=False, allow_unicode=True)
    return atomic_write_text(path, text)


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a CLI `main`: bad input (a `ConfigError`, or a file that is not there) is one line on stderr
    and exit code 2; anything else is a bug of ours and shows its traceback. `THINKSCALE_DEBUG=1`
    shows the traceback of bad input too."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = main(argv)
    except (ConfigError, FileNotFoundError) as e:
        if os.environ.get("THINKSCALE_DEBUG", "") not in ("", "0"):
            raise
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)
