"""Budget forcing under real serving conditions on one CUDA GPU: forced preemptions, async scheduling
and CUDA graphs, each against a plain control. Needs a CUDA GPU and vLLM 0.32 (`make setup-vllm`).

    .venv/bin/python tools/gpu_check.py [--requests 64] [--kv-cache-gib 0.01]

Three engines on the embedded model (fp32, greedy, vLLM's default model runner on CUDA: V2), one
after another, each with the budget-forcing processor loaded:

1. control: a KV cache that holds every request (nothing preempted), eager, async scheduling off;
2. stressed: a KV cache too small for the batch (requests preempted and resumed in other slots),
   async scheduling on, CUDA graphs on (enforce_eager off);
3. throughput: the stressed engine's settings with a large KV cache: the same prompts with budgets and
   without any (`vllm_xargs` absent: the processor leaves them alone), tokens/s of each.

It prints, per engine: results equal to the control's (field by field, segments included), requests
released from forcing, preemptions (vLLM's per-request stats), wall time and generated tokens/s; and
the forcing / no-forcing throughput ratio. Exit 1 if any stressed result differs from the control.
Meant to finish in a few minutes; it has not been run until docs/vllm.md says it has.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict


def _requests(tokenizer, fmt, n: int):
    from thinkscale.common.chat_format import render_prompt
    from thinkscale.inference.forcing.budget import BudgetRequest

    questions = ["What is 7 + 5?", "Compute (4 + 3) * 5 - 6.", "Is 91 prime?", "What is 12 * 11?"]
    budgets = [dict(min_thinking_tokens=120, max_thinking_tokens=200, num_ignore=2, ignore_strings=["Wait", "Hmm"]),
               dict(min_thinking_tokens=60, max_thinking_tokens=90), dict(max_thinking_tokens=30, min_thinking_tokens=30),
               dict(num_ignore=3, max_thinking_tokens=300)]  # fmt: skip
    return [BudgetRequest(render_prompt(tokenizer, fmt, questions[i % 4]), max_answer_tokens=24, **budgets[i // 4 % 4])
            for i in range(n)]  # fmt: skip


def _fields(result) -> dict:
    return {k: v for k, v in asdict(result).items() if k != "seconds"}


class _Counted:
    def __init__(self, llm):
        self.llm, self.preemptions, self.generated = llm, 0, 0

    def generate(self, prompts, params, use_tqdm=False):
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        for o in outs:
            self.preemptions += getattr(o.metrics, "num_preemptions", 0) or 0 if o.metrics else 0
            self.generated += len(o.outputs[0].token_ids)
        return outs


def _engine(source, kv_gib: float, eager: bool, async_scheduling: bool, context: int):
    from vllm import LLM

    from thinkscale.inference.backend import BackendArgs
    from thinkscale.inference.forcing.batch import PROCESSOR
    from thinkscale.inference.vllm.launch import llm_kwargs

    args = BackendArgs(backend="vllm", max_model_len=context, kv_cache_gib=kv_gib, enforce_eager=eager)
    kwargs = llm_kwargs(args, "float32", True, logits_processors=[PROCESSOR])
    kwargs.update(async_scheduling=async_scheduling, disable_log_stats=False)
    return LLM(model=source, **kwargs)


def _run(name, source, tokenizer, fmt, reqs, records, kv_gib, eager, async_scheduling, context):
    from thinkscale.inference.vllm.engine import VLLMEngine
    from thinkscale.inference.vllm.process import shutdown_llm

    llm = _engine(source, kv_gib, eager, async_scheduling, context)
    try:
        counted = _Counted(llm)
        engine = VLLMEngine(counted, tokenizer, fmt, mode="sampler", records_dir=records, max_context=context)
        t0 = time.perf_counter()
        results = engine.generate(reqs)
        wall = time.perf_counter() - t0
        plain_wall = None
        if name == "throughput":  # the same prompts, no budgets: the processor leaves them alone
            from vllm import SamplingParams

            prompts = [
                {"prompt_token_ids": tokenizer.encode(r.prompt, add_special_tokens=False)} for r in reqs
            ]
            lengths = [len(tokenizer.encode(r.prompt, add_special_tokens=False)) for r in reqs]
            # each plain request generates as many tokens as its forced twin did, so tokens/s compare
            params = [SamplingParams(temperature=0, max_tokens=res.generated_tokens + 1, ignore_eos=True)
                      for res, _ in zip(results, lengths, strict=True)]  # fmt: skip
            t0 = time.perf_counter()
            plain = llm.generate(prompts, params, use_tqdm=False)
            plain_wall = time.perf_counter() - t0
            plain_tokens = sum(len(o.outputs[0].token_ids) for o in plain)
            return results, counted, wall, (plain_tokens, plain_wall)
        return results, counted, wall, None
    finally:
        shutdown_llm(llm)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--kv-cache-gib", type=float, default=0.01, help="the stressed engine's KV cache")
    parser.add_argument("--context", type=int, default=512)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("tools/gpu_check.py needs a CUDA GPU", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from thinkscale.common.chat_format import FormatArgs
    from thinkscale.inference.models.load import load_tokenizer, resolve_model
    from thinkscale.inference.vllm.engine import forcing_environment
    from thinkscale.inference.vllm.launch import model_runner

    fmt = FormatArgs()
    source = resolve_model("smollm2-135m")
    tokenizer = load_tokenizer(source)
    records, _ = forcing_environment(fmt)
    reqs = _requests(tokenizer, fmt, args.requests)
    print(
        f"vLLM model runner: {model_runner(True)}; {len(reqs)} requests, greedy fp32, context {args.context}"
    )
    control, c, wall, _ = _run(
        "control", source, tokenizer, fmt, reqs, records, 4.0, True, False, args.context
    )
    print(
        f"control   : eager, sync, KV 4 GiB: preemptions {c.preemptions}, {wall:.1f} s, {c.generated / wall:.0f} tok/s"
    )
    stressed, s, wall, _ = _run("stressed", source, tokenizer, fmt, reqs, records, args.kv_cache_gib, False, True,
                                args.context)  # fmt: skip
    equal = sum(_fields(a) == _fields(b) for a, b in zip(stressed, control, strict=True))
    errors = sum(r.stop_reason == "forcing_error" for r in stressed)
    print(f"stressed  : CUDA graphs, async scheduling, KV {args.kv_cache_gib} GiB: preemptions {s.preemptions}, "
          f"equal to control {equal}/{len(reqs)}, released from forcing {errors}, {wall:.1f} s")  # fmt: skip
    _, t, wall, (plain_tokens, plain_wall) = _run("throughput", source, tokenizer, fmt, reqs, records, 4.0, False, True,
                                                  args.context)  # fmt: skip
    forced_rate, plain_rate = t.generated / wall, plain_tokens / plain_wall
    print(f"throughput: with forcing {forced_rate:.0f} tok/s, without {plain_rate:.0f} tok/s: "
          f"{forced_rate / plain_rate:.2f}x (CUDA graphs, async scheduling)")  # fmt: skip
    if s.preemptions == 0:
        print("warning: nothing was preempted; lower --kv-cache-gib", file=sys.stderr)
    return 0 if equal == len(reqs) and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
