"""Budget-forcing flags shared by the chat and the batch CLI, and the backend dispatch table.

engine, tokenizer = build_engine(model_args, fmt, backend_args, batch_size=32)   # hf (default) or vllm
results = engine.generate([budget_args.request(prompt) for prompt in prompts])

`batch_size` is the number of requests decoded together by the HF engine, and the chunk after which
the vLLM engine hands back results (so runs that write results as they come resume part-way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.errors import ConfigError
from thinkscale.inference.backend import BackendArgs, require_vllm
from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS, BudgetRequest, validate_budgets
from thinkscale.inference.models.load import ModelArgs, load_model, load_tokenizer, resolve_model
from thinkscale.inference.vllm.engine import VLLMEngine


@dataclass
class BudgetArgs:
    """Thinking budgets and sampling (recipe keys of the same names)."""

    _argument_group_name = "budget: budget forcing"  # its flags' heading in --help

    min_thinking_tokens: int = field(
        default=0, metadata={"help": "Suppress end-of-thinking until this many tokens."}
    )
    max_thinking_tokens: int = field(
        default=512, metadata={"help": "Force the answer at this many thinking tokens."}
    )
    num_ignore: int = field(default=0, metadata={"help": "Suppress this many attempts to stop thinking."})
    ignore_string: list[str] = field(
        default_factory=lambda: ["Wait"],
        metadata={"help": "Text appended at each suppression (several: used in turn)."},
    )
    max_answer_tokens: int = field(
        default=MAX_ANSWER_TOKENS,
        metadata={"help": "Most tokens in the answer (s1's recipes: 32768, no cap short of the context)."},
    )
    temperature: float = field(default=0.0, metadata={"help": "Thinking temperature (0: greedy)."})
    answer_temperature: float | None = field(
        default=None, metadata={"help": "Answer temperature (unset: --temperature)."}
    )
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    seed: int = field(
        default=0, metadata={"help": "Sampling seed (per request: the same seed, the same sample)."}
    )
    batch_size: int = field(
        default=32, metadata={"help": "Requests decoded together (hf); results handed back per chunk (vllm)."}
    )

    def __post_init__(self) -> None:
        validate_budgets(
            self.min_thinking_tokens, self.max_thinking_tokens, self.num_ignore, self.max_answer_tokens,
            self.ignore_string, self.temperature, self.answer_temperature or 0.0, self.top_p,
        )  # fmt: skip
        if self.batch_size <= 0:
            raise ConfigError(f"--batch-size must be > 0, got {self.batch_size}")

    def request(self, prompt: str, seed: int | None = None) -> BudgetRequest:
        return BudgetRequest(
            prompt=prompt, min_thinking_tokens=self.min_thinking_tokens, max_thinking_tokens=self.max_thinking_tokens,
            num_ignore=self.num_ignore, ignore_strings=list(self.ignore_string), max_answer_tokens=self.max_answer_tokens,
            thinking_temperature=self.temperature,
            answer_temperature=self.temperature if self.answer_temperature is None else self.answer_temperature,
            top_p=self.top_p, seed=self.seed if seed is None else seed,
        )  # fmt: skip


def _hf(model_args: ModelArgs, fmt: FormatArgs, backend: BackendArgs, batch_size: int):
    from thinkscale.inference.hf.engine import HFEngine

    model, tokenizer = load_model(model_args)
    return HFEngine(model, tokenizer, fmt, batch_size=batch_size), tokenizer


def _vllm(model_args: ModelArgs, fmt: FormatArgs, backend: BackendArgs, batch_size: int):

    require_vllm()  # before resolving (and maybe converting) the model: the clear message first
    source = resolve_model(model_args.model, model_args.revision)
    tokenizer = load_tokenizer(source)
    engine = VLLMEngine.start(source, tokenizer, fmt, backend, model_args.dtype, chunk_size=batch_size)
    return engine, tokenizer


BACKENDS = {"hf": _hf, "vllm": _vllm}


def build_engine(
    model_args: ModelArgs, fmt: FormatArgs, backend: BackendArgs | None = None, batch_size: int = 32
):
    """(engine, tokenizer) for the backend `backend` names (default: hf)."""
    backend = backend or BackendArgs()
    return BACKENDS[backend.backend](model_args, fmt, backend, batch_size)
