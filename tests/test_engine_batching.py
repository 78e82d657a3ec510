"""Batched decoding gives each request the result it gets alone; streaming matches generate."""

from dataclasses import asdict

import torch

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.budget import BudgetRequest, BudgetResult
from thinkscale.inference.hf.engine import HFEngine, TokenEvent
from thinkscale.inference.hf.sampling import make_generator, sample_row

FMT = FormatArgs()
QUESTIONS = ["What is 7 + 5?", "Compute (3 + 4) * 2 - 5.", "hi", "A train goes 60 km in 1.5 h; its speed?",
             "Is 91 prime? Explain briefly.", "Name three primes."]  # fmt: skip


def requests(tok, **sampling):
    # different prompt lengths and budgets: rows finish at different steps and are dropped mid-batch
    return [
        BudgetRequest(render_prompt(tok, FMT, q), min_thinking_tokens=i, max_thinking_tokens=4 + 3 * i,
                      num_ignore=i % 2, max_answer_tokens=3 + i, seed=i, **sampling)
        for i, q in enumerate(QUESTIONS)
    ]  # fmt: skip


def strip(results):
    return [{k: v for k, v in asdict(r).items() if k != "seconds"} for r in results]


def test_batch_equals_single_greedy(tiny_model):
    model, tok = tiny_model
    reqs = requests(tok)
    alone = strip(HFEngine(model, tok, FMT, batch_size=1).generate(reqs))
    together = strip(HFEngine(model, tok, FMT, batch_size=32).generate(reqs))
    assert together == alone
    assert {r["thinking_tokens"] for r in alone} == {4 + 3 * i for i in range(len(QUESTIONS))}


def test_batch_equals_single_sampled(tiny_model):
    model, tok = tiny_model
    reqs = requests(tok, thinking_temperature=0.8, answer_temperature=0.8, top_p=0.9)
    alone = strip(HFEngine(model, tok, FMT, batch_size=1).generate(reqs))
    assert strip(HFEngine(model, tok, FMT, batch_size=4).generate(reqs)) == alone


def test_stream_matches_generate(tiny_model):
    model, tok = tiny_model
    req = requests(tok)[3]
    engine = HFEngine(model, tok, FMT)
    items = list(engine.stream(req))
    final = items[-1]
    assert isinstance(final, BudgetResult)
    events = [e for e in items if isinstance(e, TokenEvent)]
    thinking = [t for e in events if e.kind in ("thinking", "ignore_string") for t in e.ids]
    assert len(thinking) == final.thinking_tokens
    assert sum(len(e.ids) for e in events) + (final.stop_reason == "end_of_turn") == final.generated_tokens
    assert strip([final]) == strip(engine.generate([req]))


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    seen = {sample_row(logits, 1.0, 0.7, make_generator(s)) for s in range(200)}
    assert seen == {0, 1}  # 0.5 < 0.7 <= 0.5 + 0.3
    assert sample_row(logits, 0.0, 1.0, make_generator(0)) == 0
