"""One run at a time per output folder (common/lock.py), and training that resumes by itself after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_sft_distributed import write_train_file
from thinkscale.common.lock import LOCK_NAME, run_lock

ROOT = Path(__file__).resolve().parents[1]
ENV = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}


def test_a_second_process_on_the_same_folder_is_told_who_runs_it(tmp_path):
    """A stage started on a folder another live process holds fails at once, naming that pid."""
    out = tmp_path / "data" / "run"
    with run_lock(out, "curation"):
        proc = subprocess.run(
            [sys.executable, "-m", "thinkscale.data.curate", "--output-root", str(tmp_path), "--name", "run"],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"curation is already running (pid {os.getpid()})" in proc.stderr
    assert not (out / LOCK_NAME).exists()  # released on leaving the block


def test_a_stale_lock_from_a_killed_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(f"{dead.pid} {os.uname().nodename} 1\n")
    with run_lock(tmp_path) as path:
        assert path.read_text().split()[0] == str(os.getpid())
    with run_lock(tmp_path), run_lock(tmp_path):  # re-entering one's own folder is allowed
        pass
    (tmp_path / LOCK_NAME).write_text("garbage")  # a torn lock file counts as stale
    with run_lock(tmp_path):
        pass


def test_training_killed_after_a_checkpoint_resumes_by_itself(tiny_model_dir, tmp_path):
    """The issue's case: kill -9 during training after a complete checkpoint; the same command again
    continues from it (no flag) and ends with the uninterrupted run's losses."""

    data = tmp_path / "train.jsonl"
    write_train_file(data)
    cmd = [sys.executable, "-m", "thinkscale.sft.train", "--model", str(tiny_model_dir), "--dataset", str(data),
           "--block-size", "600", "--learning-rate", "1e-3", "--global-batch-size", "2", "--micro-batch-size", "1",
           "--warmup-ratio", "0", "--logging-steps", "1", "--save-steps", "2", "--max-steps", "6"]  # fmt: skip
    whole = subprocess.run([*cmd, "--output-root", str(tmp_path / "a"), "--name", "t"], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert whole.returncode == 0, whole.stderr[-3000:]
    out = tmp_path / "b" / "sft" / "t"
    run = [*cmd, "--output-root", str(tmp_path / "b"), "--name", "t"]
    proc = subprocess.Popen(run, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-2" / "COMPLETE").exists():
        assert proc.poll() is None and time.monotonic() < deadline, (
            "training ended before its first checkpoint"
        )
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "final").exists()
    again = subprocess.run(run, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stderr

    def losses(folder):
        return [json.loads(line)["loss"] for line in (folder / "train_log.jsonl").read_text().splitlines()]

    assert losses(out) == pytest.approx(losses(tmp_path / "a" / "sft" / "t"), abs=1e-4)
    assert (out / "final" / "config.json").exists()
