"""Evaluation sets: the built-in held-out split, AIME24 / MATH500 / GPQA-Diamond from the Hub, local files.

    items = load_benchmark(BenchmarkArgs(benchmark="math500", limit=100, subset_seed=0))

Every benchmark becomes a list of `Item(id, question, gold, choices)`. `--benchmark` is `builtin`
(`outputs/data/<data-name>/test.jsonl` from `make data`), a Hub short name (`aime24`: s1's
simplescaling/aime24_nofigures; `math500`: HuggingFaceH4/MATH-500; `gsm8k`: openai/gsm8k main test;
`gpqa_diamond`: Idavidrein/gpqa, gated, its choices shuffled by a seeded generator into A-D) — read
from the benchmark folder instead when it holds the file (`--benchmark-dir`, $THINKSCALE_BENCHMARKS or
./benchmarks: math500.jsonl, gsm8k_test.jsonl, ...), the same rows offline — or a local `.jsonl`/`.parquet` file read
through `--question-column` / `--answer-column` (default: the first of problem/question/... and
`answer`; GSM8K's "#### 18" and MATH's solutions are graded as they are). `--limit` takes a seeded
random subset.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import read_jsonl
from thinkscale.common.paths import stage_dir
from thinkscale.common.schema import QUESTION_FIELDS

# Published sizes of the Hub benchmarks, for a dry run that cannot reach the Hub.
PUBLISHED_SIZES = {"aime24": 30, "math500": 500, "gpqa_diamond": 198, "gsm8k": 1319}

HUB = {  # short name -> (dataset id, config, split, question column, answer column)
    "aime24": ("simplescaling/aime24_nofigures", None, "train", "problem", "answer"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test", "problem", "answer"),
    "gpqa_diamond": ("Idavidrein/gpqa", "gpqa_diamond", "train", "Question", "Correct Answer"),
    "gsm8k": ("openai/gsm8k", "main", "test", "question", "answer"),
}
# A short name's local copy in the benchmark folder: the first of these file names that exists.
LOCAL_NAMES = {"aime24": ("aime24.jsonl",), "math500": ("math500.jsonl",),
               "gsm8k": ("gsm8k.jsonl", "gsm8k_test.jsonl"), "gpqa_diamond": ("gpqa_diamond.jsonl",)}  # fmt: skip


@dataclass
class BenchmarkArgs:
    """Which questions to evaluate on (recipe keys of the same names)."""

    _argument_group_name = "benchmark"  # its flags' heading in --help

    benchmark: str = field(
        default="builtin",
        metadata={"help": "builtin, aime24, math500, gpqa_diamond, or a local .jsonl/.parquet file; "
                  "several, comma-separated (aime24,math500,gpqa_diamond: s1's Table 1), run one after another."},
    )  # fmt: skip
    data_name: str = field(
        default="smollm2-135m-builtin",
        metadata={"help": "builtin: the make-data run whose test.jsonl to use."},
    )
    question_column: str | None = field(default=None, metadata={"help": "Local files: question column."})
    answer_column: str | None = field(default=None, metadata={"help": "Local files: gold answer column."})
    limit: int | None = field(
        default=None, metadata={"help": "Evaluate a seeded random subset of this size."}
    )
    subset_seed: int = field(
        default=0, metadata={"help": "Seed of the --limit subset and of GPQA's choices."}
    )
    benchmark_dir: str | None = field(
        default=None,
        metadata={"help": "A folder of local benchmark files, read before the Hub for a short name (math500.jsonl, "
                  "gsm8k_test.jsonl, ...). Default: $THINKSCALE_BENCHMARKS, else ./benchmarks; an empty one "
                  "(\"\") reads the Hub only."},
    )  # fmt: skip
    gpqa_format: str = field(
        default="toolkit",
        metadata={"help": "GPQA as asked and graded: toolkit ('(A) ...' lines and 'Answer with the letter.'; an "
                  "unreadable answer is wrong) or s1 (its lm-eval task: 'A) ...' lines, no instruction, Python's "
                  "random seeded once and each question's [incorrect 1-3, correct] shuffled in dataset order, an "
                  "unreadable answer scored as 'A' and counted)."},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"--limit must be > 0, got {self.limit}")
        if self.gpqa_format not in ("toolkit", "s1"):
            raise ConfigError(f"--gpqa-format must be toolkit or s1, got {self.gpqa_format!r}")


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    gold: str
    choices: str | None = None  # multiple choice: the letters, e.g. "ABCD"
    level: int | None = None
    fallback: str | None = None  # the answer scored when none can be read (s1's GPQA: "A")


def _from_records(records: list[dict], name: str, qcol: str | None, acol: str | None) -> list[Item]:
    if not records:
        raise ConfigError(f"--benchmark {name}: no rows")
    cols = set(records[0])
    q = qcol or next((c for c in QUESTION_FIELDS if c in cols), None)
    a = acol or "answer"
    if q is None:
        raise ConfigError(
            f"--benchmark {name}: no question column (looked for {', '.join(QUESTION_FIELDS)}; set --question-column)"
        )
    for flag, col in (("--question-column", q), ("--answer-column", a)):
        if col not in cols:
            raise ConfigError(
                f"--benchmark {name}: no column {col!r} (set {flag}; the file has {sorted(cols)})"
            )
    return [
        Item(str(r.get("id", r.get("unique_id", i))), str(r[q]), str(r[a]), None, r.get("level"))
        for i, r in enumerate(records)
    ]


def _gpqa(records: list[dict], seed: int) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for i, r in enumerate(records):
        options = [
            r["Correct Answer"],
            r["Incorrect Answer 1"],
            r["Incorrect Answer 2"],
            r["Incorrect Answer 3"],
        ]
        order = list(range(4))
        rng.shuffle(order)
        lines = "\n".join(f"({'ABCD'[k]}) {str(options[j]).strip()}" for k, j in enumerate(order))
        gold = "ABCD"[order.index(0)]
        items.append(
            Item(f"gpqa-{i}", f"{r['Question'].strip()}\n\n{lines}\n\nAnswer with the letter.", gold, "ABCD")
        )
    return items


def gpqa_as_s1(records: list[dict], seed: int = 0) -> list[Item]:
    """GPQA as s1's lm-eval task asks it (`tasks/gpqa/openai`): Python's random seeded once (lm-eval's
    `random.seed(0)`), then per question, in dataset order, [incorrect 1, 2, 3, correct] shuffled;
    `{Question}\n\nA) c1\nB) c2\nC) c3\nD) c4` with no instruction; an unreadable answer is "A"."""
    rng = random.Random(seed)  # the global random after random.seed(seed), used by nothing else here
    items = []
    for i, r in enumerate(records):
        choices = [
            r["Incorrect Answer 1"],
            r["Incorrect Answer 2"],
            r["Incorrect Answer 3"],
            r["Correct Answer"],
        ]
        correct = r["Correct Answer"]
        rng.shuffle(choices)
        lines = "\n".join(f"{'ABCD'[k]}) {c}" for k, c in enumerate(choices))
        items.append(Item(f"gpqa-{i}", f"{r['Question']}\n\n{lines}", "ABCD"[choices.index(correct)], "ABCD",
                          fallback="A"))  # fmt: skip
    return items


def benchmark_dir(args: BenchmarkArgs) -> Path | None:
    """The folder of local benchmark files: --benchmark-dir, else $THINKSCALE_BENCHMARKS, else
    ./benchmarks; None when it is "" or not a folder."""
    where = args.benchmark_dir
    if where is None:
        where = os.environ.get("THINKSCALE_BENCHMARKS", "benchmarks")
    return Path(where) if where and Path(where).is_dir() else None


def local_copy(args: BenchmarkArgs) -> Path | None:
    """A Hub short name's file in the benchmark folder (math500.jsonl, gsm8k_test.jsonl), if there."""
    folder = benchmark_dir(args)
    if folder is None:
        return None
    return next((folder / f for f in LOCAL_NAMES.get(args.benchmark, ()) if (folder / f).is_file()), None)


