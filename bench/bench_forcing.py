"""Budget forcing in vLLM's sampler vs in rounds vs the HF engine: the same requests, ratios in one run.

    .venv/bin/python -m bench.bench_forcing [--model outputs/sft/smollm2-135m-s1/final] [--questions 10]
        [--num-ignore 0 2 4] [--max-thinking 128] [--repeats 2]

The workload is the eval's: built-in held-out questions, greedy, fp32, thinking up to
`--max-thinking` tokens, answers capped at 24 tokens, all requests of one `num_ignore` level in one
call. Three cases per level, interleaved, the HF engine the baseline: (1) the HF engine (batch =
all requests); (2) vLLM, rounds (`vllm_forcing: rounds`: each suppression is a new `generate` call
over the still-thinking requests, s1's loop); (3) vLLM, the budget-forcing logits processor
(`vllm_forcing: sampler`: one `generate` call). One eager vLLM engine with the processor loaded
serves (2) and (3). Every vLLM result is checked against the HF engine's, field by field, first;
the number of `generate` calls each mode made is printed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.bench_vllm import FINETUNED, equal_fields, tokens
from bench.harness import Case, compare, table
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest


class CountingLLM:
    """Counts the `generate` calls an engine makes (the rounds)."""

    def __init__(self, llm):
        self.llm, self.calls = llm, 0

    def generate(self, *args, **kwargs):
        self.calls += 1
        return self.llm.generate(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=FINETUNED if Path(FINETUNED).is_dir() else "smollm2-135m")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--num-ignore", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--max-thinking", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from thinkscale.eval.benchmarks import BenchmarkArgs, load_benchmark
    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.forcing.batch import PROCESSOR
    from thinkscale.inference.hf.engine import HFEngine
    from thinkscale.inference.models.load import ModelArgs, load_model, resolve_model, source_eos_ids
    from thinkscale.inference.vllm.engine import VLLMEngine, forcing_environment
    from thinkscale.inference.vllm.launch import start_vllm
    from thinkscale.inference.vllm.process import shutdown_llm

    fmt = FormatArgs()
    source = resolve_model(args.model)
    model, tokenizer = load_model(ModelArgs(model=args.model, dtype="float32"))
    items = load_benchmark(BenchmarkArgs(benchmark="builtin"), None)[: args.questions]
    records, _ = forcing_environment(fmt)
    llm = start_vllm(source, BackendArgs(backend="vllm", kv_cache_gib=1.0, max_model_len=1024), "float32",
                     logits_processors=[PROCESSOR])  # fmt: skip
    print(
        f"model {args.model}; {len(items)} questions; max thinking {args.max_thinking}, answers <= 24 tokens"
    )
    for n in args.num_ignore:
        reqs = [BudgetRequest(render_prompt(tokenizer, fmt, it.question), max_thinking_tokens=args.max_thinking,
                              num_ignore=n, max_answer_tokens=24) for it in items]  # fmt: skip
        hf = HFEngine(model, tokenizer, fmt, batch_size=len(reqs))
        want = hf.generate(reqs)
        engines = {}
        for mode in ("rounds", "sampler"):
            counted = CountingLLM(llm)
            engine = VLLMEngine(counted, tokenizer, fmt, extra_eos=source_eos_ids(source), chunk_size=len(reqs),
                                mode=mode, records_dir=records, max_context=1024)  # fmt: skip
            got = engine.generate(reqs)
            same = equal_fields(got, want)
            print(f"num_ignore {n}, vllm {mode}: {counted.calls} generate call(s); "
                  f"{same}/{len(reqs)} results equal the HF engine's field by field")  # fmt: skip
            engines[mode] = engine
        forced = sum(r.num_forced for r in want)
        work = tokens(want)
        cases = compare(
            [Case("hf engine", lambda hf=hf, reqs=reqs: hf.generate(reqs), work),
             Case("vllm rounds", lambda e=engines["rounds"], reqs=reqs: e.generate(reqs), work),
             Case("vllm sampler", lambda e=engines["sampler"], reqs=reqs: e.generate(reqs), work)],
            baseline="hf engine", repeats=args.repeats,
        )  # fmt: skip
        print(
            f"\nnum_ignore {n}: {len(reqs)} requests, {forced} Waits forced, {work} generated tokens per run"
        )
        print(table(cases, baseline="hf engine", unit="tok"))
        rounds = next(c for c in cases if c.name == "vllm rounds").median
        sampler = next(c for c in cases if c.name == "vllm sampler").median
        print(f"sampler vs rounds: {rounds / sampler:.2f}x\n")
    shutdown_llm(llm)


if __name__ == "__main__":
    main()
