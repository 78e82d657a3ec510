"""Write a curation run's files: train/test JSON lines, the Hugging Face dataset, report, histograms.

Each file is written atomically; the dataset folder is built beside its final name and swapped in.
"""

from __future__ import annotations

import json
from pathlib import Path

from thinkscale.common.io import atomic_dir, atomic_write_json, atomic_write_jsonl
from thinkscale.common.provenance import provenance
from thinkscale.data.builtin.pool import normalise_question
from thinkscale.data.report import build_report, write_histograms

TRAIN_FIELDS = ("id", "question", "reasoning", "answer", "gold", "domain", "level", "source", "trace_tokens",
                "num_tokens", "text", "prompt_text", "meta")  # fmt: skip
TEST_FIELDS = ("id", "question", "answer", "domain", "level")


def write_outputs(out: Path, train: list[dict], test: list[dict], stages: list, extras: dict) -> dict:
    """Write every output file of a run; returns the report."""
    overlap = {normalise_question(r["question"]) for r in train} & {
        normalise_question(r["question"]) for r in test
    }
    if overlap:  # the quality stage makes this impossible; refuse to write a leaking split if it ever happens
        raise RuntimeError(f"train and test share {len(overlap)} questions, e.g. {sorted(overlap)[:2]}")
    train_rows = [{k: r.get(k) for k in TRAIN_FIELDS} for r in train]
    test_rows = [{k: r.get(k) for k in TEST_FIELDS} for r in test]
    atomic_write_jsonl(out / "train.jsonl", train_rows)
    if test_rows:
        atomic_write_jsonl(out / "test.jsonl", test_rows)
    _save_dataset(out / "dataset", train_rows, test_rows)
    # The code and date that made the set, so the docs can name the commit of their counts.
    report = build_report(stages, train, {**extras, "provenance": provenance()})
    atomic_write_json(out / "report.json", report)
    write_histograms(train, out / "histograms.png")
    return report


def _save_dataset(path: Path, train: list[dict], test: list[dict]) -> None:
    import datasets

    # `meta` differs in shape between sources; Arrow wants one type per column, so it is stored as JSON text.
    flat = [{**r, "meta": json.dumps(r["meta"], ensure_ascii=False)} for r in train]
    splits = {"train": datasets.Dataset.from_list(flat)}
    if test:
        splits["test"] = datasets.Dataset.from_list(test)
    with atomic_dir(path, replace=True) as tmp:
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
