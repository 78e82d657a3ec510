"""The run report's load time in headless Chromium: 200 questions x 10 points, against a page that only parses its data.

    .venv/bin/python -m bench.bench_view

A synthetic s1-study run folder (200 questions, 10 points, thinking of ~600 characters per sample with
forced "Wait"s in its segments) is written as report.html; the baseline is a page that holds the same
data and only parses it (JSON.parse), drawing nothing. Each case is a fresh page load from file://
until the page's script has finished (selenium waits for the load event; the report's script runs
before it). The ratio says what drawing the table, filters and plot costs over reading the data. Needs chromium and
chromium-driver (Debian) and selenium.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from bench.harness import Case, compare, table
from thinkscale.eval.view import collect, embed, render


def synthetic_run(folder: Path, questions: int, points: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = []
    for p in range(points):
        label, budget = ("budget_forcing", 16 * 2 ** (p % 5)) if p < 5 else ("wait", p - 5)
        for q in range(questions):
            forced = rng.randint(0, 3)
            segs = []
            for _ in range(forced + 1):
                segs.append(
                    {"kind": "thinking", "text": "step " * rng.randint(20, 40), "tokens": 30, "forced": False}
                )
                segs.append({"kind": "ignore_string", "text": "Wait", "tokens": 1, "forced": True})
            segs[-1] = {"kind": "delimiter", "text": "\n<|im_start|>answer\n", "tokens": 4, "forced": True,
                        "reason": "max_thinking_tokens"}  # fmt: skip
            segs.append({"kind": "answer", "text": "Final Answer: 12", "tokens": 5, "forced": False})
            rows.append({"method": label, "label": label, "budget": budget, "id": f"q{q}", "question": f"Question {q}?",
                         "gold": "12", "thinking": "".join(s["text"] for s in segs[:-2]), "answer": "Final Answer: 12",
                         "extracted": "12", "correct": rng.random() < 0.4, "thinking_tokens": 30 * (forced + 1),
                         "num_forced": forced, "hit_max": True, "think_end_reason": "max_thinking_tokens",
                         "level": 1 + q % 4, "segments": segs, "sample": 0})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "config.yaml").write_text("model: synthetic\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from tests.browser import browser

    with tempfile.TemporaryDirectory() as tmp:
        run = synthetic_run(Path(tmp) / "run", args.questions, args.points)
        data = collect(run)
        report = Path(tmp) / "report.html"
        report.write_text(render(data))
        plain = Path(tmp) / "plain.html"  # the same data, parsed and not drawn
        plain.write_text(f"<!DOCTYPE html><meta charset='utf-8'><script type='application/json' id='data'>{embed(data)}"
                         "</script><script>window.__data = JSON.parse(document.getElementById('data').textContent)"
                         "</script>")  # fmt: skip
        driver = browser()
        ready: list[float] = []

        def load_report() -> None:
            driver.get(report.as_uri())
            ready.append(driver.execute_script("return window.__report.ready"))

        try:
            cases = [
                Case("data only (baseline)", lambda: driver.get(plain.as_uri())),
                Case("report.html", load_report),
            ]
            compare(cases, baseline="data only (baseline)", repeats=args.repeats, warmup=1)
        finally:
            driver.quit()
    size = len(render(data).encode())
    print(
        f"report.html of {args.questions} questions x {args.points} points ({size / 2**20:.1f} MiB), "
        f"fresh loads from file:// in headless chromium\n"
    )
    print(table(cases, baseline="data only (baseline)"))
    print(
        f"\nthe page's own script (table, filters, plot) took {min(ready):.0f}-{max(ready):.0f} ms of each load"
    )


if __name__ == "__main__":
    main()
