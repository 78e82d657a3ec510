"""Multi-process fine-tuning through the real launcher: two CPU processes (gloo), and FSDP on GPUs.

accelerate enables FSDP only on accelerators (on CPU, torchrun gives plain data parallel over gloo), so
the CPU test checks what multi-process training adds on any backend — the global batch kept by
accumulation, rank-0-only outputs, the final model gathered and loadable — and the FSDP test runs the
same entry point with recipes/accelerate/fsdp.yaml where two GPUs are present (`gpu` marker).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _launch(launcher, model_dir, data, root, *extra):
    cmd = [sys.executable, "-m", *launcher, "-m", "thinkscale.sft.train",
           "--model", str(model_dir), "--dataset", str(data), "--output-root", str(root), "--name", "dist",
           "--block-size", "600", "--learning-rate", "1e-3", "--global-batch-size", "2", "--micro-batch-size", "1",
           "--warmup-ratio", "0", "--logging-steps", "1", "--save-steps", "2", "--max-steps", "2", *extra]  # fmt: skip
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def write_train_file(path: Path, tokenizer=None) -> Path:
    """A tiny s1-format training set (two built-in domains, one question per level) at `path`."""
    from thinkscale.common.chat_format import FormatArgs
    from thinkscale.common.io import atomic_write_jsonl
    from thinkscale.data.builtin.pool import build_pool
    from thinkscale.data.render import render_rows
    from thinkscale.inference.models.load import load_tokenizer

    rows, _ = build_pool(seed=0, train_per_level=1, test_per_level=0, domains=["arithmetic", "geometry"])
    rows, _ = render_rows(rows, tokenizer or load_tokenizer("smollm2-135m"), FormatArgs(), block_size=1024)
    atomic_write_jsonl(path, rows)
    return path


@pytest.fixture(scope="module")
def data_file(tokenizer, tmp_path_factory):
    return write_train_file(tmp_path_factory.mktemp("dist") / "train.jsonl", tokenizer)


def test_two_cpu_processes(tiny_model_dir, data_file, tmp_path):
    # torchrun: accelerate launches several CPU processes only through mpirun.
    proc = _launch(["torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517"],
                   tiny_model_dir, data_file, tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "sft" / "dist"
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]  # one writer: rank 0
    info = json.loads((out / "data_info.json").read_text())
    assert (info["processes"], info["gradient_accumulation"]) == (2, 1)  # global batch 2 = 2 processes x 1
    assert (out / "checkpoint-2" / "COMPLETE").exists() and (out / "final" / "config.json").exists()
    from thinkscale.inference.models.load import ModelArgs, load_model

    model, _ = load_model(ModelArgs(model=str(out / "final")))
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_fsdp_two_gpus(tiny_model_dir, data_file, tmp_path):
    proc = _launch(["accelerate.commands.launch", "--config_file", str(ROOT / "recipes/accelerate/fsdp.yaml"), "--num_processes", "2",
                    "--fsdp_transformer_layer_cls_to_wrap", "LlamaDecoderLayer"],
                   tiny_model_dir, data_file, tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "sft" / "dist" / "final" / "config.json").exists()
