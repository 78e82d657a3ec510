"""The docs' generated result blocks: rendered from the recorded runs in docs/results/, and in step
with them (the drift check CI runs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_results", ROOT / "tools" / "docs_results.py")
dr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dr)


def _metrics(acc_64: float, commit: str | None = "a" * 40) -> dict:
    point = lambda b, acc, tok: {"point": b, "accuracy": acc, "ci95": [acc / 2, min(1.0, acc * 2)], "n": 15,  # noqa: E731
                                 "mean_thinking_tokens": tok}  # fmt: skip
    method = {"method": "budget_forcing", "points": [point(64, acc_64, 63.6), point(128, 0.2, 120.0)], "control": 1.0,
              "scaling": 5.0, "scaling_ci95": [1.0, 9.0], "gain": 0.1, "gain_ci95": [0.0, 0.2], "performance": 0.2,
              "performance_ci95": [0.1, 0.4], "format_followed": 1.0}  # fmt: skip
    prov = {"commit": commit, "dirty": False, "date": "2026-12-01"} if commit else {}
    return {"title": "m on b", "source": "b.jsonl", "methods": {"budget_forcing": method}, "provenance": prov}


def _run(tmp_path: Path, name: str, bench: str, metrics: dict) -> Path:
    run = tmp_path / name
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "config.yaml").write_text(f"model: m\nbenchmark: {bench}\n")
    return run


def test_a_block_is_rendered_from_its_record_and_drift_is_caught(tmp_path):
    runs = [_run(tmp_path, "r_gsm8k", "gsm8k", _metrics(0.1)), _run(tmp_path, "r_math", "math500", _metrics(0.05))]
    rec = dr.record("study", runs, "make eval", 3600, results=tmp_path)
    assert rec["commit"] == "a" * 40 and [r["benchmark"] for r in rec["runs"]] == ["gsm8k", "math500"]
    doc = ('Before\n<!-- results {"record": "study", "view": "benchmarks", "names": {"budget_forcing": "BF"}} -->\n'
           "old figures\n<!-- /results -->\nAfter\n")  # fmt: skip
    new = dr.render_text(doc, "doc.md", results=tmp_path)
    assert "| BF | 64 | 10.0 [5.0, 20.0] (64) | 5.0 [2.5, 10.0] (64) |" in new
    assert "at commit aaaaaaa (2026-12-01; 60 min on 2 cores)" in new and new.startswith("Before\n")
    assert new.endswith("<!-- /results -->\nAfter\n") and dr.render_text(new, "doc.md", results=tmp_path) == new
    edited = new.replace("10.0 [5.0, 20.0]", "12.0 [5.0, 20.0]")  # a figure changed by hand
    assert dr.render_text(edited, "doc.md", results=tmp_path) == new
    summary = dr.render_text('<!-- results {"record": "study", "benchmark": "math500", "columns": "compact"} -->\n'
                             "<!-- /results -->", "d", results=tmp_path)  # fmt: skip
    assert "| budget_forcing | 15 | 64 → 5.0 [2.5, 10.0] (64); 128 → 20.0 [10.0, 40.0] (120) | 100% | 5.0 [1.0, 9.0] |" in summary


def test_record_refuses_what_it_cannot_attribute(tmp_path):
    a = _run(tmp_path, "a", "gsm8k", _metrics(0.1))
    b = _run(tmp_path, "b", "math500", _metrics(0.1, commit="b" * 40))
    with pytest.raises(ValueError, match="different code"):
        dr.record("x", [a, b], "make eval", None, results=tmp_path)
    old = _run(tmp_path, "old", "gsm8k", _metrics(0.1, commit=None))
    with pytest.raises(ValueError, match="no provenance .*--commit"):
        dr.record("x", [old], "make eval", None, results=tmp_path)
    with pytest.raises(ValueError, match="--commit nope: not a commit"):
        dr.record("x", [old], "make eval", None, results=tmp_path, commit="nope")
    dr.record("two", [a], "make eval", None, results=tmp_path)
    with pytest.raises(ValueError, match=r"record two: no run on benchmark 'aime24' \(it has \['gsm8k'\]\)"):
        dr.render_text('<!-- results {"record": "two", "benchmark": "aime24"} -->\n<!-- /results -->', "d", results=tmp_path)
    with pytest.raises(FileNotFoundError, match="no such record"):
        dr.render_text('<!-- results {"record": "missing"} -->\n<!-- /results -->', "d", results=tmp_path)
    with pytest.raises(ValueError, match="d: a results block's spec is not JSON"):
        dr.render_text("<!-- results {record: 1} -->\n<!-- /results -->", "d", results=tmp_path)


def test_the_docs_are_what_their_records_give():
    # The drift check: every generated block in README.md and docs/*.md equals its rendering from
    # docs/results/ (a figure edited by hand, or a record updated without `render`, fails here).
    stale = [str(d.relative_to(ROOT)) for d in dr.documents() if dr.render_text(d.read_text(), d.name) != d.read_text()]
    assert not stale, f"run `python tools/docs_results.py render`: {stale}"
    assert any(dr.BLOCK.search(d.read_text()) for d in dr.documents())  # the README's results are generated
