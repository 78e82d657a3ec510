"""`thinkscale data` end to end on the tiny model: outputs, reuse, determinism, resume, bad input."""

from __future__ import annotations

import json

import pytest

from tests.scripted import count_generate_calls
from thinkscale.data.curate import main


def argv(model_dir, root, *extra):
    return ["--model", str(model_dir), "--output-root", str(root), "--name", "t",
            "--builtin-train-per-level", "2", "--builtin-test-per-level", "1", "--num-samples", "30",
            "--difficulty-models", str(model_dir), "--difficulty-max-thinking-tokens", "6",
            "--difficulty-max-answer-tokens", "6", "--block-size", "1024", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def first_run(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("curate")
    assert main(argv(tiny_model_dir, root)) == 0
    return root / "data" / "t"


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_outputs(first_run):
    import datasets

    train, test = lines(first_run / "train.jsonl"), lines(first_run / "test.jsonl")
    assert len(train) == 30 and len(test) == 40
    for r in train:
        assert {"question", "reasoning", "answer", "domain", "source", "text"} <= r.keys()
        assert r["text"].endswith(f"Answer: {r['answer']}<|im_end|>\n") or r["text"].endswith("<|im_end|>")
    assert set(test[0]) == {"id", "question", "answer", "domain", "level"}
    assert not {r["question"] for r in train} & {r["question"] for r in test}
    report = json.loads((first_run / "report.json").read_text())
    assert report["stage_order"] == ["loaded", "quality", "difficulty", "diversity", "format"]
    assert report["counts"]["loaded"] == 80 and report["counts"]["format"] == 30
    assert sum(report["domains"].values()) == 30 and report["test_rows"] == 40
    ds = datasets.load_from_disk(str(first_run / "dataset"))
    assert ds["train"].num_rows == 30 and ds["test"].num_rows == 40
    assert (first_run / "histograms.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_reuses_and_other_recipe_needs_overwrite(first_run, tiny_model_dir, capsys):
    root = first_run.parent.parent
    assert main(argv(tiny_model_dir, root)) == 0
    assert "up to date" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"another recipe \(differs in: num_samples\); pass --overwrite"):
        main(argv(tiny_model_dir, root, "--num-samples", "20"))


def test_same_seed_same_dataset(first_run, tiny_model_dir, tmp_path):
    assert main(argv(tiny_model_dir, tmp_path)) == 0
    assert (tmp_path / "data" / "t" / "train.jsonl").read_bytes() == (first_run / "train.jsonl").read_bytes()
    assert main(argv(tiny_model_dir, tmp_path, "--name", "s1", "--seed", "1")) == 0
    assert (tmp_path / "data" / "s1" / "train.jsonl").read_bytes() != (first_run / "train.jsonl").read_bytes()


def test_interrupted_run_resumes_the_difficulty_stage(first_run, tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "data" / "t"
    shutil.copytree(first_run, out)
    (out / "config.yaml").unlink()  # what an interrupted run lacks: config.yaml is written last
    (out / "train.jsonl").unlink()
    shutil.rmtree(out / "cache")
    cache = next(first_run.glob("cache/difficulty-*.jsonl"))
    done = cache.read_text().splitlines()
    (out / "cache").mkdir()
    (out / "cache" / cache.name).write_text("\n".join(done[:10]) + "\n" + done[10][:15])  # torn last line
    asked = count_generate_calls(monkeypatch)
    assert main(argv(tiny_model_dir, tmp_path)) == 0
    assert asked == [len(done) - 10]
    assert (out / "train.jsonl").read_bytes() == (first_run / "train.jsonl").read_bytes()


def test_empty_pool_names_the_stage(tmp_path, tiny_model_dir):
    src = tmp_path / "pool.jsonl"
    src.write_text('{"question": "Q1?", "reasoning": "", "answer": "1"}\n')
    with pytest.raises(
        ValueError,
        match=r"the quality stage left no rows: every row was dropped \(\{'missing_reasoning': 1\}\)",
    ):
        main(argv(tiny_model_dir, tmp_path, "--sources", str(src)))


@pytest.mark.parametrize(
    "flags, needle",
    [(["--num-samples", "0"], "--num-samples must be >= 1, got 0"),
     (["--rank-base", "0.5"], "--rank-base must be >= 1"),
     (["--domain-classifier", "llm"], "--domain-classifier must be keyword or model")],
)  # fmt: skip
def test_impossible_settings_fail_before_any_work(tmp_path, flags, needle, monkeypatch):
    """The issue's case: `--num-samples 0` used to start the 1200-question difficulty pass first."""
    import thinkscale.data.curate

    monkeypatch.setattr(thinkscale.data.curate, "stage_dir", lambda *a: pytest.fail("work started"))
    with pytest.raises(ValueError, match=needle):
        thinkscale.data.curate.main(["--output-root", str(tmp_path), *flags])
