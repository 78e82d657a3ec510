"""`--restart` starts a stage over on purpose (resuming is the default): the run's outputs are removed
first, nothing outside the run is touched, and the fresh run writes everything again."""

from __future__ import annotations

import json

from thinkscale.common.io import read_jsonl


def _bench(tmp_path, n=3):
    path = tmp_path / "q.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(n))
    )
    return path


def test_the_s1_study_restarts_on_purpose(tiny_model_dir, tmp_path, capsys):
    from thinkscale.eval.run import main

    argv = ["--model", str(tiny_model_dir), "--benchmark", str(_bench(tmp_path)), "--output-root", str(tmp_path),
            "--name", "r", "--budgets", "4", "--max-answer-tokens", "3"]  # fmt: skip
    assert main(argv) == 0
    (out,) = (tmp_path / "eval").iterdir()
    first = read_jsonl(out / "samples.jsonl")
    (out / "stale-note.txt").write_text("written by an earlier run\n")
    beside = tmp_path / "eval" / "other-run"
    beside.mkdir()
    capsys.readouterr()
    assert main(argv) == 0  # the default: a finished run is resumed, i.e. left as it is
    assert (out / "stale-note.txt").exists()
    assert main([*argv, "--restart"]) == 0
    said = capsys.readouterr().out
    assert f"--restart: removed {out / 'samples.jsonl'}" in said
    assert not (out / "stale-note.txt").exists() and beside.is_dir()  # only this run's folder
    assert read_jsonl(out / "samples.jsonl") == first  # decoded again, greedy: the same rows


def test_generate_restart_rewrites_only_its_output_file(tiny_model_dir, tmp_path):
    from thinkscale.inference.generate import main

    questions = _bench(tmp_path, 2)
    output = tmp_path / "results.jsonl"
    neighbour = tmp_path / "notes.txt"
    neighbour.write_text("a user's file\n")
    argv = ["--model", str(tiny_model_dir), "--input", str(questions), "--output", str(output),
            "--max-thinking-tokens", "3", "--max-answer-tokens", "2"]  # fmt: skip
    assert main(argv) == 0
    output.write_text(output.read_text() + json.dumps({"id": "stale", "question": "?"}) + "\n")
    assert main([*argv, "--restart"]) == 0
    rows = read_jsonl(output)
    assert [r["id"] for r in rows] == [1, 2] and neighbour.read_text() == "a user's file\n"
