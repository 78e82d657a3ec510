"""`thinkscale compare`: two study runs' samples, matched and compared field by field."""

from __future__ import annotations

import json

import pytest

from thinkscale.eval.compare import main


def _run(folder, samples):
    folder.mkdir()
    (folder / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return str(folder)


def _sample(qid, budget, thinking, **kw):
    return {"label": "budget_forcing", "budget": budget, "id": qid, "sample": 0, "thinking": thinking,
            "answer": "Final Answer: 4", "extracted": "4", "correct": True, "thinking_tokens": 9,
            "answer_tokens": 3, "num_forced": 0, "think_end_reason": "delimiter", "hit_max": False, "tries": 1,
            "segments": [], **kw}  # fmt: skip


def test_equal_runs_pass_and_a_difference_is_named(tmp_path, capsys):
    a = _run(tmp_path / "hf", [_sample("q1", 64, "2 + 2 is 4."), _sample("q2", 64, "so it is 5"),
                               _sample("q1", 128, "longer")])  # fmt: skip
    b = _run(tmp_path / "vllm", [_sample("q1", 64, "2 + 2 is 4."), _sample("q2", 64, "so it is 5")])
    assert main([a, b]) == 0
    out = capsys.readouterr().out
    assert (
        "| budget_forcing | 64 | 2 | 2 | — |" in out
        and "2 of 2 pairs equal" in out
        and "1 samples only in" in out
    )

    c = _run(
        tmp_path / "other",
        [_sample("q1", 64, "2 + 2 is 4."), _sample("q2", 64, "so it is 6", thinking_tokens=10)],
    )
    assert main([a, str(tmp_path / "other" / "samples.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "question q2: thinking differs at character 9: 'so it is 5' vs 'so it is 6'" in out, out
    assert main([c, str(tmp_path / "hf")]) == 1  # and from either side


def test_no_overlap_fails_and_bad_files_are_named(tmp_path, capsys):
    a = _run(tmp_path / "a", [_sample("q1", 64, "x")])
    b = _run(tmp_path / "b", [_sample("q1", 128, "x")])
    assert main([a, b]) == 1 and "0 of 0 pairs equal" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no such file"):
        main([a, str(tmp_path / "missing")])
    bad = _run(tmp_path / "bad", [{"thinking": "no key"}])
    with pytest.raises(ValueError, match=r"samples.jsonl:1: not a sample of the s1 study"):
        main([a, bad])


def test_points_are_listed_in_sweep_order(tmp_path, capsys):
    samples = [_sample("q1", b, "t") for b in (1024, 128, 64)]
    assert main([_run(tmp_path / "a", samples), _run(tmp_path / "b", samples)]) == 0
    rows = [line.split(" | ")[1] for line in capsys.readouterr().out.splitlines()[2:5]]
    assert rows == ["64", "128", "1024"]
