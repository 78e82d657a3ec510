"""The eval workload on the HF engine and on vLLM (eager, then compiled): same requests, ratios in one run.

    .venv/bin/python -m bench.bench_vllm [--model outputs/sft/smollm2-135m-s1/final] [--questions 10]
        [--budgets 16 32 64 128] [--repeats 3]

The workload is `make eval`'s budget-forcing sweep: built-in held-out questions (the data stage's
test.jsonl) at every budget, greedy, fp32, answers capped at 24 tokens, all requests in one call
(the HF engine decodes them at batch 40, vLLM schedules them itself). Two phases, each with its own
in-run baseline, because an idle vLLM engine still holds cores and memory: (1) HF engine and vLLM
eager, interleaved; vLLM is shut down; (2) HF engine and vLLM compiled (`enforce_eager=False`:
torch.compile), interleaved. Start-up (engine construction until the first request can run) is
timed separately and not in the ratios. Every vLLM result is checked against the HF engine's,
field by field, before anything is timed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.harness import Case, compare, table
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest

FINETUNED = "outputs/sft/smollm2-135m-s1/final"


def requests(tokenizer, fmt, questions: int, budgets: list[int]) -> list[BudgetRequest]:
    from thinkscale.eval.benchmarks import BenchmarkArgs, load_benchmark

    items = load_benchmark(BenchmarkArgs(benchmark="builtin"), None)[:questions]
    return [BudgetRequest(render_prompt(tokenizer, fmt, it.question), max_thinking_tokens=b, max_answer_tokens=24)
            for b in budgets for it in items]  # fmt: skip


def tokens(results) -> int:
    return sum(r.generated_tokens for r in results)


def equal_fields(got, want) -> int:
    """How many results equal the reference's field by field (wall-clock seconds aside)."""
    return sum(
        a.to_dict() | {"seconds": 0} == b.to_dict() | {"seconds": 0} for a, b in zip(got, want, strict=True)
    )


def vllm_phase(
    name, source, tokenizer, fmt, eager: bool, reqs, hf, want, repeats
) -> tuple[list[Case], float]:
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.models.load import source_eos_ids
    from thinkscale.inference.vllm.engine import VLLMEngine
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    start = time.perf_counter()
    llm = start_vllm(source, BackendArgs(backend="vllm", kv_cache_gib=1.0, max_model_len=1024, enforce_eager=eager),
                     "float32")  # fmt: skip
    startup = time.perf_counter() - start
    engine = VLLMEngine(llm, tokenizer, fmt, extra_eos=source_eos_ids(source), chunk_size=len(reqs))
    got = engine.generate(reqs)
    same = equal_fields(got, want)
    print(
        f"{name}: start-up {startup:.1f} s; {same}/{len(reqs)} results equal the HF engine's field by field"
    )
    work = tokens(want)
    cases = compare([Case("hf engine", lambda: hf.generate(reqs), work), Case(name, lambda: engine.generate(reqs), work)],
                    baseline="hf engine", repeats=repeats)  # fmt: skip
    shutdown_llm(llm)
    return cases, startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=FINETUNED if Path(FINETUNED).is_dir() else "smollm2-135m")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--budgets", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from thinkscale.inference.hf.engine import HFEngine
    from thinkscale.inference.models.load import ModelArgs, load_model, resolve_model

    fmt = FormatArgs()
    source = resolve_model(args.model)
    model, tokenizer = load_model(ModelArgs(model=args.model, dtype="float32"))
    reqs = requests(tokenizer, fmt, args.questions, args.budgets)
    hf = HFEngine(model, tokenizer, fmt, batch_size=40)
    want = hf.generate(reqs)
    print(f"model {args.model}; {len(reqs)} requests ({args.questions} questions x budgets {args.budgets}); "
          f"{tokens(want)} generated tokens per run")  # fmt: skip
    for name, eager in (("vllm eager", True), ("vllm compiled", False)):
        cases, startup = vllm_phase(name, source, tokenizer, fmt, eager, reqs, hf, want, args.repeats)
        print(table(cases, baseline="hf engine", unit="tok"))
        print(f"({name} start-up, not in the ratio: {startup:.1f} s)\n")


if __name__ == "__main__":
    main()
