"""Budget-forcing decoder throughput: this engine vs an s1-style loop vs plain `generate`.

    .venv/bin/python -m bench.bench_budget_forcing [--segments 5 --segment-tokens 24 --batch-sizes 1 16]

Every case generates the same number of thinking tokens per prompt (segments x segment_tokens):
(a) engine: this toolkit's loop, thinking forced to exactly that length (min = max budget; every
    attempt to stop becomes "Wait"), then the answer delimiter and a one-token answer;
(b) s1 loop: `generate` one segment, decode to text, append "Wait", re-tokenize and call
    `generate` again on the whole text, as s1's reference code does (segments - 1 Waits);
(c) generate: one plain `model.generate` call of the same length, no forcing.
Throughput is generated tokens per second; ratios are against (c) and (b) in the same run. The
engine at the largest batch is compared with the fp32 matmul roofline measured in the same run
(2 x parameters FLOPs per token).
"""

from __future__ import annotations

import argparse

import torch

from bench.harness import Case, compare, matmul_gflops, peak_rss_mib, table
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest
from thinkscale.inference.hf.engine import HFEngine
from thinkscale.inference.models.load import ModelArgs, load_model

QUESTIONS = [f"Compute ({a} + {b}) * {c} - {d}." for a, b, c, d in
             [(3, 4, 2, 5), (12, 7, 3, 9), (5, 5, 5, 5), (21, 8, 2, 11), (9, 1, 7, 6), (14, 3, 4, 20),
              (2, 2, 9, 1), (30, 12, 2, 40)]]  # fmt: skip


def prompts(tokenizer, fmt, n):
    return [render_prompt(tokenizer, fmt, QUESTIONS[i % len(QUESTIONS)]) for i in range(n)]


def engine_case(engine, texts, total):
    reqs = [
        BudgetRequest(t, min_thinking_tokens=total, max_thinking_tokens=total, max_answer_tokens=1)
        for t in texts
    ]
    return lambda: engine.generate(reqs)


def generate_batch(model, tokenizer, texts, new_tokens):
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    return [tokenizer.decode(row[enc.input_ids.shape[1] :], skip_special_tokens=False) for row in out]


def s1_loop_case(model, tokenizer, texts, segments, seg_tokens):
    def run():
        current = list(texts)
        for i in range(segments):
            new = generate_batch(model, tokenizer, current, seg_tokens)
            current = [c + n.replace(tokenizer.pad_token, "") + ("Wait" if i < segments - 1 else "")
                       for c, n in zip(current, new, strict=True)]  # fmt: skip

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, default=5)
    ap.add_argument("--segment-tokens", type=int, default=24)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--roofline-batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    model, tokenizer = load_model(ModelArgs())
    tokenizer.padding_side = "left"
    fmt = FormatArgs()
    total = args.segments * args.segment_tokens
    gflops = matmul_gflops()
    flops_per_token = 2 * sum(p.numel() for p in model.parameters())
    print(f"fp32 matmul: {gflops:.1f} GFLOP/s; model: {flops_per_token / 1e9:.3f} GFLOP/token; "
          f"roofline {gflops * 1e9 / flops_per_token:.1f} tok/s; {total} thinking tokens per prompt\n")  # fmt: skip
    engine_extra = (
        len(tokenizer.encode(fmt.think_end + fmt.final_answer_prefix, add_special_tokens=False)) + 1
    )
    for bs in args.batch_sizes:
        texts = prompts(tokenizer, fmt, bs)
        engine = HFEngine(model, tokenizer, fmt, batch_size=bs)
        cases = [
            Case("(c) generate", lambda t=texts: generate_batch(model, tokenizer, t, total), work=bs * total),
            Case("(b) s1 loop", s1_loop_case(model, tokenizer, texts, args.segments, args.segment_tokens),
                 work=bs * total),
            Case("(a) engine", engine_case(engine, texts, total), work=bs * (total + engine_extra)),
        ]  # fmt: skip
        compare(cases, baseline="(c) generate", repeats=args.repeats, warmup=0)
        print(f"batch {bs}:\n{table(cases, baseline='(c) generate', unit='tok')}")
        tput = {c.name: c.work / c.median for c in cases}
        print(f"throughput ratios: (a)/(c) = {tput['(a) engine'] / tput['(c) generate']:.2f}, "
              f"(a)/(b) = {tput['(a) engine'] / tput['(b) s1 loop']:.2f}\n")  # fmt: skip
    bs = args.roofline_batch
    engine = HFEngine(model, tokenizer, fmt, batch_size=bs)
    case = Case(
        "(a) engine",
        engine_case(engine, prompts(tokenizer, fmt, bs), total),
        work=bs * (total + engine_extra),
    )
    compare([case], baseline="(a) engine", repeats=1, warmup=0)
    tput = case.work / case.median
    print(
        f"engine at batch {bs}: {tput:.1f} tok/s = {tput * flops_per_token / 1e9 / gflops:.0%} of the matmul roofline"
    )
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
