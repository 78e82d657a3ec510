"""Every stage that decodes, run with `--backend vllm` on a real vLLM engine and with `--backend hf`:
the same recipe gives the same results (embedded model, fp32, greedy), a few questions per stage.

    make test-vllm

Stages share the session's engine (the `shared_vllm` fixture: a start costs ~20 s); the error test
and the kill-and-resume test start their own through the command line, as a user does.
"""

import json
import subprocess
import sys

import pytest

from thinkscale.common.chat_format import FormatArgs
from thinkscale.inference.backend import BackendArgs
from thinkscale.inference.models.load import ModelArgs

pytestmark = pytest.mark.vllm

FMT = FormatArgs()
VLLM = BackendArgs(backend="vllm")
QUESTIONS = [("What is 7 + 5?", "12"), ("Compute (4 + 3) * 5 - 6.", "29"), ("What is 9 - 4?", "5"),
             ("Is 91 prime? Answer yes or no.", "no"), ("What is 3 * 3?", "9"), ("What is 10 / 2?", "5")]  # fmt: skip


def _bench(tmp_path, n=6):
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": q, "answer": a}) + "\n"
                            for i, (q, a) in enumerate(QUESTIONS[:n])))  # fmt: skip
    return path


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _drop(rows, *keys):
    return [{k: v for k, v in r.items() if k not in keys} for r in rows]


@pytest.mark.parametrize("flags, needle", [
    (["--tensor-parallel-size", "2"], "Total number of attention heads (9) must be divisible by tensor parallel size (2)"),
    (["--data-parallel-size", "999"], "--data-parallel-size 999 needs at least 999 cores"),
])  # fmt: skip
def test_vllm_errors_reach_the_user_without_a_traceback(tmp_path, flags, needle):
    cmd = [sys.executable, "-m", "thinkscale.inference.generate", "--input", str(_bench(tmp_path, 1)), "--output",
           str(tmp_path / "o.jsonl"), "--backend", "vllm", *flags]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr


def test_chat_one_shot_matches_hf(shared_vllm, capsys):
    from thinkscale.inference.chat import main

    out = {}
    for backend in ("hf", "vllm"):
        assert main(["--prompt", "What is 7 + 5?", "--json", "--min-thinking-tokens", "12", "--max-thinking-tokens", "32",
                  "--max-answer-tokens", "12", "--dtype", "float32", "--backend", backend]) == 0  # fmt: skip
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1, lines[:3]  # `--json` prints one object and nothing else (vLLM logs to stderr)
        out[backend] = json.loads(lines[0])
        out[backend].pop("seconds")
    assert out["hf"] == out["vllm"] and out["vllm"]["num_forced"] >= 1


def test_eval_run_matches_hf(shared_vllm, tmp_path):
    from thinkscale.eval.run import main

    for backend in ("hf", "vllm"):
        main(["--benchmark", str(_bench(tmp_path, 4)), "--output-root", str(tmp_path), "--name", "run",
              "--methods", "budget_forcing", "wait", "--budgets", "8", "32", "--wait-counts", "0", "2",
              "--wait-max-thinking", "48", "--max-answer-tokens", "12", "--dtype", "float32", "--backend", backend])  # fmt: skip
    # One --name: the vLLM run writes beside the HF run (`_vllm`), never into it.
    hf, vl = (sorted(_jsonl(tmp_path / "eval" / b / "samples.jsonl"), key=lambda s: (s["label"], str(s["budget"]), s["id"]))
              for b in ("run", "run_vllm"))  # fmt: skip
    assert len(hf) == 4 * 4 and hf == vl
    assert (
        json.loads((tmp_path / "eval" / "run" / "metrics.json").read_text())["methods"]
        == json.loads((tmp_path / "eval" / "run_vllm" / "metrics.json").read_text())["methods"]
    )


def test_strategy_study_matches_hf(shared_vllm, tmp_path):
    from thinkscale.eval.strategies.run import main

    for backend in ("hf", "vllm"):
        main(["--benchmark", str(_bench(tmp_path)), "--output-root", str(tmp_path), "--name", "run",
              "--strategies", "budget_forcing", "majority", "sequential_vote", "adaptive_vote", "deepconf",
              "deepconf_online", "--deepconf-warmup", "2", "--deepconf-etas", "50", "--asv-judges", "self",
              "--bf-budgets", "8", "24", "--samples", "2", "--sv-trials", "2", "--sv-agree", "2", "--temperature", "0",
              "--val-questions", "3", "--test-questions", "3", "--max-thinking-tokens", "24", "--max-answer-tokens", "8",
              "--dtype", "float32", "--backend", backend])  # fmt: skip
    hf, vl = (sorted(_jsonl(tmp_path / "strategies" / b / "records.jsonl"), key=lambda r: (r["key"], r["id"]))
              for b in ("run", "run_vllm"))  # fmt: skip
    assert len(hf) == 6 * 9
    for a, b in zip(hf, vl, strict=True):  # DeepConf's threshold: two backends' log-probabilities
        if "deepconf" in a:
            assert a["deepconf"].pop("threshold") == pytest.approx(b["deepconf"].pop("threshold"), abs=1e-3)
    assert _drop(hf, "engine") == _drop(vl, "engine")


