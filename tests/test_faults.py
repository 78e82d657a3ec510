"""Fault injection: kill a real stage with SIGKILL at chosen writes, run it again, compare with an uninterrupted run.

    make faults          # = pytest -m faults tests/test_faults.py (CI runs it)

Each stage runs as its own process on a small recipe (the tiny random model, a handful of
questions). The kill points are set through `THINKSCALE_FAULT` (`common/faults.py`): inside a
JSON-lines append (half a line on disk), between an atomic write's temp file and its rename, before
a finished folder is moved into place, and before a training checkpoint is marked COMPLETE. The
killed run must really die by SIGKILL (a point that is never reached fails the test), then the same
command again must finish and leave the outputs of the uninterrupted run: equal rows and metrics
(wall-clock fields aside; greedy decoding), for training equal losses (abs 1e-4) and final weights
(abs 1e-5). Covered: curation, training, the s1 study, the verifier, the strategy study, IBPO
(the last two grade with tests/fault_hooks: the tiny model is never right).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.faults]
ROOT = Path(__file__).resolve().parents[1]
# Fields that differ between any two runs: wall-clock ones, and metrics.json's provenance (its date).
TIMED = ("seconds", "elapsed", "time", "tokens_per_s", "duration", "created", "provenance")


HOOKS = ROOT / "tests" / "fault_hooks"  # the even-gold grader for the verifier and IBPO (see its docstring)


def _env(fault: str | None = None, even_grader: bool = False) -> dict:
    path = f"{ROOT}:{HOOKS}" if even_grader else str(ROOT)
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
           "HOME": os.environ.get("HOME", "/root")}  # fmt: skip
    if fault:
        env["THINKSCALE_FAULT"] = fault
    return env


def _run(argv: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    even = argv[0] in ("thinkscale.eval.verifier.train", "thinkscale.ibpo.run")
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=_env(fault, even), capture_output=True,
                          text=True, timeout=900)  # fmt: skip


def _untimed(obj):
    """`obj` without the fields that differ between any two runs (TIMED)."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if not any(t in k for t in TIMED)}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def _rows(path: Path) -> list:
    return [_untimed(json.loads(line)) for line in path.read_text().splitlines()]


def _json(path: Path):
    return _untimed(json.loads(path.read_text()))


def _kill_and_rerun(
    argv_for, outputs, faults: list[str], tmp_path: Path, same=None, says: dict | None = None
) -> None:
    """Kill at each fault point, rerun, compare; `says[fault]`: text the rerun must print (it resumed)."""
    reference = tmp_path / "reference"
    done = _run(argv_for(reference))
    assert done.returncode == 0, done.stderr[-3000:]
    want = outputs(reference)
    for fault in faults:
        root = tmp_path / fault.replace(":", "-")
        killed = _run(argv_for(root), fault)
        assert killed.returncode == -signal.SIGKILL, (
            f"{fault}: not killed (rc {killed.returncode})\n{killed.stderr[-2000:]}"
        )
        again = _run(argv_for(root))
        assert again.returncode == 0, f"{fault}: the rerun failed\n{again.stderr[-3000:]}"
        if says and fault in says:
            assert says[fault] in again.stdout + again.stderr, (
                f"{fault}: the rerun did not say {says[fault]!r}"
            )
        got = outputs(root)
        ok = same(got, want) if same else got == want
        assert ok, f"{fault}: the resumed run's outputs differ from the uninterrupted run's"


def _bench(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "questions.jsonl"
    if not path.exists():
        path.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n"
                                for i in range(n)))  # fmt: skip
    return path


def test_curation_survives_kills(tiny_model_dir, tmp_path):
    def argv(root):
        return ["thinkscale.data.curate", "--model", str(tiny_model_dir), "--output-root", str(root), "--name", "t",
                "--builtin-train-per-level", "2", "--builtin-test-per-level", "1", "--num-samples", "30",
                "--difficulty-models", str(tiny_model_dir), "--difficulty-max-thinking-tokens", "6",
                "--difficulty-max-answer-tokens", "6", "--block-size", "1024"]  # fmt: skip

    def outputs(root):
        out = root / "data" / "t"
        return {name: _rows(out / name) for name in ("train.jsonl", "test.jsonl")} | {
            "report": _json(out / "report.json")
        }

    _kill_and_rerun(
        argv, outputs, ["jsonl_write:1", "jsonl_write:5", "atomic_write:2", "atomic_dir:1"], tmp_path
    )


