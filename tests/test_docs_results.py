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
    runs = [
        _run(tmp_path, "r_gsm8k", "gsm8k", _metrics(0.1)),
        _run(tmp_path, "r_math", "math500", _metrics(0.05)),
    ]
    rec = dr.record("study", runs, "make eval", 3000, results=tmp_path)
    assert rec["commit"] == "a" * 40 and [r["benchmark"] for r in rec["runs"]] == ["gsm8k", "math500"]
    doc = ('Before\n<!-- results {"record": "study", "view": "benchmarks", "names": {"budget_forcing": "BF"}} -->\n'
           "old figures\n<!-- /results -->\nAfter\n")  # fmt: skip
    new = dr.render_text(doc, "doc.md", results=tmp_path)
    assert "| BF | 64 | 10.0 [5.0, 20.0] (64) | 5.0 [2.5, 10.0] (64) |" in new
    assert "at commit aaaaaaa (2026-12-01; 50.0 min on 2 cores)" in new and new.startswith("Before\n")
    assert (
        new.endswith("<!-- /results -->\nAfter\n") and dr.render_text(new, "doc.md", results=tmp_path) == new
    )
    edited = new.replace("10.0 [5.0, 20.0]", "12.0 [5.0, 20.0]")  # a figure changed by hand
    assert dr.render_text(edited, "doc.md", results=tmp_path) == new
    summary = dr.render_text('<!-- results {"record": "study", "benchmark": "math500", "columns": "compact"} -->\n'
                             "<!-- /results -->", "d", results=tmp_path)  # fmt: skip
    assert (
        "| budget_forcing | 15 | 64 → 5.0 [2.5, 10.0] (64); 128 → 20.0 [10.0, 40.0] (120) | 100% | 5.0 [1.0, 9.0] |"
        in summary
    )


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
        dr.render_text(
            '<!-- results {"record": "two", "benchmark": "aime24"} -->\n<!-- /results -->',
            "d",
            results=tmp_path,
        )
    with pytest.raises(FileNotFoundError, match="no such record"):
        dr.render_text('<!-- results {"record": "missing"} -->\n<!-- /results -->', "d", results=tmp_path)
    with pytest.raises(ValueError, match="d: a results block's spec is not JSON"):
        dr.render_text("<!-- results {record: 1} -->\n<!-- /results -->", "d", results=tmp_path)


PROV = {"commit": "a" * 40, "dirty": False, "date": "2026-12-02"}


