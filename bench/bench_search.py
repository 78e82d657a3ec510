"""Verifier-guided beam search on vLLM vs the transformers tree decoder, and best-of-N vs beam search on vLLM.

    .venv/bin/python -m bench.bench_search [--questions 2] [--n 16] [--width 4] [--repeats 2]

Workload: the strategy study's own `beam_search` (N beams, keep N/M, expand each M ways per step;
steps end at a newline, at most 24 tokens; thinking cap 128; T = 0.7) and `best_of_n` (N whole
samples) on built-in held-out questions, on the fine-tuned default when `make train` has made it
(else the embedded model), fp32, with a value head fitted on random states (the timing does not
depend on what it learned; on vLLM it reads states from a pooling instance of the policy).
Before anything is timed, one greedy beam search is checked equal, record for record, on both.

1. Beam search, tree decoder (children copy their parent's KV cache) vs vLLM (each depth resubmits
   every child's token ids in one generate call; the prefix cache, in blocks of 32 tokens, serves
   what earlier depths computed), interleaved. Sampled paths differ between the two (another
   random stream), so throughput is in generated tokens per second beside the wall time.
2. On vLLM: best-of-N vs beam search at the same N, interleaved, with each one's prefix-cache hit
   rate (cached / submitted prompt tokens, from `num_cached_tokens`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from bench.harness import Case, compare, table
from thinkscale.common.chat_format import FormatArgs
from thinkscale.eval.policy import Policy, PolicySettings
from thinkscale.eval.strategies.args import StrategyArgs
from thinkscale.eval.strategies.context import Context
from thinkscale.eval.strategies.table import STRATEGIES
from thinkscale.eval.verifier.head import ValueHead
from thinkscale.eval.verifier.verifiers import ValueHeadVerifier

FINETUNED = "outputs/sft/smollm2-135m-s1/final"


def run(policy, verifier, items, strategy: str, setting: dict, temperature: float, seed: int = 0):
    """One search over `items`; its records and generated tokens (the N-sample record for best-of-N)."""
    policy.s.temperature = temperature
    args = StrategyArgs(seed=seed, max_depth=12, question_chunk=len(items), samples=setting.get("n", 16))
    records = STRATEGIES[strategy](Context(policy, verifier, args), items, setting)
    if strategy == "best_of_n":
        records = [r for r in records if r["label"] == f"bon@{args.samples}"]
    return records, sum(r["generated_tokens"] for r in records)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--questions", type=int, default=2)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()

    from thinkscale.eval.benchmarks import BenchmarkArgs, load_benchmark
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.hf.tree import TreeDecoder
    from thinkscale.inference.models.load import ModelArgs, load_model, resolve_model
    from thinkscale.inference.vllm.tree import VLLMTree

    model_name = FINETUNED if Path(FINETUNED).exists() else "smollm2-135m"
    margs, fmt = ModelArgs(model=model_name, dtype="float32"), FormatArgs()
    model, tok = load_model(margs)
    settings = PolicySettings(temperature=0.7, max_thinking_tokens=128, max_answer_tokens=24, step_delimiter="\n",
                              max_step_tokens=24)  # fmt: skip
    folder = Path("outputs/bench/value-head-random")
    x = torch.randn(256, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    ValueHead.fit(x, (x[:, 0] > 0).float()).save(folder, {"model": model_name})
    items = load_benchmark(BenchmarkArgs(benchmark="builtin"), None)[: a.questions]

    hf = Policy(TreeDecoder(model, tok, fmt, batch_size=64), fmt, settings, model_name)
    backend = BackendArgs(backend="vllm", kv_cache_gib=2.0, kv_block_size=32)
    vl = Policy(VLLMTree.start(resolve_model(model_name), tok, fmt, backend, "float32", state_model=margs), fmt,
                settings, model_name)  # fmt: skip
    verifier = ValueHeadVerifier(str(folder), hf)
    beam = {"n": a.n, "width": a.width, "agg": "last", "lookahead": 0}

    want, _ = run(hf, verifier, items, "beam_search", beam, 0.0)
    got, _ = run(vl, verifier, items, "beam_search", beam, 0.0)
    same = sum(_key(w) == _key(g) for w, g in zip(want, got, strict=True))
    print(f"greedy beam search N={a.n}: {same}/{len(want)} records equal on both backends")

    work: dict[str, int] = {}
    engine: dict[str, list] = {}

    def timed(name, policy, strategy, setting):
        def go():
            before = policy.tree.work.to_dict() if hasattr(policy.tree, "work") else None
            _, work[name] = run(
                policy, verifier, items, strategy, setting, 0.7, seed=len(engine.get(name, []))
            )
            if before is not None:
                after = policy.tree.work.to_dict()
                engine.setdefault(name, []).append({k: after[k] - before[k] for k in ("prompt_tokens", "cached_tokens",
                                                    "requests", "calls", "state_tokens", "state_cached_tokens")})  # fmt: skip

        return Case(name, go)

    print(
        f"\n{model_name}, {a.questions} questions, N={a.n}, M={a.width}, T=0.7, steps to a newline (<= 24 tokens)"
    )
    cases = compare([timed("tree decoder", hf, "beam_search", beam), timed("vLLM", vl, "beam_search", beam)],
                    baseline="tree decoder", repeats=a.repeats)  # fmt: skip
    for c in cases:
        c.work = work[c.name]
    print("beam search:\n" + table(cases, "tree decoder", unit="generated tokens"))

    cases = compare([timed("best-of-N", vl, "best_of_n", {"n": a.n}), timed("beam search", vl, "beam_search", beam)],
                    baseline="best-of-N", repeats=a.repeats)  # fmt: skip
    for c in cases:
        c.work = work[c.name]
    print("\nvLLM, same N:\n" + table(cases, "best-of-N", unit="generated tokens"))
    for name in ("best-of-N", "beam search"):
        e = {k: sum(r[k] for r in engine[name]) for k in engine[name][0]}
        print(f"{name}: prefix-cache hits {e['cached_tokens']}/{e['prompt_tokens']} prompt tokens "
              f"({e['cached_tokens'] / e['prompt_tokens']:.1%}) over {e['requests']} requests in {e['calls']} calls; "
              f"value-head states {e['state_cached_tokens']}/{e['state_tokens']} tokens cached")  # fmt: skip
    vl.tree.close()


def _key(record: dict) -> tuple:
    tree = [{k: v for k, v in step.items() if k != "score"} for step in record.get("tree", [])]
    return record["answer"], record["generated_tokens"], tree


if __name__ == "__main__":
    main()
