"""Small fixtures of the real benchmark files (MATH500, GSM8K) in `tests/fixtures/benchmarks/`, so
that no test depends on a folder outside the checkout. Made from the full files by

    python tests/benchfiles.py /path/to/benchmarks   # a folder holding math500.jsonl and gsm8k_test.jsonl

- `math500.jsonl`: MATH500 (HuggingFaceH4/MATH-500, MIT) rows as they are: the first 40, and every
  problem that shares a lower-cased whitespace 8-gram with another problem of the 500 (s1's
  decontamination rule; 27 problems), in file order;
- `gsm8k_test.jsonl`: the first 60 rows of GSM8K's test split (openai/gsm8k `main`, MIT).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "fixtures" / "benchmarks"
MATH_HEAD, GSM_HEAD = 40, 60


def _grams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def write_fixtures(source: Path, out: Path = BENCH) -> None:
    math = (source / "math500.jsonl").read_text().splitlines()
    grams = [_grams(json.loads(line)["problem"]) for line in math]
    shared = {i for i, g in enumerate(grams) if any(g & h for j, h in enumerate(grams) if j != i)}
    keep = sorted(set(range(MATH_HEAD)) | shared)
    out.mkdir(parents=True, exist_ok=True)
    (out / "math500.jsonl").write_text("".join(math[i] + "\n" for i in keep))
    gsm = (source / "gsm8k_test.jsonl").read_text().splitlines()[:GSM_HEAD]
    (out / "gsm8k_test.jsonl").write_text("".join(line + "\n" for line in gsm))


if __name__ == "__main__":
    write_fixtures(Path(sys.argv[1]))
