"""Where curation candidates come from: the built-in pool, Hugging Face datasets, local files.

    rows, test_rows, skipped = load_sources(args)     # one list of rows in the common schema

Every source yields rows of one schema: `id`, `question`, `reasoning`, `answer` (the text trained
on after "Answer: "), `gold` (the reference answer graded against), `domain` (None until labelled),
`level` (None outside the built-in pool), `source`, `meta`. Sources are named in `--sources`:

- `builtin`: the seeded pool (`data.builtin`); the only source with a test split.
- a Hub id such as `simplescaling/s1K-1.1`, `simplescaling/s1K` or `simplescaling/data_ablation_full59K`
  (s1's schemas: question, solution, cot_type, source_type, metadata, thinking_trajectories/attempt,
  and s1K-1.1's deepseek_/gemini_ columns; pick the trace with `--trace-family`); `hub:` forces it.
- a local `.jsonl`/`.json`/`.parquet` file (`file:` forces it) read through the column mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import read_jsonl
from thinkscale.common.validate import at_least, within
from thinkscale.data.builtin.pool import build_pool
from thinkscale.data.builtin.traces import TraceStyle


@dataclass
class SourceArgs:
    """Candidate sources and how to read them (recipe keys of the same names)."""

    _argument_group_name = "curation: sources"  # its flags' heading in --help

    sources: list[str] = field(
        default_factory=lambda: ["builtin"],
        metadata={"help": "builtin, Hub dataset ids, or local .jsonl/.parquet files (several allowed)."},
    )
    hub_split: str = field(default="train", metadata={"help": "Split of Hub datasets to read."})
    trace_family: str = field(
        default="deepseek",
        metadata={"help": "s1K-1.1 trace columns: deepseek or gemini (s1K/59K have one trace)."},
    )
    question_column: str = field(default="question", metadata={"help": "Local files: question column."})
    reasoning_column: str = field(default="reasoning", metadata={"help": "Local files: reasoning column."})
    answer_column: str = field(default="answer", metadata={"help": "Local files: answer column."})
    gold_column: str | None = field(
        default=None, metadata={"help": "Local files: reference-answer column (unset: the answer column)."}
    )
    domain_column: str | None = field(
        default=None, metadata={"help": "Local files: domain column (unset: classify)."}
    )
    on_error: str = field(
        default="raise",
        metadata={"help": "Malformed JSON lines: raise (name file:line) or skip (count them)."},
    )
    builtin_train_per_level: int = field(
        default=30, metadata={"help": "Built-in pool: train candidates per domain and level."}
    )
    builtin_test_per_level: int = field(
        default=5, metadata={"help": "Built-in pool: held-out test problems per domain and level."}
    )
    builtin_domains: list[str] = field(
        default_factory=list, metadata={"help": "Built-in pool: domains to use (empty: all 10)."}
    )
    verify_rate: float = field(
        default=0.35, metadata={"help": "Built-in traces: share that verify their work."}
    )
    slip_rate: float = field(default=0.15, metadata={"help": "Built-in traces: share with a caught slip."})

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("--sources is empty; name at least one (e.g. builtin)")
        if self.on_error not in ("raise", "skip"):
            raise ConfigError(f"--on-error must be raise or skip, got {self.on_error!r}")
        if self.trace_family not in ("deepseek", "gemini"):
            raise ConfigError(f"--trace-family must be deepseek or gemini, got {self.trace_family!r}")
        at_least(self, 1, "builtin_train_per_level")
        at_least(self, 0, "builtin_test_per_level")
        within(self, 0.0, 1.0, "verify_rate", "slip_rate")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # s1K/59K: thinking_trajectories is a list holding one trace
        value = "\n".join(str(v) for v in value if v is not None)
    return value if isinstance(value, str) else str(value)


def s1_row(rec: dict, name: str, index: int, family: str = "deepseek") -> dict:
    """One row of an s1-schema dataset (s1K, s1K-1.1, data_ablation_full59K) in the common schema."""
    if f"{family}_thinking_trajectory" in rec:
        reasoning, answer = rec.get(f"{family}_thinking_trajectory"), rec.get(f"{family}_attempt")
    else:
        reasoning, answer = rec.get("thinking_trajectories"), rec.get("attempt")
    source_type = rec.get("source_type") or ""
    row = {
        "id": f"{name}-{index}", "question": _text(rec.get("question")), "reasoning": _text(reasoning),
        "answer": _text(answer), "gold": _text(rec.get("solution")), "domain": None, "level": None,
        "source": f"{name}:{source_type}" if source_type else name,
        "meta": {"cot_type": rec.get("cot_type"), "source_type": source_type},
    }  # fmt: skip
    if "gpqa" in source_type.lower():
        # s1's GPQA rows carry the explanation as their solution, its choice last ("... \n\nAnswer: C",
        # s1's data/fix_gpqa.py): the gold is that letter, graded as a choice. Without one, no gold.
        row["gold"], row["choices"] = gpqa_letter(row["gold"]), "ABCD"
    return row


_GPQA_ANSWER_RE = re.compile(r"Answer:\s*\(?([ABCD])\)?\s*$")


def gpqa_letter(solution: str | None) -> str | None:
    """The choice letter a GPQA solution ends with ("Answer: C"), or None."""
    found = _GPQA_ANSWER_RE.search((solution or "").strip())
    return found.group(1) if found else None


def load_hub(name: str, args: SourceArgs) -> list[dict]:
    """An s1-schema dataset from the Hugging Face Hub (or the local datasets cache)."""
    import datasets

    try:
        ds = datasets.load_dataset(name, split=args.hub_split)
    except Exception as e:  # the Hub raises many types; the user needs the name and the cause
        raise ConfigError(
            f"--sources {name}: cannot load this Hub dataset ({type(e).__name__}: {e})"
        ) from None
    needed = {"question"} & set(ds.column_names)
    if not needed:
        raise ConfigError(f"--sources {name}: no 'question' column (has {ds.column_names}); not an s1 schema")
    return [s1_row(rec, name, i, args.trace_family) for i, rec in enumerate(ds)]


def _read_table(path: Path, args: SourceArgs, skipped: list[str]) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"--sources {path}: no such file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix in (".jsonl", ".json"):
        return read_jsonl(path, skipped=skipped if args.on_error == "skip" else None)
    raise ConfigError(
        f"--sources {path}: unsupported file type {path.suffix!r} (use .jsonl, .json or .parquet)"
    )


def load_local(path: Path, args: SourceArgs, skipped: list[str]) -> list[dict]:
    """A local JSON-lines or Parquet file read through the column mapping."""
    records = _read_table(path, args, skipped)
    mapping = {"question": ("question_column", args.question_column),
               "reasoning": ("reasoning_column", args.reasoning_column),
               "answer": ("answer_column", args.answer_column)}  # fmt: skip
    if args.gold_column:
        mapping["gold"] = ("gold_column", args.gold_column)
    if args.domain_column:
        mapping["domain"] = ("domain_column", args.domain_column)
    columns = set().union(*(r.keys() for r in records)) if records else set()
    for flag, col in mapping.values():
        if records and col not in columns:
            raise ConfigError(
                f"{path}: no column {col!r} (set --{flag.replace('_', '-')}; the file has {sorted(columns)})"
            )
    rows = []
    for i, rec in enumerate(records):
        row = {k: _text(rec.get(col)) for k, (_, col) in mapping.items()}
        row.setdefault("gold", row["answer"])
        row.setdefault("domain", None)
        row.update(id=f"{path.stem}-{i}", level=None, source=f"file:{path.name}", meta={})
        rows.append(row)
    return rows


def load_sources(args: SourceArgs, seed: int) -> tuple[list[dict], list[dict], list[str]]:
    """(candidate rows, built-in test rows, descriptions of skipped malformed lines)."""

    rows, test, skipped = [], [], []
    for spec in args.sources:
        if spec == "builtin":
            style = TraceStyle(args.verify_rate, args.slip_rate)
            train, test = build_pool(
                seed, args.builtin_train_per_level, args.builtin_test_per_level, style, args.builtin_domains
            )
            rows += train
        elif spec.startswith("file:") or (
            not spec.startswith("hub:") and Path(spec).suffix in (".jsonl", ".json", ".parquet")
        ):
            rows += load_local(Path(spec.removeprefix("file:")), args, skipped)
        else:
            rows += load_hub(spec.removeprefix("hub:"), args)
    return rows, test, skipped