@pytest.mark.parametrize("lookahead, states", [(0, "pooling"), (1, "transformers")])
def test_search_strategies_match_hf(shared_vllm, tmp_path, lookahead, states):
    """Beam search (with and without lookahead) and REBASE on vLLM: every record, search tree and step
    score equal to the tree decoder's (greedy, fp32), a value head reading both (its states from the
    pooling instance or from transformers); vLLM's own work (prefix-cache hits on the resubmitted
    paths) recorded beside the compute."""
    import torch

    from thinkscale.eval.strategies.run import main
    from thinkscale.eval.verifier.head import ValueHead

    x = torch.randn(64, 576, generator=torch.Generator().manual_seed(0))
    ValueHead.fit(x, (x[:, 0] > 0).float()).save(tmp_path / "vh", {"model": "smollm2-135m"})
    bench = tmp_path / "steps.jsonl"
    bench.write_text("".join(json.dumps({"id": f"q{i}", "question": f"{q} Explain step by step.", "answer": a}) + "\n"
                             for i, (q, a) in enumerate(QUESTIONS[:2])))  # fmt: skip
    for backend in ("hf", "vllm"):
        main(["--benchmark", str(bench), "--output-root", str(tmp_path), "--name", "run", "--strategies", "beam_search",
              "rebase", "--verifier", f"value_head:{tmp_path / 'vh'}", "--beam-n", "4", "--beam-width", "2",
              "--lookahead", str(lookahead), "--rebase-width", "3", "--temperature", "0", "--step-delimiter", "\n",
              "--max-step-tokens", "12", "--max-depth", "4", "--max-thinking-tokens", "40", "--max-answer-tokens", "6",
              "--val-questions", "1", "--test-questions", "1", "--dtype", "float32", "--backend", backend,
              "--vllm-states", states])  # fmt: skip
    hf, vl = (sorted(_jsonl(tmp_path / "strategies" / b / "records.jsonl"), key=lambda r: (r["key"], r["id"]))
              for b in ("run", "run_vllm"))  # fmt: skip
    assert len(hf) == 2 * 2  # beam search and REBASE, on two questions
    for a, b in zip(hf, vl, strict=True):
        for x, y in zip(a["tree"], b["tree"], strict=True):  # value-head scores: two fp32 forward passes
            assert x.pop("score") == pytest.approx(y.pop("score"), abs=2e-4)
    assert _drop(hf, "engine") == _drop(vl, "engine")
    assert sum(len(r["tree"]) for r in hf) > 4 * 4  # the searches went several steps deep
    engine = json.loads((tmp_path / "strategies" / "run_vllm" / "metrics.json").read_text())["engine"]
    assert all(e["cached_tokens"] > 0 and e["requests"] >= e["calls"] > 0 for e in engine.values()), engine
    if states == "pooling":  # each depth's states: the path so far from the pooler's own prefix cache
        assert all(0 < e["state_cached_tokens"] < e["state_tokens"] for e in engine.values()), engine


def test_beam_search_with_a_prm_matches_hf(shared_vllm, tmp_path, tiny_prm_dir):
    """`--verifier prm:<folder>` on vLLM: the PRM as its own vLLM pooling instance scores every node as
    the PRM in transformers does on the HF backend (the same search, record for record), and its
    resubmitted paths come from its prefix cache."""
    from thinkscale.eval.strategies.run import main

    bench = tmp_path / "steps.jsonl"
    bench.write_text("".join(json.dumps({"id": f"q{i}", "question": f"{q} Explain step by step.", "answer": a}) + "\n"
                             for i, (q, a) in enumerate(QUESTIONS[:2])))  # fmt: skip
    for backend in ("hf", "vllm"):
        main(["--benchmark", str(bench), "--output-root", str(tmp_path), "--name", "run", "--strategies", "beam_search",
              "--verifier", f"prm:{tiny_prm_dir}", "--beam-n", "4", "--beam-width", "2", "--temperature", "0",
              "--step-delimiter", "\n", "--max-step-tokens", "12", "--max-depth", "4", "--max-thinking-tokens", "40",
              "--max-answer-tokens", "6", "--val-questions", "1", "--test-questions", "1", "--dtype", "float32",
              "--backend", backend])  # fmt: skip
    hf, vl = (sorted(_jsonl(tmp_path / "strategies" / b / "records.jsonl"), key=lambda r: (r["key"], r["id"]))
              for b in ("run", "run_vllm"))  # fmt: skip
    assert len(hf) == 2 and sum(len(r["tree"]) for r in hf) > 2 * 4
    for a, b in zip(hf, vl, strict=True):
        for x, y in zip(a["tree"], b["tree"], strict=True):
            assert x.pop("score") == pytest.approx(y.pop("score"), abs=1e-5)
    assert _drop(hf, "engine") == _drop(vl, "engine")
    engine = json.loads((tmp_path / "strategies" / "run_vllm" / "metrics.json").read_text())["engine"]
    assert all(0 < e["prm_cached_tokens"] < e["prm_tokens"] for e in engine.values()), engine


