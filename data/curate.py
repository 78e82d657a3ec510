"""`make data`: build an s1K-style dataset — sources → quality → difficulty → diversity → format.

    thinkscale data --config recipes/smollm2-135m/data.yaml [--num-samples 200 ...]

Writes `outputs/data/<name>/`: train.jsonl (question, reasoning, answer, domain, source, text, ...),
test.jsonl (the built-in pool's held-out split: question, answer, domain, level), dataset/ (Hugging
Face `save_to_disk`, both splits), report.json (counts after each stage, domains, lengths),
histograms.png and config.yaml (the resolved recipe, written last). A re-run with the same recipe
returns at once; stage results are cached in cache/ (the difficulty answers per question, so an
interrupted run resumes); a different recipe under the same name needs --overwrite.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from thinkscale.common.chat_format import FormatArgs
from thinkscale.common.config import parse_config, recipe_differences, run_cli, save_config
from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_json
from thinkscale.common.paths import stage_dir
from thinkscale.common.restart import RestartArgs, claimed_run
from thinkscale.common.validate import at_least
from thinkscale.data.difficulty import DifficultyArgs, count_trace_tokens, difficulty_filter
from thinkscale.data.domains import label_domains
from thinkscale.data.domains_model import model_labeler
from thinkscale.data.outputs import write_outputs
from thinkscale.data.quality import QualityArgs, quality_filter
from thinkscale.data.render import render_rows
from thinkscale.data.select import S1Steps, s1_select
from thinkscale.data.sources import SourceArgs, load_sources
from thinkscale.grading.grade import grade
from thinkscale.inference.backend import BACKEND_FIELDS, BackendArgs
from thinkscale.inference.models.load import ModelArgs, load_tokenizer, resolve_model

log = logging.getLogger("thinkscale.data.curate")


@dataclass
class CurateArgs:
    """The run itself (recipe keys of the same names)."""

    _argument_group_name = "curation: selection and output"  # its flags' heading in --help

    name: str = field(default="default", metadata={"help": "Output folder name under outputs/data/."})
    output_root: str | None = field(default=None, metadata={"help": "Outputs root (default ./outputs)."})
    num_samples: int = field(default=1000, metadata={"help": "Rows to select (s1: 1000)."})
    seed: int = field(default=0, metadata={"help": "Seed of the pool and of the selection."})
    domain_classifier: str = field(default="keyword", metadata={"help": "keyword (offline) or model."})
    domain_model: str | None = field(
        default=None, metadata={"help": "Chat model for --domain-classifier model."}
    )
    rank_base: float = field(
        default=2.0, metadata={"help": "Selection weight base^-rank by trace length (s1: 2)."}
    )
    keep_whole_sources: list[str] = field(
        default_factory=list,
        metadata={"help": "Sources kept whole before the draw, where the trace answers right (s1: "
                  "Idavidrein/gpqa qq8933/AIME_1983_2024)."},
    )  # fmt: skip
    keep_long_sources: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Sources whose right traces over --keep-long-min-tokens are kept (s1: qfq/openaimath)."
        },
    )
    keep_long_min_tokens: int = field(
        default=5600, metadata={"help": "--keep-long-sources threshold (s1: 5600)."}
    )
    benchmark_after: int = field(
        default=0,
        metadata={"help": "After this many rows, draw domains benchmark-weighted (s1: 700; 0: never)."},
    )
    benchmark_sources: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Sources whose domain mix weights the late draws (s1: qq8933/AIME_1983_2024 Idavidrein/gpqa)."
        },
    )
    benchmark_shares: list[float] = field(
        default_factory=list, metadata={"help": "Each benchmark source's total weight, relative (s1: 1 0.5)."}
    )
    block_size: int = field(default=32768, metadata={"help": "Training block size, in tokens (s1: 32768)."})
    over_length: str = field(
        default="report", metadata={"help": "Rows over --block-size: report, drop or error."}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Replace an existing run made with another recipe."}
    )

    def __post_init__(self) -> None:
        # Checked before anything runs: the difficulty pass alone takes minutes.
        if self.num_samples < 1:
            raise ConfigError(f"--num-samples must be >= 1, got {self.num_samples}")
        if self.block_size < 1:
            raise ConfigError(f"--block-size must be >= 1, got {self.block_size}")
        if self.rank_base < 1.0:
            raise ConfigError(f"--rank-base must be >= 1, got {self.rank_base}")
        if self.domain_classifier not in ("keyword", "model"):
            raise ConfigError(f"--domain-classifier must be keyword or model, got {self.domain_classifier!r}")
        if self.over_length not in ("report", "drop", "error"):
            raise ConfigError(f"--over-length must be report, drop or error, got {self.over_length!r}")
        at_least(self, 0, "benchmark_after", "keep_long_min_tokens")
        if len(self.benchmark_shares) != len(self.benchmark_sources) or any(
            x <= 0 for x in self.benchmark_shares
        ):
            raise ConfigError(f"--benchmark-shares must give one positive share per --benchmark-sources entry, got "
                             f"{self.benchmark_shares} for {self.benchmark_sources}")  # fmt: skip
        if self.benchmark_after and not self.benchmark_sources:
            raise ConfigError("--benchmark-after needs --benchmark-sources (whose domains weight the draws)")

    def steps(self) -> S1Steps:
        return S1Steps(self.keep_whole_sources, self.keep_long_sources, self.keep_long_min_tokens,
                       self.benchmark_after, self.benchmark_sources, self.benchmark_shares)  # fmt: skip


def _fingerprint(*parts) -> str:
    """A short hash of settings (and of input files' size and mtime), naming a stage's cache."""
    files = [p for part in parts if isinstance(part, list) for p in part if Path(str(p)).is_file()]
    stamp = [(str(f), Path(f).stat().st_size, Path(f).stat().st_mtime_ns) for f in files]
    blob = json.dumps([repr(p) for p in parts] + [stamp], sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=6).hexdigest()


def _nonempty(rows: list, stage: str, why: str) -> list:
    if not rows:
        raise ConfigError(f"the {stage} stage left no rows: {why}")
    return rows


def _quality(rows, test, src: SourceArgs, qual: QualityArgs, seed: int, cache: Path) -> tuple[list, dict]:
    path = (
        cache
        / f"quality-{_fingerprint(asdict(src), src.sources, asdict(qual), qual.decontaminate_against, seed)}.json"
    )
    if path.exists():
        saved = json.loads(path.read_text())
        keep = set(saved["kept"])
        return [r for r in rows if r["id"] in keep], saved
    kept, counts, examples = quality_filter(rows, test, qual)
    saved = {"kept": [r["id"] for r in kept], "dropped": counts, "examples": examples}
    atomic_write_json(path, saved)
    return kept, saved


def main(argv: Sequence[str] | None = None) -> int:
    model_args, fmt, src, qual, diff, run, backend, again = parse_config(
        [
            ModelArgs,
            FormatArgs,
            SourceArgs,
            QualityArgs,
            DifficultyArgs,
            CurateArgs,
            BackendArgs,
            RestartArgs,
        ],
        argv,
        doc=__doc__,
    )
    out = stage_dir("data", run.name, run.output_root)
    with claimed_run(out, "curation", again.restart):
        if (out / "config.yaml").exists():
            changed = recipe_differences(
                out / "config.yaml",
                model_args,
                fmt,
                src,
                qual,
                diff,
                run,
                backend,
                ignore=("overwrite", *BACKEND_FIELDS),  # another engine for the same recipe: the same run
            )
            if not changed:
                print(f"{out}: up to date with this recipe; nothing to do")
                return 0
            if not run.overwrite:
                raise ConfigError(f"{out} was made with another recipe (differs in: {', '.join(changed)}); "
                                 "pass --overwrite or choose another --name")  # fmt: skip
        cache = out / "cache"
        tokenizer = load_tokenizer(resolve_model(model_args.model, model_args.revision))

        # Sources → quality.
        rows, test, skipped = load_sources(src, run.seed)
        stages = [("loaded", len(rows))]
        _nonempty(rows, "source", f"--sources {src.sources} yielded no rows")
        rows, quality = _quality(rows, test, src, qual, run.seed, cache)
        stages.append(("quality", len(rows)))
        _nonempty(rows, "quality", f"every row was dropped ({quality['dropped']})")

        # Difficulty: drop what the base models solve; the trace length is the second signal.
        rows, solved_by = difficulty_filter(rows, diff, fmt, model_args, cache, backend)
        stages.append(("difficulty", len(rows)))
        _nonempty(rows, "difficulty", f"the difficulty models solved every question ({solved_by})")
        count_trace_tokens(rows, tokenizer)

        # Diversity: domains, then s1's selection.
        labeler = None
        if run.domain_classifier == "model":
            labeler = model_labeler(run.domain_model or model_args.model, fmt, model_args, backend=backend)
        domain_counts = label_domains(rows, run.domain_classifier, labeler)
        chosen = s1_select(rows, run.num_samples, run.seed, run.rank_base, run.steps(),
                           is_right=lambda r: grade(r["answer"], r["gold"], r.get("choices")).correct)  # fmt: skip
        if len(chosen) < run.num_samples:
            log.warning("the pool ran short: %d rows left after the difficulty stage, %d asked for (--num-samples)",
                        len(chosen), run.num_samples)  # fmt: skip
        stages.append(("diversity", len(chosen)))

        # Format: the s1 chat format with the target model's template.
        chosen, length_info = render_rows(chosen, tokenizer, fmt, run.block_size, run.over_length)
        stages.append(("format", len(chosen)))
        _nonempty(chosen, "format", f"every row was longer than --block-size {run.block_size}")

        extras = {"dropped": quality["dropped"], "dropped_examples": quality["examples"], "solved_by": solved_by,
                  "domain_labels": domain_counts, "malformed_lines_skipped": len(skipped),
                  "malformed_lines": skipped[:20], "num_samples_asked": run.num_samples,
                  "short_by": max(0, run.num_samples - len(chosen)), "length": length_info,
                  "test_rows": len(test)}  # fmt: skip
        report = write_outputs(out, chosen, test, stages, extras)
        save_config(
            out / "config.yaml", model_args, fmt, src, qual, diff, run, backend
        )  # last: marks the run complete
        print(f"{out}: {len(chosen)} train rows, {len(test)} test rows; counts {report['counts']}")
        return 0


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
