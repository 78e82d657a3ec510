"""One IBPO round end to end on the tiny model: sample, grade, select, train, resume; and the ASV data."""

import json
from pathlib import Path

import pytest

from thinkscale.grading.grade import Graded


def _sft_recipe(tmp_path):
    path = tmp_path / "sft.yaml"
    path.write_text("block_size: 256\nlearning_rate: 1.0e-4\nmax_steps: 2\nglobal_batch_size: 2\n"
                    "micro_batch_size: 1\nsave_steps: 100\nlogging_steps: 1\nwarmup_ratio: 0.0\n")  # fmt: skip
    return path


def test_one_ibpo_round_end_to_end(tiny_model_dir, tmp_path, monkeypatch):
    import thinkscale.ibpo.rounds
    from thinkscale.ibpo.run import main

    questions = tmp_path / "train.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + 2?", "gold": str(i + 2),
                                             "level": 1 + i % 2}) + "\n" for i in range(3)))  # fmt: skip
    # The tiny random model is never right; the grader is replaced so that every response counts as
    # right and the selection program has something to choose from.
    monkeypatch.setattr(thinkscale.ibpo.rounds, "grade", lambda text, gold, choices=None: Graded("x", True))
    argv = ["--start-model", str(tiny_model_dir), "--questions-from", str(questions), "--questions", "3",
            "--samples", "2", "--budgets", "0.5", "--rounds", "1", "--per-question", "2", "--ilp-batch", "2",
            "--max-thinking-tokens", "6", "--max-answer-tokens", "3", "--sft-config", str(_sft_recipe(tmp_path)),
            "--output-root", str(tmp_path), "--name", "t"]  # fmt: skip
    assert main(argv) == 0
    round_dir = tmp_path / "ibpo" / "t" / "q0.5" / "round-1"
    state = json.loads((round_dir / "state.json").read_text())
    selection = json.loads((round_dir / "selection.json").read_text())
    assert state["trained"] and (tmp_path / "sft" / "t-q0.5-r1" / "final" / "config.json").exists()
    assert state["model_out"].endswith("t-q0.5-r1/final")
    samples = [json.loads(line) for line in Path(state["samples"]).read_text().splitlines()]
    assert len(samples) == 6 and {s["group"] for s in samples} == {"standard"}
    assert selection["chosen"] == 6 and len(selection["batches"]) == 2  # 3 questions in batches of 2
    rows = [json.loads(line) for line in (round_dir / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["text"].startswith(r["prompt_text"]) for r in rows)
    models = json.loads((tmp_path / "ibpo" / "t" / "models.json").read_text())
    assert models == {"0.5": state["model_out"]}

    import thinkscale.inference.engine_args

    monkeypatch.setattr(
        thinkscale.inference.engine_args, "build_engine", lambda *a, **k: pytest.fail("decoded again")
    )
    assert main(argv) == 0  # finished rounds are skipped


def test_asv_data_mixes_single_trials_and_sv_traces(tmp_path):
    from thinkscale.common.trials import split_trials
    from thinkscale.data.asv import main
    from thinkscale.grading.extract import extract_answer

    assert (
        main(["--name", "a", "--output-root", str(tmp_path), "--per-level", "2", "--wrong-trial-rate", "0.5"])
        == 0
    )
    rows = [json.loads(line) for line in (tmp_path / "data" / "a" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 10 * 4 * 2
    for r in rows:
        trials = split_trials(r["reasoning"])
        assert len(trials) == r["meta"]["trials"] and (len(trials) > 1) == (r["level"] > 2)
        answers = [extract_answer(t) for t in trials]
        if len(trials) > 1:  # SV: it stops when two trials agree, on the right answer
            assert answers[-1] == answers[-2] == r["answer"]
        assert r["text"].startswith(r["prompt_text"]) and r["text"].endswith("<|im_end|>\n")
    assert any(r["meta"]["trials"] == 3 for r in rows)  # some open with a wrong trial


def test_ibpo_evaluation_reports_accuracy_tokens_and_long_share(tiny_model_dir, tmp_path):
    from thinkscale.eval.intervals import wilson
    from thinkscale.ibpo.evaluate import main

    bench = tmp_path / "q.jsonl"
    bench.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1),
                                         "level": 1 + i % 2}) + "\n" for i in range(4)))  # fmt: skip
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps({"strategy": "majority", "label": f"maj@{k}", "id": f"q{i}",
                                           "correct": i < k, "generated_tokens": 10 * k}) + "\n"
                               for k in (1, 2) for i in range(3)))  # fmt: skip
    argv = ["--benchmark", str(bench), "--models", f"a={tiny_model_dir}", f"b={tiny_model_dir}",
            "--majority-from", str(records), "--max-thinking-tokens", "5", "--max-answer-tokens", "3",
            "--output-root", str(tmp_path), "--name", "e"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "ibpo" / "e" / "metrics.json").read_text())
    assert metrics["questions"] == 3  # the majority records' ids, not the whole file
    assert metrics["majority"]["maj@2"] == {"accuracy": 2 / 3, "generated_tokens": 20.0, "n": 3,
                                            "ci95": list(wilson(2, 3))}  # fmt: skip
    a = metrics["models"]["a"]
    assert a["n"] == 3 and a["extended_share"] == 0.0 and set(a["extended_by_level"]) == {"1", "2"}
    assert metrics["models"]["b"]["generated_tokens"] == a["generated_tokens"]  # same model, greedy
    assert (tmp_path / "ibpo" / "e" / "ibpo.png").exists() and "| maj@2 (strategy study) |" in (
        tmp_path / "ibpo" / "e" / "summary.md"
    ).read_text()
    with pytest.raises(ValueError, match="label=path"):
        main(["--benchmark", str(bench), "--models", str(tiny_model_dir)])
