"""Take the README's picture of a run report: a real run's report.html in headless Chromium, one
question open with two of its traces side by side (forced tokens marked), saved as a PNG.

    python tools/screenshot_report.py outputs/eval/smollm2-135m-quick docs/img/report.png

Needs Debian's chromium and chromium-driver and selenium (the `dev` extra), as the browser test does.
The question shown is the first one whose samples differ in correctness across the run's points
(else the first question); the panes compare its lowest and highest point of the first method.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import browser  # noqa: E402


def pick(samples: list[dict]) -> tuple[str, str, str]:
    """(question id, left pane, right pane): a question whose samples disagree, lowest vs highest point."""
    label = samples[0]["label"]
    mine = [s for s in samples if s["label"] == label]
    points = sorted({s["budget"] for s in mine})
    by_question: dict[str, set[bool]] = {}
    for s in mine:
        by_question.setdefault(s["id"], set()).add(bool(s.get("correct")))
    chosen = next((q for q, seen in by_question.items() if len(seen) == 2), mine[0]["id"])
    return chosen, f"{label} @ {points[0]}", f"{label} @ {points[-1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a study run folder holding report.html and samples.jsonl")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--size", default="1400x900", help="window size WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    page, samples_file = args.run / "report.html", args.run / "samples.jsonl"
    for path in (page, samples_file):
        if not path.is_file():
            parser.error(f"{path}: not found (a finished study run folder has it)")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines() if line.strip()]
    question, left, right = pick(samples)
    width, height = (int(x) for x in args.size.split("x"))
    driver = browser(width, height)
    try:
        driver.get(page.resolve().as_uri())
        driver.find_element("css selector", f"#grid tr[data-id='{question}'] td.q").click()
        for pane, value in (("cmp-a", left), ("cmp-b", right)):
            driver.execute_script(
                "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
                "s.dispatchEvent(new Event('change'));", pane, value)  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    finally:
        driver.quit()
    print(f"written: {args.out} (question {question}: {left} | {right})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
