"""`thinkscale view RUN`: one self-contained report.html for a run folder, to read its traces.

    thinkscale view outputs/eval/smollm2-135m-s1_builtin          # writes .../report.html
    thinkscale view outputs/strategies/smollm2-135m-s1 --output /tmp/r.html

The page needs no network and no server (data, script, style and plot are inline; it opens from
file://): the run's config, its accuracy-vs-thinking plot with intervals and per-point numbers; a
table of every question across the run's points (methods x budgets / Wait counts), right or wrong,
thinking tokens and forced count per cell; filters (wrong only, hit the maximum, forced >= 1, level,
domain, benchmark); each sample's trace with forced ignore strings highlighted and the delimiter
marked with why thinking ended (cut at the maximum, end of turn inside thinking, or closed by the
model), at the token position the engine recorded (`segments`); two points of one question side by
side; and for search runs, the tree of steps with scores and the kept path.

Model text is untrusted: the data goes into the page as JSON with `<`, `>` and `&` escaped, and the
script writes it with `textContent` only, so a trace holding `<script>` or `</textarea>` shows as text.
Lines that are not valid UTF-8 are read with replacement characters. The s1 study and the strategy
study write their report at the end of every run (`write_report`).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from thinkscale.common.errors import ConfigError
from thinkscale.common.io import atomic_write_text, read_jsonl

PLOTS = ("scaling.png", "strategies.png", "ibpo.png")
TEMPLATE = Path(__file__).with_name("view_template.html")


def _rows(path: Path) -> list[dict]:
    """A JSON-lines file, leniently: bytes that are not UTF-8 become U+FFFD, a torn or malformed line
    is left out (the report shows what is readable; the stages themselves read strictly)."""
    return read_jsonl(path, skipped=[], errors="replace") if path.is_file() else []


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, json.JSONDecodeError):
        return None


def collect(run: Path) -> dict:
    """Everything the page shows, from the run folder's files."""
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    samples = _rows(run / "samples.jsonl")
    records = _rows(run / "records.jsonl")
    if not samples and not records:
        raise ConfigError(
            f"{run}: no samples.jsonl or records.jsonl to show (is it an eval or strategies run folder?)"
        )
    plot = next((run / p for p in PLOTS if (run / p).is_file()), None)
    config = run / "config.yaml"
    return {
        "run": run.name,
        "kind": "strategies" if records else "study",
        "config": config.read_text(encoding="utf-8", errors="replace") if config.is_file() else "",
        "metrics": _json(run / "metrics.json") or {},
        "plot": base64.b64encode(plot.read_bytes()).decode("ascii") if plot else None,
        "samples": samples,
        "records": records,
    }


def embed(data: dict) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` survives, nor U+2028/9, nor a lone
    surrogate (ensure_ascii writes them all as \\u escapes)."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict) -> str:
    return TEMPLATE.read_text(encoding="utf-8").replace("/*DATA*/null", embed(data), 1)


def write_report(run: str | Path, output: str | Path | None = None) -> Path:
    """Write the run's report.html (atomically); returns its path."""
    run = Path(run)
    return atomic_write_text(Path(output) if output else run / "report.html", render(collect(run)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run", help="a run folder: outputs/eval/<run>, outputs/strategies/<name>, outputs/ibpo/<name>/eval"
    )
    parser.add_argument("--output", help="where to write the page (default: RUN/report.html)")
    args = parser.parse_args(argv)
    path = write_report(args.run, args.output)
    print(f"written: {path}  (open it in a browser: file://{path.resolve()})")
    return 0


if __name__ == "__main__":
    from thinkscale.common.config import run_cli

    run_cli(main, sys.argv[1:])