def benchmark_source(args: BenchmarkArgs) -> str:
    """Where the questions come from, as recorded beside a run's results: a file or a Hub id."""
    if args.benchmark in HUB:
        local = local_copy(args)
        hub_id, config, split = HUB[args.benchmark][:3]
        return str(local) if local else f"{hub_id}{'/' + config if config else ''} ({split})"
    return args.benchmark


def load_benchmark(args: BenchmarkArgs, output_root: str | None = None) -> list[Item]:
    name = args.benchmark
    if name == "builtin":
        path = stage_dir("data", args.data_name, output_root) / "test.jsonl"
        if not path.is_file():
            raise FileNotFoundError(
                f"--benchmark builtin: {path} not found; run `make data` (or set --data-name)"
            )
        items = _from_records(read_jsonl(path), str(path), "question", "answer")
    elif name in HUB:
        hub_id, config, split, qcol, acol = HUB[name]
        local = local_copy(args)  # the same rows as the Hub's split, read offline
        if local is not None:
            records = read_jsonl(local)
        else:
            import datasets

            try:
                ds = datasets.load_dataset(hub_id, config, split=split)
            except Exception as e:  # the Hub raises many types; the user needs the name and the cause
                raise ConfigError(f"--benchmark {name}: cannot load {hub_id} ({type(e).__name__}: {e}); "
                                 "or put its file in --benchmark-dir") from None  # fmt: skip
            records = ds.to_list()
        if name != "gpqa_diamond":
            items = _from_records(records, str(local or name), qcol, acol)
        elif args.gpqa_format == "s1":
            items = gpqa_as_s1(records, args.subset_seed)
        else:
            items = _gpqa(records, args.subset_seed)
    elif Path(name).suffix in (".jsonl", ".json", ".parquet"):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"--benchmark {path}: no such file")
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            records = pq.read_table(path).to_pylist()
        else:
            records = read_jsonl(path)
        items = _from_records(records, str(path), args.question_column, args.answer_column)
    else:
        raise ConfigError(f"--benchmark {name!r}: not builtin, {', '.join(HUB)}, or a .jsonl/.parquet file")
    if args.limit is not None and args.limit < len(items):
        items = sorted(
            random.Random(args.subset_seed).sample(items, args.limit), key=lambda it: items.index(it)
        )
    return items


def load_train_questions(path: Path, limit: int | None = None) -> list[Item]:
    """Questions with gold answers from a training file (a make-data train.jsonl): 'question' and
    'gold' (or 'answer') per row; the first `limit` rows."""

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `make data` first or name another training file")
    items = []
    for i, row in enumerate(read_jsonl(path), 1):
        gold = row.get("gold", row.get("answer"))
        if not row.get("question") or gold in (None, ""):
            raise ConfigError(f"{path}:{i}: needs 'question' and 'gold' (or 'answer')")
        items.append(
            Item(id=str(row.get("id", i)), question=row["question"], gold=str(gold), level=row.get("level"))
        )
    return items[:limit]