def _pipeline(tmp_path: Path) -> dict[str, Path]:
    """One fake `make all`: each stage's folder with the files `record` reads, as the stages write them."""
    folders = {k: tmp_path / k for k in ("data", "train", "verifier", "strategies", "ibpo")}
    for f in folders.values():
        f.mkdir()
    (folders["data"] / "report.json").write_text(json.dumps({
        "counts": {"loaded": 1200, "quality": 1200, "difficulty": 1155, "diversity": 400, "format": 400},
        "stage_order": ["loaded", "quality", "difficulty", "diversity", "format"], "levels": {"1": 26, "2": 374},
        "domains": {"arithmetic": 28, "geometry": 372}, "sources": {"builtin": 400},
        "trace_tokens": {"min": 62, "max": 204, "mean": 106.9, "total": 42750},
        "total_tokens": {"min": 120, "max": 269, "mean": 173.5, "total": 69396}, "verified_traces": 304,
        "traces_with_caught_slip": 108, "solved_by": {"smollm2-135m": 45}, "test_rows": 200, "provenance": PROV}))  # fmt: skip
    (folders["train"] / "data_info.json").write_text(json.dumps({
        "examples": 400, "blocks": 146, "block_fill": 0.928, "tokens": 69396, "total_steps": 74, "processes": 1,
        "provenance": PROV}))  # fmt: skip
    (folders["train"] / "config.yaml").write_text("block_size: 512\nglobal_batch_size: 4\nnum_train_epochs: 2\n"
                                                 "learning_rate: 0.0001\nlr_scheduler_type: cosine\n")  # fmt: skip
    (folders["train"] / "train_log.jsonl").write_text(
        '{"step": 5, "loss": 1.83, "tokens_per_s": 255.3}\n{"step": 70, "loss": 0.1464, "tokens_per_s": 268.5}\n'
        '{"train_runtime": 523.0}\n')  # fmt: skip
    (folders["verifier"] / "verifier.json").write_text(json.dumps({
        "model": "m", "questions": 150, "l2": 0.01, "cv_outcome_auroc": {"0.01": 0.7155, "0.1": 0.67}, "train_paths": 508, "train_correct": 69,
        "heldout_paths": 92, "heldout_correct": 12, "outcome_auroc": 0.628, "step_auroc": 0.791, "provenance": PROV}))  # fmt: skip
    row = {"strategy": "majority", "label": "maj@8", "n": 24, "accuracy": 0.1667, "ci95": [0.067, 0.359],
           "generated_tokens": 929.0, "prompt_tokens": 54.0, "model_calls": 8.0, "verifier_calls": 0.0, "flops": 2.65e11}  # fmt: skip
    curve = {"budget": 112, "n": 24, "accuracy": 0.1667, "tokens": 108.0, "ci95": [0.067, 0.359], "bon_label": "wbon@1",
             "bon_accuracy": 0.0417, "bon_tokens": 113.0, "gain": 0.125, "gain_ci95": [0.0, 0.251],
             "choice": {"1": "bf@64", "2": None, "3": None, "4": None, "5": "bf@128"}, "fallback": "bf@128"}  # fmt: skip
    (folders["strategies"] / "metrics.json").write_text(json.dumps({
        "title": "t", "labels": [row], "verifier": {"test": {"auroc": 0.662, "samples": 192, "correct": 20}},
        "compute_optimal": {"budgets": [112], "kinds": {"oracle": {"edges": [], "curve": [curve]}}}, "provenance": PROV}))  # fmt: skip
    (folders["ibpo"] / "metrics.json").write_text(json.dumps({
        "models": {"asv-sft": {"n": 48, "accuracy": 0.25, "ci95": [0.15, 0.39], "generated_tokens": 157.0,
                               "extended_share": 0.85, "extended_by_level": {"1": 0.5, "4": 1.0}}},
        "majority": {"maj@8": {"accuracy": 0.229, "ci95": [0.13, 0.37], "generated_tokens": 914.0}}, "questions": 48,
        "provenance": PROV}))  # fmt: skip
    for q, r, chosen in ((0.25, 1, 3), (0.25, 2, 0), (0.5, 1, 4)):
        rnd = tmp_path / "rounds" / f"q{q:g}" / f"round-{r}"
        rnd.mkdir(parents=True)
        (rnd / "state.json").write_text(json.dumps({"q": q, "round": r, "trained": chosen > 0, "selection": {
            "q": q, "responses": 160, "right": 12, "extended": 130, "chosen": chosen, "chosen_extended": 1},
            "provenance": PROV}))  # fmt: skip
    folders["rounds"] = tmp_path / "rounds"
    (tmp_path / "stage_times.tsv").write_text("setup\t63\ndata\t268\ntrain\t529\n")
    return folders


