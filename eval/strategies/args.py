"""The strategy study's settings (recipe keys of the same names; `thinkscale strategies --help`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from thinkscale.common.errors import ConfigError
from thinkscale.common.validate import at_least, within


@dataclass
class StrategyArgs:
    _argument_group_name = "strategies"  # its flags' heading in --help
    name: str | None = field(default=None, metadata={"help": "Run folder under outputs/strategies/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    strategies: list[str] = field(
        default_factory=lambda: ["budget_forcing", "majority", "best_of_n", "sequential_vote", "adaptive_vote",
                                 "beam_search", "rebase", "deepconf", "deepconf_online"],
        metadata={"help": "Strategies to run (see eval.strategies.table.STRATEGIES)."},
    )  # fmt: skip
    verifier: str = field(default="none", metadata={"help": "value_head:<folder>, prm:<model id> or none."})
    val_questions: int = field(
        default=50, metadata={"help": "Validation questions (compute-optimal choice)."}
    )
    test_questions: int = field(default=50, metadata={"help": "Test questions (reported)."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the validation/test split."})
    samples: int = field(default=8, metadata={"help": "Samples per question for maj@k and best-of-N."})
    bf_budgets: list[int] = field(
        default_factory=lambda: [32, 64, 128, 256], metadata={"help": "Budget forcing."}
    )
    sv_trials: list[int] = field(default_factory=lambda: [8], metadata={"help": "SV: most trials (K)."})
    sv_agree: int = field(default=3, metadata={"help": "SV: agreeing trials that stop generation (M)."})
    asv_judges: list[str] = field(
        default_factory=lambda: ["self", "verifier"],
        metadata={"help": "ASV difficulty judges: self, verifier."},
    )
    asv_threshold: float = field(default=0.5, metadata={"help": "ASV verifier judge: easy at this score."})
    beam_n: list[int] = field(default_factory=lambda: [4, 8], metadata={"help": "Beam search: beams N."})
    beam_width: int = field(default=2, metadata={"help": "Beam search: children per kept beam M."})
    beam_agg: str = field(default="last", metadata={"help": "Beam search: last, min or product."})
    lookahead: int = field(default=0, metadata={"help": "Beam search: greedy lookahead steps."})
    rebase_width: list[int] = field(default_factory=lambda: [4, 8], metadata={"help": "REBASE: width W."})
    rebase_temperature: float = field(default=0.2, metadata={"help": "REBASE: softmax temperature."})
    conf_topk: int = field(
        default=20, metadata={"help": "DeepConf: top-k log-probabilities a token's confidence is read from."}
    )
    conf_window: int = field(
        default=2048, metadata={"help": "DeepConf: tokens per confidence window (the paper: 2048)."}
    )
    deepconf_etas: list[float] = field(
        default_factory=lambda: [10.0, 90.0],
        metadata={
            "help": "DeepConf: keep the top eta%% of traces by confidence (10: DeepConf-low, 90: -high)."
        },
    )
    deepconf_measure: str = field(
        default="lowest", metadata={"help": "DeepConf offline: mean, tail, bottom10 or lowest (window)."}
    )
    deepconf_warmup: int = field(
        default=4,
        metadata={
            "help": "DeepConf online: warm-up traces, the first shared samples (the paper: 16 of 512); also the wave size."
        },
    )
    deepconf_consensus: float = field(
        default=0.95,
        metadata={"help": "DeepConf online: stop drawing once the top answer holds this vote share."},
    )
    max_depth: int = field(default=40, metadata={"help": "Search: most steps per path."})
    question_chunk: int = field(default=10, metadata={"help": "Questions decoded together (memory)."})
    batch_size: int = field(default=48, metadata={"help": "Paths decoded together."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})

    def __post_init__(self) -> None:
        from thinkscale.eval.strategies.search import AGGREGATES
        from thinkscale.eval.strategies.table import STRATEGIES

        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ConfigError(f"--strategies: unknown {unknown}; known: {', '.join(STRATEGIES)}")
        bad = [j for j in self.asv_judges if j not in ("self", "verifier")]
        if bad:
            raise ConfigError(f"--asv-judges: unknown {bad}; known: self, verifier")
        if self.beam_agg not in AGGREGATES:
            raise ConfigError(f"--beam-agg must be one of {AGGREGATES}, got {self.beam_agg!r}")
        at_least(self, 1, "beam_width")  # before the divisibility check below divides by it
        at_least(self, 0, "lookahead")
        within(self, 0.0, 1.0, "asv_threshold")
        if self.rebase_temperature <= 0:
            raise ConfigError(f"--rebase-temperature must be > 0, got {self.rebase_temperature}")
        if any(n % self.beam_width for n in self.beam_n):
            raise ConfigError(
                f"--beam-n {self.beam_n}: each must be divisible by --beam-width {self.beam_width}"
            )
        if not 1 <= self.sv_agree <= min(self.sv_trials):
            raise ConfigError(
                f"--sv-agree must be in 1..min(--sv-trials), got {self.sv_agree} and {self.sv_trials}"
            )
        for flag, v in (("--samples", self.samples), ("--val-questions", self.val_questions),
                        ("--test-questions", self.test_questions), ("--question-chunk", self.question_chunk),
                        ("--batch-size", self.batch_size), ("--max-depth", self.max_depth)):  # fmt: skip
            if v <= 0:
                raise ConfigError(f"{flag} must be > 0, got {v}")
        from thinkscale.eval.strategies.confidence import MEASURES

        if self.deepconf_measure not in MEASURES:
            raise ConfigError(f"--deepconf-measure must be one of {MEASURES}, got {self.deepconf_measure!r}")
        if any(not 0 < e <= 100 for e in self.deepconf_etas):
            raise ConfigError(f"--deepconf-etas must be in (0, 100], got {self.deepconf_etas}")
        within(self, 0.0, 1.0, "deepconf_consensus")
        for name in ("conf_topk", "conf_window", "deepconf_warmup"):
            at_least(self, 1, name)
        if "deepconf_online" in self.strategies and self.deepconf_warmup > self.samples:
            raise ConfigError(f"--deepconf-warmup {self.deepconf_warmup} must be <= --samples {self.samples}: "
                             "the warm-up traces are the first shared samples")  # fmt: skip
        if any(b <= 0 for b in self.bf_budgets + self.rebase_width + self.beam_n):
            raise ConfigError("--bf-budgets, --rebase-width and --beam-n must be positive")