def test_verifier_sampling_matches_hf(shared_vllm, tmp_path):
    """Whole paths on vLLM + states read afterwards = the tree decoder's step-wise states (greedy)."""
    import torch

    from thinkscale.eval.benchmarks import Item
    from thinkscale.eval.policy import PolicySettings
    from thinkscale.eval.verifier.train import VerifierArgs, sampled_paths

    items = [Item(id=f"q{i}", question=q, gold=a) for i, (q, a) in enumerate(QUESTIONS[:4])]
    pset = PolicySettings(temperature=0.0, max_thinking_tokens=24, max_answer_tokens=8, step_delimiter="\n")
    args = VerifierArgs(samples=1, questions=4)
    model = ModelArgs(dtype="float32")
    hf = sampled_paths(model, FMT, pset, args, items, tmp_path / "hf")
    vl = sampled_paths(model, FMT, pset, args, items, tmp_path / "vllm", VLLM)
    assert [(p["q"], p["correct"], p["states"].shape) for p in hf] == [
        (p["q"], p["correct"], p["states"].shape) for p in vl
    ]
    for a, b in zip(hf, vl, strict=True):
        torch.testing.assert_close(a["states"], b["states"], rtol=1e-4, atol=1e-4)


def test_difficulty_filter_matches_hf(shared_vllm, tmp_path):
    from thinkscale.data.difficulty import DifficultyArgs, solve_with

    rows = [{"id": f"q{i}", "question": q, "gold": a} for i, (q, a) in enumerate(QUESTIONS)]
    args = DifficultyArgs(difficulty_max_thinking_tokens=16, difficulty_max_answer_tokens=16)
    base = ModelArgs(dtype="float32")
    solved = {b: solve_with("smollm2-135m", rows, args, FMT, base, tmp_path / f"{b}.jsonl", BackendArgs(backend=b))
              for b in ("hf", "vllm")}  # fmt: skip
    assert solved["hf"] == solved["vllm"]
    assert sorted(_jsonl(tmp_path / "hf.jsonl"), key=str) == sorted(_jsonl(tmp_path / "vllm.jsonl"), key=str)


def test_ibpo_sampling_matches_hf(shared_vllm, tmp_path, embedded_fp32):
    from types import SimpleNamespace

    from thinkscale.eval.benchmarks import Item
    from thinkscale.ibpo.rounds import sample
    from thinkscale.inference.engine_args import build_engine

    items = [Item(id=f"q{i}", question=q, gold=a, level=1) for i, (q, a) in enumerate(QUESTIONS[:3])]
    args = SimpleNamespace(samples=2, max_thinking_tokens=24, max_answer_tokens=8, temperature=0.0,
                           group_by="tokens", long_tokens=16)  # fmt: skip
    rows = {}
    for b in ("hf", "vllm"):
        engine, tok = build_engine(ModelArgs(dtype="float32"), FMT, BackendArgs(backend=b), 4)
        rows[b] = sample(engine, tok, FMT, items, args, 0, tmp_path / f"{b}.jsonl")
    key = lambda r: (r["id"], r["j"])  # noqa: E731  (written per question as each completes: order differs)
    assert len(rows["hf"]) == 6 and sorted(rows["hf"], key=key) == sorted(rows["vllm"], key=key)


def test_generate_on_vllm_resumes_after_a_kill(tmp_path):
    """The real command line: vLLM started by the toolkit's own flags (fp32 on CPU, context, KV cache,
    cores). SIGKILL `inference.generate --backend vllm` once its first chunk is written; the rerun
    decodes only what is missing, and the file ends with every row once, as an uninterrupted HF run
    has them (the HF engine writes rows as each finishes, vLLM per chunk: compared by id)."""
    import os
    import signal
    import time

    questions = _bench(tmp_path, 6)
    # One request a chunk, each ~2 s of decoding: the kill lands while later chunks are still to come.
    flags = ["--input", str(questions), "--min-thinking-tokens", "48", "--max-thinking-tokens", "64",
             "--max-answer-tokens", "12", "--dtype", "float32", "--batch-size", "1", "--kv-cache-gib", "1",
             "--max-model-len", "512"]  # fmt: skip
    out = tmp_path / "vllm.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "thinkscale.inference.generate",
        *flags,
        "--output",
        str(out),
        "--backend",
        "vllm",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while (
        time.time() < deadline
        and proc.poll() is None
        and not (out.exists() and out.read_text().count("\n") >= 2)
    ):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # the engine's worker processes too
    proc.wait()
    written = out.read_text().count("\n")
    assert 2 <= written < 6  # whole rows only: a row is written in one append
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"wrote {6 - written} results" in done.stdout, (
        done.stdout + done.stderr[-1000:]
    )
    ref = tmp_path / "hf.jsonl"
    subprocess.run([sys.executable, "-m", "thinkscale.inference.generate", *flags, "--output", str(ref)], check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    got, want = (sorted(_drop(_jsonl(p), "seconds"), key=lambda r: r["id"]) for p in (out, ref))
    assert [r["id"] for r in got] == [f"q{i}" for i in range(6)] and got == want