def test_a_whole_pipeline_run_is_recorded_and_each_stage_rendered(tmp_path):
    f = _pipeline(tmp_path)
    parts = {"curation": f["data"], "training": f["train"], "verifier": f["verifier"], "strategies": f["strategies"],
             "ibpo": f["ibpo"], "ibpo_rounds": f["rounds"]}  # fmt: skip
    rec = dr.record(
        "all", [], "make all", None, results=tmp_path, parts=parts, stage_times=tmp_path / "stage_times.tsv"
    )
    assert rec["wall_seconds"] == 860 and rec["date"] == "2026-12-02" and rec["commit"] == "a" * 40

    def block(spec: str) -> str:
        return dr.render_text(f"<!-- results {spec} -->\n<!-- /results -->", "d", results=tmp_path)

    stages = block('{"record": "all", "view": "stages"}')
    assert "| `make data` | 4.5 min |" in stages and "| all | 14.3 min |" in stages
    curation = block('{"record": "all", "view": "curation", "stage": "data"}')
    assert "| difficulty (smollm2-135m solves 45) | 1155 | 45 |" in curation and "(69,396 in all)" in curation
    assert (
        "*From `make data` (4.5 min) in a fresh clone's `make all` at commit aaaaaaa (2026-12-02; the whole run"
        in curation
    )
    training = block('{"record": "all", "view": "training", "stage": "train"}')
    assert "| 400 | 146 of ≤ 512 tokens (93%) | 74 of 4 blocks (2) | 0.0001 cosine | 1.83 (step 5) → 0.146 (step 70) | 255-268 | 8.8 min |" in training  # fmt: skip
    verifier = block('{"record": "all", "view": "verifier"}')
    assert "L2 0.01 chosen by 5-fold cross-validation (CV outcome AUROC 0.72)" in verifier
    assert "outcome AUROC 0.628 (92 solutions, 12 right), step AUROC 0.791. Verifier" in verifier
    assert "| majority | maj@8 | 24 | 16.7 [6.7, 35.9] | 929 | 54 | 8.0 | 0.0 | 265.0 |" in block(
        '{"record": "all", "view": "strategies"}'
    )
    assert "| 112 | 16.7 [6.7, 35.9] (108) | 4.2% (113, wbon@1) | +12.5 pts [+0.0, +25.1] |" in block(
        '{"record": "all", "view": "optimal"}'
    )
    assert "| asv-sft | 25.0% [15.0, 39.0] | 157 | 85% | 50% | 100% |" in block(
        '{"record": "all", "view": "ibpo"}'
    )
    rounds = block('{"record": "all", "view": "ibpo_rounds"}')
    assert (
        "| 0.25 | 1 | 160 | 130 | 12 | 3 | 1 | yes |\n| 0.25 | 2 | 160 | 130 | 12 | 0 | 1 | no |\n| 0.5 | 1 |"
        in rounds
    )
    with pytest.raises(ValueError, match="no compute-optimal 'predicted'"):
        block('{"record": "all", "view": "optimal", "kind": "predicted"}')
    with pytest.raises(ValueError, match=r"no stage 'eval' \(it has \['setup', 'data', 'train'\]\)"):
        block('{"record": "all", "view": "ibpo", "stage": "eval"}')

    # CI's check: a fresh `make data` against the record's counts.
    assert dr.verify_curation("all", f["data"], results=tmp_path) == []
    report = json.loads((f["data"] / "report.json").read_text())
    report["counts"]["difficulty"] = 1151
    (f["data"] / "report.json").write_text(json.dumps(report))
    [diff] = dr.verify_curation("all", f["data"], results=tmp_path)
    assert (
        diff.startswith("counts: recorded {")
        and "'difficulty': 1155" in diff
        and "'difficulty': 1151" in diff
    )


def test_a_pipeline_record_refuses_mixed_code_and_bad_stage_times(tmp_path):
    f = _pipeline(tmp_path)
    info = json.loads((f["train"] / "data_info.json").read_text())
    info["provenance"] = {**PROV, "commit": "b" * 40}  # trained by other code than the curation
    (f["train"] / "data_info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="different code"):
        dr.record(
            "x", [], "make all", None, results=tmp_path, parts={"curation": f["data"], "training": f["train"]}
        )
    with pytest.raises(ValueError, match=r"metrics.json: no \['models', 'majority', 'questions'\]"):
        dr.record("x", [], "make all", None, results=tmp_path, parts={"ibpo": f["strategies"]})
    (tmp_path / "bad.tsv").write_text("setup\t63\ndata 268\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: expected `target<TAB>seconds`"):
        dr.record(
            "x",
            [],
            "make all",
            None,
            results=tmp_path,
            parts={"curation": f["data"]},
            stage_times=tmp_path / "bad.tsv",
        )
    with pytest.raises(ValueError, match="nothing to record"):
        dr.record("x", [], "make all", None, results=tmp_path)


def test_the_docs_are_what_their_records_give():
    # The drift check: every generated block in README.md and docs/*.md equals its rendering from
    # docs/results/ (a figure edited by hand, or a record updated without `render`, fails here).
    stale = [
        str(d.relative_to(ROOT))
        for d in dr.documents()
        if dr.render_text(d.read_text(), d.name) != d.read_text()
    ]
    assert not stale, f"run `python tools/docs_results.py render`: {stale}"
    assert any(dr.BLOCK.search(d.read_text()) for d in dr.documents())  # the README's results are generated
