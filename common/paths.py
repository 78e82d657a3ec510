"""Where things live: the outputs root, each stage's output folder, and the model cache.

Outputs go under one root, `outputs/` in the current folder unless `--output-root` or the
`THINKSCALE_OUTPUTS` environment variable says otherwise. Stage folders are stable paths that
users and scripts rely on: `outputs/data/<name>/`, `outputs/sft/<name>/`, `outputs/eval/<name>/`,
`outputs/verifier/<name>/`, `outputs/strategies/<name>/`.
Converted models are cached in `~/.cache/thinkscale/models/` (override: `THINKSCALE_CACHE`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from thinkscale.common.errors import ConfigError

STAGES = ("data", "sft", "eval", "verifier", "strategies", "ibpo")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


def output_root(override: str | None = None) -> Path:
    """The outputs root: the flag if given, else $THINKSCALE_OUTPUTS, else ./outputs."""
    return Path(override or os.environ.get("THINKSCALE_OUTPUTS") or "outputs")


def stage_dir(stage: str, name: str, root: str | None = None) -> Path:
    """`<root>/<stage>/<name>`; the name must be a plain folder name (it comes from a recipe)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    if not _NAME_RE.match(name or ""):
        raise ConfigError(
            f"run name {name!r} is not a plain folder name (letters, digits, . _ + = -; no slashes)"
        )
    return output_root(root) / stage / name


def cache_dir() -> Path:
    """Root of the model cache: $THINKSCALE_CACHE, else ~/.cache/thinkscale."""
    env = os.environ.get("THINKSCALE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "thinkscale"
