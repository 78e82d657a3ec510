"""IBPO settings (recipe keys of the same names; `thinkscale ibpo --help`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.recipes import resolve as resolve_recipe
from thinkscale.common.validate import at_least
from thinkscale.ibpo.groups import GROUP_BY
from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS


@dataclass
class IBPOArgs:
    _argument_group_name = "ibpo"  # its flags' heading in --help
    name: str = field(default="ibpo", metadata={"help": "Folder under outputs/ibpo/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    start_model: str = field(default="", metadata={"help": "The model round 1 samples from (ASV-SFT)."})
    questions_from: str = field(
        default="smollm2-135m-builtin",
        metadata={"help": "A make-data run name or a .jsonl with question/gold."},
    )
    questions: int = field(default=64, metadata={"help": "Training questions per round (the first ones)."})
    samples: int = field(default=4, metadata={"help": "Responses sampled per question (k)."})
    budgets: list[float] = field(
        default_factory=lambda: [0.25, 0.5, 0.75], metadata={"help": "Shares q of extended responses."}
    )
    rounds: int = field(default=2, metadata={"help": "IBPO rounds R per budget."})
    ilp_batch: int = field(default=16, metadata={"help": "Questions per selection program."})
    per_question: int = field(default=2, metadata={"help": "Most responses learned per question."})
    group_by: str = field(default="format", metadata={"help": f"Length groups: {', '.join(GROUP_BY)}."})
    long_tokens: int = field(default=200, metadata={"help": "group_by=tokens: extended above this."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature."})
    max_thinking_tokens: int = field(default=400, metadata={"help": "Thinking cap when sampling."})
    max_answer_tokens: int = field(
        default=MAX_ANSWER_TOKENS,
        metadata={"help": "Most tokens in the answer (s1's recipes: 32768, no cap short of the context)."},
    )
    batch_size: int = field(default=48, metadata={"help": "Requests decoded together."})
    sft_config: str = field(default="", metadata={"help": "The SFT recipe of each round's update."})
    seed: int = field(default=0, metadata={"help": "Sampling seed (each round adds its index)."})

    def __post_init__(self) -> None:
        if not self.start_model:
            raise ConfigError("--start-model is required (the ASV-SFT model, e.g. outputs/sft/<name>/final)")
        if not self.sft_config:
            raise ConfigError("--sft-config is required (the SFT recipe each round trains with)")
        self.sft_config = str(resolve_recipe(self.sft_config))  # a file, else a packaged recipe
        if not Path(self.sft_config).is_file():
            raise FileNotFoundError(f"--sft-config {self.sft_config}: no such file")
        at_least(self, 0, "max_thinking_tokens", "temperature")
        at_least(self, 1, "max_answer_tokens", "batch_size", "long_tokens")
        if self.group_by not in GROUP_BY:
            raise ConfigError(f"--group-by must be one of {GROUP_BY}, got {self.group_by!r}")
        if not self.budgets or any(not 0 <= q <= 1 for q in self.budgets):
            raise ConfigError(f"--budgets must be shares in [0, 1], got {self.budgets}")
        for flag, v in (("--rounds", self.rounds), ("--samples", self.samples), ("--questions", self.questions),
                        ("--ilp-batch", self.ilp_batch), ("--per-question", self.per_question)):  # fmt: skip
            if v <= 0:
                raise ConfigError(f"{flag} must be > 0, got {v}")
