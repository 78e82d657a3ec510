"""Budget forcing inside the sampler (`inference.forcing.batch`, the core of the vLLM logits processor),
without vLLM: s1's sampling distribution (chi-square, on both paths: drawn by the rules and merged
for the engine's sampler), reproducible seeded sampling, exact agreement with the HF engine with
mixed budgets in one batch, and the request settings it refuses."""

from dataclasses import asdict

import pytest
import torch

from tests.scripted import FakeSamplingParams, ScriptedLM, engine_sample, run_in_sampler
from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.inference.forcing.batch import ForcingBatch, budget_request
from thinkscale.inference.forcing.budget import BudgetRequest, BudgetRules, TokenDelimiters
from thinkscale.inference.hf.engine import HFEngine

FMT = FormatArgs()
# chi-square critical values at alpha = 0.001, by degrees of freedom
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52}


def enc(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def strip(result):
    return {k: v for k, v in asdict(result).items() if k != "seconds"}


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """sample_row's top-p rule, written out: keep the smallest prefix (by probability) reaching top_p."""
    sorted_p, order = probs.sort(descending=True)
    keep = (sorted_p.cumsum(-1) - sorted_p) < top_p
    out = torch.zeros_like(probs)
    out[order[keep]] = sorted_p[keep]
    return out / out.sum()


@pytest.mark.parametrize("top_p", [0.9, 1.0], ids=["drawn-by-the-rules", "merged-engine-draws"])
def test_sampled_suppression_follows_s1s_distribution(tokenizer, top_p):
    """s1 samples t ~ p (temperature 0.7, top-p) and replaces a stop token by "Wait": the emitted first
    token, drawn by the engine's own sampler after the processor, must follow exactly that law — with
    top-p 0.9 the rules draw the row themselves, with top-p 1 they merge the stops into "Wait" and the
    engine draws. 10^4 requests (seeds 0..9999), chi-square at alpha = 0.001; the same statistic
    rejects a wrong law (without the nucleus; with the stops masked instead of replaced): the test
    has power. The counts come from the committed tokens, as on an engine."""
    wait = enc(tokenizer, "Wait")[0]
    x1, x2, x3 = enc(tokenizer, " step")[0], enc(tokenizer, " so")[0], enc(tokenizer, " then")[0]
    stop, eot = enc(tokenizer, FMT.think_end)[0], enc(tokenizer, FMT.end_of_turn)[0]
    tokens = [stop, x1, wait, x2, x3, eot]
    raw = torch.tensor([1.0, 0.8, 0.3, 0.1, -0.4, -0.9])
    temperature, n = 0.7, 10_000
    vocab = len(tokenizer)
    logits = torch.full((n, vocab), float("-inf"))
    logits[:, tokens] = raw
    batch = ForcingBatch(BudgetRules(tokenizer, TokenDelimiters.build(tokenizer, FMT)))
    for i in range(n):
        params = FakeSamplingParams(extra_args={"min_thinking_tokens": 100, "max_thinking_tokens": 200},
                                    temperature=temperature, top_p=top_p, seed=i, max_tokens=300)  # fmt: skip
        batch.add(i, params, 3, [])
    processed = batch.apply(logits)
    emitted = engine_sample(processed, temperature, top_p, torch.Generator().manual_seed(7)).tolist()
    for i, t in enumerate(emitted):
        batch.rows[i].output.append(t)
    batch.fold()
    forced = [batch.rows[i].num_forced for i in range(n)]
    assert not set(emitted) & {stop, eot}  # a stop token is never emitted while the minimum holds
    assert all(t == wait for t, f in zip(emitted, forced, strict=True) if f)  # a suppression emits "Wait"
    # categories: a suppressed stop ("Wait" forced), "Wait" sampled on its own, and each other token
    observed = {"forced": sum(forced), "wait": emitted.count(wait) - sum(forced)}
    observed |= {t: emitted.count(t) for t in (x1, x2, x3)}

    def expected(p_tokens):
        law = {t: float(p) for t, p in zip(tokens, p_tokens, strict=True)}
        return {"forced": law[stop] + law[eot], "wait": law[wait]} | {t: law[t] for t in (x1, x2, x3)}

    def chi2(law, obs=observed):
        stat, df = 0.0, -1
        for key, p in law.items():
            if p == 0:
                assert obs[key] == 0, f"{key} has probability 0 but was emitted {obs[key]} times"
                continue
            stat += (obs[key] - n * p) ** 2 / (n * p)
            df += 1
        return stat, df

    probs = torch.softmax(raw / temperature, -1)
    stat, df = chi2(expected(nucleus(probs, top_p)))
    assert stat < CHI2_999[df], f"chi-square {stat:.2f} with {df} degrees of freedom"
    if top_p < 1:
        wrong, wrong_df = chi2(expected(probs))  # the law without the nucleus: rejected
    else:  # the stops masked and the rest renormalised (vLLM's min_tokens), "Wait" counted whole
        masked = probs.clone()
        masked[[0, 5]] = 0
        masked /= masked.sum()
        law = expected(masked)
        wrong, wrong_df = chi2({"wait": law["wait"]} | {t: law[t] for t in (x1, x2, x3)},
                               {"wait": emitted.count(wait)} | {t: emitted.count(t) for t in (x1, x2, x3)})  # fmt: skip
    assert wrong > CHI2_999[wrong_df], f"chi-square {wrong:.2f} should reject the wrong law"


def test_seeded_sampling_in_the_sampler_is_reproducible(tokenizer):
    """At a temperature > 0 the engine's sampler draws the rows the rules leave to it and the rules
    draw the rest from (seed, position): the same seeds give the same tokens, counts and Waits run
    after run (a thrown-away first step included), and other seeds other samples. (Token-for-token
    equality with the HF engine holds for greedy runs only: there the engine's own sampler draws.)"""
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    script = [enc(tokenizer, " step")[0]] * 5 + [enc(tokenizer, "<|im_start|>")[0]]
    reqs = [
        BudgetRequest(prompt, min_thinking_tokens=12, max_thinking_tokens=30, max_answer_tokens=6,
                      thinking_temperature=0.9, answer_temperature=0.5, top_p=0.95, seed=seed)
        for seed in (1, 2, 3)
    ]  # fmt: skip
    first, _ = run_in_sampler(script, n, tokenizer, FMT, reqs)
    again, _ = run_in_sampler(script, n, tokenizer, FMT, reqs)
    assert [strip(r) for r in first] == [strip(r) for r in again]
    assert len({r.thinking for r in first}) == 3  # the seeds differ, so do the samples
    assert all(r.thinking_tokens == 30 and r.answer_tokens == 6 for r in first)


def test_mixed_budgets_in_one_batch_and_no_waiting_on_the_long_one(tokenizer):
    """Requests with different budgets share one generate call, each equal to the HF engine alone; a
    request forced to think on (6 Waits) does not delay the others' ends."""
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    X, S, EOT, FOUR = (enc(tokenizer, t)[0] for t in (" step", "<|im_start|>", "<|im_end|>", "4"))
    script = [X, X, S, 0, 0, FOUR, EOT]
    budgets = [
        dict(max_thinking_tokens=50), dict(num_ignore=6, max_thinking_tokens=200), dict(min_thinking_tokens=7),
        dict(max_thinking_tokens=1), dict(max_thinking_tokens=0), dict(max_answer_tokens=1, num_ignore=1),
        dict(num_ignore=2, ignore_strings=[""]), dict(min_thinking_tokens=6, ignore_strings=["", "Wait"]),
    ]  # fmt: skip
    reqs = [BudgetRequest(prompt, **b) for b in budgets]
    hf = [HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate([r])[0] for r in reqs]
    ours, llm = run_in_sampler(script, n, tokenizer, FMT, reqs)
    assert [strip(r) for r in ours] == [strip(r) for r in hf]
    assert ours[1].num_forced == 6 and ours[0].num_forced == 0
    assert ours[6].num_forced == 2 and "Wait" not in ours[6].thinking  # s1's "2x without string"
    # every request ended at the step its own tokens need (one more to stop after a spent answer
    # budget), whatever the others do: nothing waits for a round of Waits
    for i, r in enumerate(ours):
        assert llm.finished_at[i] == r.generated_tokens + (r.stop_reason == "max_answer_tokens"), i
    assert llm.steps == max(llm.finished_at.values())


@pytest.mark.parametrize(
    "extra, needle",
    [
        ({"min_thinking_tokens": 9, "max_thinking_tokens": 4},
         "vllm_xargs.min_thinking_tokens (9) is larger than vllm_xargs.max_thinking_tokens (4)"),
        ({"max_thinking_tokens": -1}, "vllm_xargs.max_thinking_tokens must be >= 0"),
        ({"num_ignore": -2}, "vllm_xargs.num_ignore must be >= 0"),
        ({"max_answer_tokens": 0}, "vllm_xargs.max_answer_tokens must be > 0"),
        ({"min_thinking_tokens": "many"}, "vllm_xargs.min_thinking_tokens must be an integer"),
        ({"num_ignore": 1.5}, "vllm_xargs.num_ignore must be an integer"),
        ({"ignore_strings": []}, "vllm_xargs.ignore_strings needs at least one string"),
        ({"ignore_strings": 3}, "vllm_xargs.ignore_strings must be a string or a list of strings"),
        ({"answer_temperature": -1}, "vllm_xargs.answer_temperature must be >= 0"),
        ({"max_thinking": 5}, "vllm_xargs.max_thinking is not a budget-forcing setting"),
        ({"record": "../x"}, "vllm_xargs.record must be"),
    ],
)  # fmt: skip
def test_bad_request_settings_name_the_field(extra, needle):
    with pytest.raises(ValueError) as e:
        budget_request(extra, temperature=0.0, top_p=1.0, seed=0)
    assert needle in str(e.value)


def test_requests_without_budgets_are_left_alone():
    assert budget_request(None, 0.0, 1.0, 0) is None
    assert budget_request({"kv_transfer_params": {}}, 0.0, 1.0, 0) is None  # vLLM's own keys pass through
    req = budget_request({"max_thinking_tokens": 64, "ignore_strings": "Hmm"}, 0.6, 0.95, None)
    assert req.max_thinking_tokens == 64 and req.ignore_strings == ["Hmm"] and req.answer_temperature == 0.6
    assert req.min_thinking_tokens == 0 and req.seed is not None


def _ops_in_one_apply(tokenizer, batch: int) -> int:
    """torch operations one `apply` launches for `batch` rows of every kind (forced, banned, merged,
    drawn, free) in equal shares."""
    from torch.profiler import ProfilerActivity, profile

    core = ForcingBatch(BudgetRules(tokenizer, TokenDelimiters.build(tokenizer, FMT)))
    kinds = [
        ({"max_thinking_tokens": 0}, 0.0, 1.0),  # the delimiter is queued: forced
        ({"num_ignore": 1, "max_thinking_tokens": 64}, 0.0, 1.0),  # first token after num_ignore: banned
        ({"min_thinking_tokens": 50, "max_thinking_tokens": 64}, 0.0, 1.0),  # suppressing, greedy: merged
        ({"max_thinking_tokens": 64}, 0.6, 0.95),  # free, sampled under top-p: drawn
        ({"max_thinking_tokens": 64}, 0.7, 1.0),  # free, sampled at top-p 1: merged
    ]
    for row in range(batch):
        extra, t, p = kinds[row % len(kinds)]
        core.add(
            row, FakeSamplingParams(extra_args=extra, temperature=t, top_p=p, seed=row, max_tokens=100), 3, []
        )
    logits = torch.randn(batch, len(tokenizer))
    core.apply(logits.clone())  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        core.apply(logits.clone())
    # computations only: making a small tensor from a host list and taking views of it varies in its
    # internal steps with the list's length
    bookkeeping = {"empty", "empty_strided", "view", "view_as", "_unsafe_view", "fill_", "to", "_to_copy", "copy_",
                   "select", "unsqueeze", "slice", "expand", "as_strided", "alias", "lift_fresh", "detach", "t"}  # fmt: skip
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and e.name[6:] not in bookkeeping)


def test_one_step_launches_as_many_torch_operations_whatever_the_batch(tokenizer):
    """Every kind of row is handled by one batched operation for all rows of that kind: the count of
    torch computations in one step is the same at 5 rows and at 40."""
    assert _ops_in_one_apply(tokenizer, 5) == _ops_in_one_apply(tokenizer, 40)
