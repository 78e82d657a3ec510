"""Curation speed on a 59,000-question pool: quality + decontamination + diversity, no model inference.

    .venv/bin/python -m bench.bench_curation [--rows 59000] [--pairs-sample 12000]

The pool is synthetic but shaped like s1's 59K: built-in-pool questions with filler sentences,
5% planted near-duplicates (one word changed), 1% rows that quote a MATH500/GSM8K question (when
../shared/benchmarks is present), 2% bad rows (missing trace, API error, [asy] figure), no domains
(the keyword MSC classifier labels them) and trace lengths from the real tokenizer. Timed: the
quality stage (row checks, exact + MinHash-LSH near-dedup, 8-gram decontamination against both
benchmark files), domain labelling, trace-length counting and s1's selection of 1000 rows.

Ratios, in the same run: (1) the whole stage against a bare baseline pass that only splits every
question into words (the least any text filter must do); (2) MinHash-LSH near-dedup against the
all-pairs Jaccard a naive implementation does, on a subsample (all-pairs is quadratic: at 59K rows
it would be ~24x slower than on the 12K subsample).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from bench.harness import Case, compare, peak_rss_mib, table

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
FILLER = ["Show your work.", "Give an exact answer.", "This appeared in a regional contest.",
          "Assume all quantities are positive.", "Explain each step briefly.", ""]  # fmt: skip


def synthetic_pool(n: int, seed: int = 0) -> tuple[list[dict], list[str]]:
    from thinkscale.data.builtin.pool import GENERATORS, LEVELS
    from thinkscale.data.decontaminate import benchmark_questions

    rng = random.Random(seed)
    bench_files = [str(p) for p in (BENCH / "math500.jsonl", BENCH / "gsm8k_test.jsonl") if p.exists()]
    bench_q = [q for f in bench_files for q in benchmark_questions(f)]
    gens = [(g, lv) for g in GENERATORS.values() for lv in LEVELS]
    rows = []
    for i in range(n):
        u = rng.random()
        if u < 0.05 and rows:  # a near-duplicate of an earlier row
            src = rng.choice(rows)["question"].split(" ")
            src[rng.randrange(len(src))] = rng.choice(["the", "a", "one"])
            q = " ".join(src)
        elif u < 0.06 and bench_q:
            q = "Consider this. " + rng.choice(bench_q)
        else:
            gen, lv = rng.choice(gens)
            q = f"{gen(rng, lv).question} {rng.choice(FILLER)} (#{i})"
        reasoning = " ".join(
            rng.choice(["so", "then", "we", "get", str(rng.randrange(99)), "check"])
            for _ in range(rng.randrange(20, 200))
        )
        bad = rng.random()
        if bad < 0.01:
            reasoning = ""
        elif bad < 0.015:
            reasoning = "API error: rate limit exceeded"
        elif bad < 0.02:
            q = "[asy] draw((0,0)--(1,1)); [/asy] " + q
        rows.append({"id": f"s{i}", "question": q, "reasoning": reasoning, "answer": "1", "gold": "1",
                     "domain": None, "level": None, "source": "synthetic", "meta": {}})  # fmt: skip
    return rows, bench_files


def curate_stage(rows: list[dict], bench_files: list[str], tokenizer) -> dict:
    from thinkscale.data.difficulty import count_trace_tokens
    from thinkscale.data.domains import label_domains
    from thinkscale.data.quality import QualityArgs, quality_filter
    from thinkscale.data.select import s1_select

    rows = [dict(r) for r in rows]
    t0 = time.perf_counter()
    kept, counts, _ = quality_filter(rows, [], QualityArgs(decontaminate_against=bench_files))
    t1 = time.perf_counter()
    label_domains(kept, "keyword")
    count_trace_tokens(kept, tokenizer)
    t2 = time.perf_counter()
    chosen = s1_select(kept, 1000, seed=0)
    t3 = time.perf_counter()
    return {"kept": len(kept), "dropped": counts, "chosen": len(chosen),
            "seconds": {"quality": t1 - t0, "domains+lengths": t2 - t1, "selection": t3 - t2}}  # fmt: skip


def all_pairs_dedup(rows: list[dict], threshold: float = 0.8) -> int:
    from thinkscale.data.dedup import jaccard, shingles
    from thinkscale.data.text import normalise, numbers

    kept: list[tuple] = []
    exact, dropped = set(), 0
    for r in rows:
        key = normalise(r["question"])
        sh, nums = shingles(r["question"]), numbers(r["question"])
        if key in exact or any(n == nums and jaccard(sh, s) >= threshold for s, n in kept):
            dropped += 1
            continue
        exact.add(key)
        kept.append((sh, nums))
    return dropped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=59000)
    p.add_argument("--pairs-sample", type=int, default=12000)
    args = p.parse_args()

    from thinkscale.data.dedup import deduplicate
    from thinkscale.data.text import words
    from thinkscale.inference.models.load import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m")
    rows, bench_files = synthetic_pool(args.rows)
    print(f"pool: {len(rows)} rows; decontaminating against {[Path(f).name for f in bench_files]}")
    info: dict = {}
    cases = [Case("split words (baseline)", lambda: [words(r["question"]) for r in rows], work=len(rows)),
             Case("quality+decontam+diversity", lambda: info.update(curate_stage(rows, bench_files, tokenizer)), work=len(rows))]  # fmt: skip
    compare(cases, baseline="split words (baseline)", repeats=3, warmup=1)
    print(table(cases, baseline="split words (baseline)", unit="rows"))
    print(f"\nstage breakdown (last run): { ({k: round(v, 2) for k, v in info['seconds'].items()}) }")
    print(f"kept {info['kept']} of {len(rows)}; dropped {info['dropped']}; selected {info['chosen']}")
    sample = rows[: args.pairs_sample]
    dd = [Case("all-pairs Jaccard (baseline)", lambda: all_pairs_dedup(sample), work=len(sample)),
          Case("MinHash LSH", lambda: deduplicate(sample), work=len(sample))]  # fmt: skip
    compare(dd, baseline="all-pairs Jaccard (baseline)", repeats=3, warmup=0)
    print(f"\nnear-duplicate detection on {len(sample)} rows (same drops: "
          f"{all_pairs_dedup(sample)} vs {len(deduplicate(sample)[1])})")  # fmt: skip
    print(table(dd, baseline="all-pairs Jaccard (baseline)", unit="rows"))
    print(f"\npeak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