def test_training_survives_kills(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from tests.test_sft_distributed import write_train_file

    data = tmp_path / "train.jsonl"
    write_train_file(data)

    def argv(root):
        return ["thinkscale.sft.train", "--model", str(tiny_model_dir), "--dataset", str(data), "--output-root", str(root),
                "--name", "t", "--block-size", "600", "--learning-rate", "1e-3", "--global-batch-size", "2",
                "--micro-batch-size", "1", "--warmup-ratio", "0", "--logging-steps", "1", "--save-steps", "2",
                "--max-steps", "6"]  # fmt: skip

    def outputs(root):
        out = root / "sft" / "t"
        log = _rows(out / "train_log.jsonl")
        weights = load_file(str(out / "final" / "model.safetensors"))
        return [r["step"] for r in log], torch.tensor([r["loss"] for r in log]), weights

    def same(got, want):
        (steps, losses, weights), (steps0, losses0, weights0) = got, want
        return (steps == steps0 and torch.allclose(losses, losses0, rtol=0, atol=1e-4) and weights.keys() == weights0.keys()
                and all(torch.allclose(weights[k].float(), weights0[k].float(), rtol=0, atol=1e-5) for k in weights))  # fmt: skip

    # checkpoint:1 leaves checkpoint-2 unmarked: nothing to resume from, a fresh start is right
    resumed = {f: "resuming from" for f in ("checkpoint:2", "jsonl_write:3", "atomic_dir:1")}
    _kill_and_rerun(argv, outputs, ["checkpoint:1", "checkpoint:2", "jsonl_write:3", "atomic_dir:1"], tmp_path, same,
                    says=resumed)  # fmt: skip


def test_the_s1_study_survives_kills(tiny_model_dir, tmp_path):
    bench = _bench(tmp_path, 5)

    def argv(root):
        return ["thinkscale.eval.run", "--model", str(tiny_model_dir), "--benchmark", str(bench), "--output-root", str(root),
                "--name", "r", "--budgets", "4", "8", "--max-answer-tokens", "4"]  # fmt: skip

    def outputs(root):
        out = root / "eval" / "r"
        return {"samples": _rows(out / "samples.jsonl"), "metrics": _json(out / "metrics.json")}

    _kill_and_rerun(argv, outputs, ["jsonl_write:1", "jsonl_write:7", "atomic_write:1"], tmp_path)


def test_the_strategy_study_survives_kills(tiny_model_dir, tmp_path):
    bench = _bench(tmp_path, 8)

    def argv(root):
        return ["thinkscale.eval.strategies.run", "--model", str(tiny_model_dir), "--benchmark", str(bench),
                "--output-root", str(root), "--name", "s", "--strategies", "budget_forcing", "majority",
                "--bf-budgets", "4", "8", "--samples", "2", "--val-questions", "3", "--test-questions", "3",
                "--max-thinking-tokens", "8", "--max-answer-tokens", "3", "--step-delimiter", "\n"]  # fmt: skip

    def outputs(root):
        out = root / "strategies" / "s"
        records = sorted(_rows(out / "records.jsonl"), key=lambda r: (r["key"], str(r["id"])))
        return {"records": records, "metrics": _json(out / "metrics.json")}

    _kill_and_rerun(argv, outputs, ["jsonl_write:2", "jsonl_write:9", "atomic_write:2"], tmp_path)


def _questions(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "train-questions.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + 1?", "gold": str(i + 1),
                                        "level": 1 + i % 2}) + "\n" for i in range(n)))  # fmt: skip
    return path


def test_the_verifier_survives_kills(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    questions = _questions(tmp_path, 6)

    def argv(root):
        return ["thinkscale.eval.verifier.train", "--model", str(tiny_model_dir), "--train-file", str(questions),
                "--output-root", str(root), "--name", "v", "--questions", "6", "--samples", "2", "--holdout", "0.5",
                "--max-thinking-tokens", "8", "--max-answer-tokens", "3", "--max-step-tokens", "4",
                "--step-delimiter", "\n"]  # fmt: skip

    def outputs(root):
        out = root / "verifier" / "v"
        head = {k: v.tolist() for k, v in load_file(str(out / "head.safetensors")).items()}
        return {"head": head, "info": _json(out / "verifier.json")}

    # 1: config.yaml; 2: the sampled states (a cached chunk); 3: the head; 4: verifier.json
    _kill_and_rerun(argv, outputs, ["atomic_write:2", "atomic_write:3", "atomic_write:4"], tmp_path)


def test_ibpo_survives_kills(tiny_model_dir, tmp_path):
    questions = _questions(tmp_path, 4)
    sft = tmp_path / "sft.yaml"
    sft.write_text("block_size: 256\nlearning_rate: 1.0e-4\nmax_steps: 4\nglobal_batch_size: 2\n"
                   "micro_batch_size: 1\nsave_steps: 2\nlogging_steps: 1\nwarmup_ratio: 0.0\n")  # fmt: skip

    def argv(root):
        return ["thinkscale.ibpo.run", "--start-model", str(tiny_model_dir), "--questions-from", str(questions),
                "--questions", "4", "--samples", "2", "--budgets", "0.5", "--rounds", "1", "--per-question", "2",
                "--ilp-batch", "2", "--max-thinking-tokens", "6", "--max-answer-tokens", "3",
                "--temperature", "0", "--sft-config", str(sft), "--output-root", str(root), "--name", "t"]  # fmt: skip

    def outputs(root):
        import torch
        from safetensors.torch import load_file

        run = root / "ibpo" / "t" / "q0.5" / "round-1"
        state = json.loads((run / "state.json").read_text())
        weights = load_file(str(root / "sft" / "t-q0.5-r1" / "final" / "model.safetensors"))
        return {"samples": sorted(_rows(Path(state["samples"])), key=json.dumps),
                "selection": _json(run / "selection.json"), "train": _rows(run / "train.jsonl"),
                "weights": {k: torch.round(v.float(), decimals=4).tolist() for k, v in weights.items()}}  # fmt: skip

    # samples appended (jsonl), the round's files (atomic), a training checkpoint, the final model folder
    _kill_and_rerun(
        argv, outputs, ["jsonl_write:3", "atomic_write:2", "checkpoint:1", "atomic_dir:1"], tmp_path
    )
