"""The budget-forcing processor under Model Runner V2's interface (vLLM's default on CUDA), driven as
V2's sampler drives it (tests/v2_runner.py: slots, rows reordered every step, chunked prefill,
preemption), and loaded by vLLM's own V1 and V2 loaders. Needs vLLM installed (`make setup-vllm`);
no engine is started."""

from dataclasses import asdict

import pytest
import torch

pytest.importorskip("vllm")

from tests.scripted import FakeSamplingParams, ScriptedLM, engine_sample  # noqa: E402
from tests.v2_runner import V2Runner  # noqa: E402
from thinkscale.common.chat_format import FormatArgs, render_prompt  # noqa: E402
from thinkscale.inference.forcing.batch import PROCESSOR, RECORDS_ENV  # noqa: E402
from thinkscale.inference.forcing.budget import BudgetRequest  # noqa: E402
from thinkscale.inference.hf.engine import HFEngine  # noqa: E402
from thinkscale.inference.vllm.engine import VLLMEngine  # noqa: E402
from thinkscale.inference.vllm.processor import BudgetForcingProcessor  # noqa: E402

FMT = FormatArgs()


def enc(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False)


def strip(result):
    return {k: v for k, v in asdict(result).items() if k != "seconds"}


def run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, **runner_kw):
    monkeypatch.setenv(RECORDS_ENV, str(tmp_path))
    llm = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), script, n, len(tokenizer), **runner_kw)
    engine = VLLMEngine(llm, tokenizer, FMT, sampling_params_cls=FakeSamplingParams, mode="sampler",
                        records_dir=str(tmp_path), max_context=4096)  # fmt: skip
    results = engine.generate(reqs)
    assert list(tmp_path.iterdir()) == []  # every record was read and removed
    return results, llm


BUDGETS = [
    dict(max_thinking_tokens=50), dict(num_ignore=6, max_thinking_tokens=200), dict(min_thinking_tokens=7),
    dict(max_thinking_tokens=1), dict(max_thinking_tokens=0), dict(max_answer_tokens=1, num_ignore=1),
    dict(min_thinking_tokens=5, max_thinking_tokens=6), dict(num_ignore=2, ignore_strings=["Wait", "Hmm"]),
    dict(num_ignore=2, ignore_strings=[""]),
]  # fmt: skip


@pytest.mark.parametrize("preempt", [False, True], ids=["no-preemption", "preempted-mid-thinking"])
def test_v2_equals_the_hf_engine_on_every_budget_case(
    tokenizer, tiny_model_dir, tmp_path, monkeypatch, preempt
):
    """Greedy: the V2 path gives the HF engine's result field by field on every budget case in one
    batch, with rows reordered each step, chunked prefill and (second case) every request preempted
    after 3 tokens and resumed in a new slot with new params objects."""
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    X, S, EOT, FOUR = (enc(tokenizer, t)[0] for t in (" step", "<|im_start|>", "<|im_end|>", "4"))
    script = [X, X, S, 0, 0, FOUR, EOT]
    reqs = [BudgetRequest(prompt, **b) for b in BUDGETS]
    hf = [HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate([r])[0] for r in reqs]
    preempt_at = {i: 3 for i in range(len(reqs))} if preempt else None
    ours, llm = run_v2(
        tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, preempt_at=preempt_at
    )
    assert [strip(r) for r in ours] == [strip(r) for r in hf]
    assert ours[1].num_forced == 6 and ours[7].num_forced == 2 and ours[8].num_forced == 2
    if preempt:
        assert llm.adds > len(reqs)  # the preempted requests came back


def _script(tokenizer):
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    X, S, EOT, FOUR = (enc(tokenizer, t)[0] for t in (" step", "<|im_start|>", "<|im_end|>", "4"))
    return prompt, len(enc(tokenizer, prompt)), [X, X, S, X, X, S, 0, 0, FOUR, EOT]


@pytest.mark.parametrize("async_scheduling", [False, True], ids=["sync", "async-scheduling"])
def test_v2_worst_orders_equal_the_hf_engine(
    tokenizer, tiny_model_dir, tmp_path, monkeypatch, async_scheduling
):
    """V2 in its worst legal orders: every request preempted during its first prefill chunk, after 3
    tokens (mid-thinking), after 8 (right after a forced token: num_ignore 1 forces "Wait" at 6) and
    late, each time resuming only after another request has left, in the slot on top of the
    last-in-first-out free list (another request's, while its own stale state still sits in its old
    slot); background requests with the same budgets share the batch and are aborted or stopped early,
    leaving stale slots; with async scheduling a finished request is scheduled once more. Every
    budget case equals the HF engine field by field, and nothing is released from forcing."""
    prompt, n, script = _script(tokenizer)
    budgets = BUDGETS + [dict(num_ignore=1, max_thinking_tokens=50, max_answer_tokens=8)] * 2
    reqs = [BudgetRequest(prompt, **b) for b in budgets]
    hf = [HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate([r])[0] for r in reqs]
    preempt_at = {i: [0, 3, 8, 12] for i in range(len(reqs))}
    ids = enc(tokenizer, prompt)
    noise = []
    for j, b in enumerate(budgets[:6]):
        extra = {k: v for k, v in b.items()}
        noise.append((ids, FakeSamplingParams(extra_args=extra, temperature=0.0, top_p=1.0, seed=None, n=1,
                                              max_tokens=200, stop_token_ids=[]), 2 + j))  # fmt: skip
    ours, llm = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, preempt_at=preempt_at,
                       noise=noise, async_scheduling=async_scheduling, max_num_reqs=32)  # fmt: skip
    assert [strip(r) for r in ours] == [strip(r) for r in hf]
    assert ours[-1].think_end_reason == "delimiter" and ours[-1].answer == "4" and ours[-1].num_forced == 1
    assert llm.resumed_in_other_slot >= len(reqs)  # the orders this test exists for did happen
    assert llm.processor.batch.released == 0


def test_v2_end_of_turn_in_thinking_gets_the_final_answer_prefix(
    tokenizer, tiny_model_dir, tmp_path, monkeypatch
):
    """A greedy model that ends its turn inside thinking: the end-of-turn is merged into the
    delimiter, and the flag read at the commit says it stood for end-of-turn, so the final-answer
    prefix follows (the HF engine's result), where a model writing the delimiter itself gets none."""
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    X, S, EOT, FOUR = (enc(tokenizer, t)[0] for t in (" step", "<|im_start|>", "<|im_end|>", "4"))
    reqs = [BudgetRequest(prompt, max_thinking_tokens=40, max_answer_tokens=4)]
    for script, reason in (
        ([X, X, EOT, FOUR, EOT], "end_of_turn"),
        ([X, X, S, 0, 0, FOUR, EOT], "delimiter"),
    ):
        hf = HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate(reqs)
        ours, _ = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs)
        assert [strip(r) for r in ours] == [strip(r) for r in hf]
        assert ours[0].think_end_reason == reason
        assert ours[0].answer.startswith(FMT.final_answer_prefix.strip()) == (reason == "end_of_turn")


def test_v2_sampled_runs_are_reproducible(tokenizer, tiny_model_dir, tmp_path, monkeypatch):
    prompt = render_prompt(tokenizer, FMT, "What is 2 + 2?")
    n = len(enc(tokenizer, prompt))
    script = [enc(tokenizer, " step")[0]] * 5 + [enc(tokenizer, "<|im_start|>")[0]]
    reqs = [BudgetRequest(prompt, min_thinking_tokens=12, max_thinking_tokens=30, max_answer_tokens=6,
                          thinking_temperature=0.9, answer_temperature=0.5, top_p=0.95, seed=s) for s in (1, 2)]  # fmt: skip
    first, _ = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs)
    again, _ = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, seed=5)
    assert [strip(r) for r in first] == [strip(r) for r in again]  # another row order, same samples


def test_v2_leaves_requests_without_budgets_or_with_bad_ones_alone(tokenizer, tiny_model_dir, monkeypatch):
    runner = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), [0], 1, len(tokenizer))
    plain = FakeSamplingParams(
        extra_args=None, temperature=0.0, top_p=1.0, seed=None, max_tokens=8, stop_token_ids=[]
    )
    assert runner.processor.add_request(0, plain) is False
    # settings validate_params would have refused never fail the batch: the request is left alone
    bad = FakeSamplingParams(extra_args={"min_thinking_tokens": 9, "max_thinking_tokens": 4}, temperature=0.0,
                             top_p=1.0, seed=None, max_tokens=8, stop_token_ids=[])  # fmt: skip
    assert runner.processor.add_request(1, bad) is False and 1 not in runner.processor.batch.rows


def test_the_documented_names_are_what_vllm_loads():
    """`thinkscale.vllm:BudgetForcingProcessor` and `--reasoning-parser-plugin thinkscale.vllm
    --reasoning-parser thinkscale` (docs/vllm.md), through vLLM's own plugin import."""
    from vllm.reasoning import ReasoningParserManager

    from thinkscale.inference.vllm.reasoning import ThinkAnswerParser
    from thinkscale.vllm import REASONING_PARSER, REASONING_PLUGIN

    assert PROCESSOR == "thinkscale.vllm:BudgetForcingProcessor"
    ReasoningParserManager.import_reasoning_parser(REASONING_PLUGIN)
    assert ReasoningParserManager.get_reasoning_parser(REASONING_PARSER) is ThinkAnswerParser


def test_vllms_own_loaders_accept_the_class_for_both_runners():
    """vLLM 0.32's V2 loader refuses a class without the V2 interface (ValueError at start-up), and its
    V1 loader one without V1's: ours passes both, and V2's admission check refuses bad budgets."""
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams
    from vllm.v1.sample.logits_processor import _load_logitsprocs_by_fqcns
    from vllm.v1.worker.gpu.sample.logits_processor import build_custom_logits_processors_params_validator
    from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs_by_fqcns

    assert _load_v2_logitsprocs_by_fqcns([PROCESSOR]) == [BudgetForcingProcessor]
    assert _load_logitsprocs_by_fqcns([PROCESSOR]) == [BudgetForcingProcessor]
    validate = build_custom_logits_processors_params_validator([PROCESSOR])
    validate(SamplingParams(extra_args={"max_thinking_tokens": 8}))
    with pytest.raises(VLLMValidationError, match="vllm_xargs.min_thinking_tokens"):
        validate(SamplingParams(extra_args={"min_thinking_tokens": 9, "max_thinking_tokens": 4}))
    with pytest.raises(VLLMValidationError, match="thinking_token_budget"):
        validate(SamplingParams(thinking_token_budget=8, extra_args={"max_thinking_tokens": 8}))


def test_an_unknown_runner_gets_one_line_naming_the_version_and_the_setting():
    with pytest.raises(ValueError) as e:
        BudgetForcingProcessor(object(), "a", "b", "c")
    message = str(e.value)
    assert "vLLM 0.32" in message and "VLLM_USE_V2_MODEL_RUNNER=0" in message and "\n" not in message


def test_v2_apply_touches_only_the_rows_the_rules_need(tokenizer, tiny_model_dir):
    """A greedy request past its minimum leaves every logit but the stop tokens' and the delimiter's
    as they were; a request of no budget keeps its row whole."""
    runner = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), [0], 1, len(tokenizer), max_num_reqs=2)
    params = FakeSamplingParams(extra_args={"max_thinking_tokens": 64}, temperature=0.0, top_p=1.0, seed=1,
                                max_tokens=100, stop_token_ids=[], all_stop_token_ids=set())  # fmt: skip
    for slot, p in (
        (0, params),
        (1, FakeSamplingParams(extra_args=None, temperature=0.0, top_p=1.0, seed=None)),
    ):
        runner.prompt_lens.np[slot] = runner.prefill_lens.np[slot] = 4
        runner.processor.add_request(slot, p)
    runner.processor.apply_staged_writes()
    logits = torch.randn(2, len(tokenizer))
    ctx = runner._context([{"slot": 1}, {"slot": 0}], [4, 4], [[1, 2, 3, 4]] * 2)
    out = runner.processor.apply(logits.clone(), ctx)
    touched = (out != logits).nonzero().tolist()
    stops = set(runner.processor.batch.rules.delims.think_stop_ids)
    assert {row for row, _ in touched} == {1}  # row 1 holds slot 0, the budgeted request
    assert {tok for _, tok in touched} <= stops


def _sampled_params(n: int = 1):
    extra = {"min_thinking_tokens": 12, "max_thinking_tokens": 30, "max_answer_tokens": 6}
    return FakeSamplingParams(extra_args=extra, temperature=0.9, top_p=0.95, seed=None, n=n, max_tokens=60,
                              stop_token_ids=[])  # fmt: skip


def test_two_tensor_parallel_ranks_decide_alike_for_a_request_without_a_seed(
    tokenizer, tiny_model_dir, monkeypatch
):
    """Every TP rank runs its own processor on the same logits and feeds back its own tokens: a request
    sent without a seed must get the same seed on each (from its admission identity), so the ranks
    force the same tokens. With the seed drawn in each worker, as before, the two ranks part at once
    (the second half shows the test can fail)."""
    import os

    import thinkscale.inference.forcing.batch as forcing

    def run_ranks():
        ranks = [V2Runner(BudgetForcingProcessor, str(tiny_model_dir), [0], 4, len(tokenizer), max_num_reqs=4)
                 for _ in range(2)]  # fmt: skip
        params = _sampled_params()
        BudgetForcingProcessor.validate_params(params)  # the frontend admits it once; both ranks get its copy
        for r in ranks:
            r.prompt_lens.np[0] = r.prefill_lens.np[0] = 4
            r.processor.add_request(0, FakeSamplingParams(**params.__dict__))
            r.processor.apply_staged_writes()
        gen = torch.Generator().manual_seed(0)
        differ, tokens = 0, [5, 6, 7, 8]
        for step in range(40):
            logits = torch.randn(1, len(tokenizer), generator=gen)
            ctx = ranks[0]._context([{"slot": 0}], [len(tokens)], [tokens])
            outs = [r.processor.apply(logits.clone(), ctx) for r in ranks]
            picks = [int(engine_sample(o, 0.9, 0.95, torch.Generator().manual_seed(step))[0]) for o in outs]
            differ += picks[0] != picks[1]
            tokens.append(picks[0])
        return differ

    assert run_ranks() == 0
    monkeypatch.setattr(forcing, "identity_seed", lambda ident: int.from_bytes(os.urandom(6), "little"))
    assert run_ranks() > 0


def test_n_samples_and_identical_requests_keep_their_own_states(
    tokenizer, tiny_model_dir, tmp_path, monkeypatch
):
    """n = 3 without a seed: admission draws one, the samples are seeded seed + i (vLLM's fan-out), so
    they differ from each other and each equals the same request sent alone with that seed; two
    identical requests (same params, same seed) both preempted and resumed in each other's slots
    give the same tokens as one alone."""
    monkeypatch.setenv(RECORDS_ENV, str(tmp_path))
    prompt, n, _ = _script(tokenizer)
    script = [enc(tokenizer, " step")[0]] * 5 + [enc(tokenizer, "<|im_start|>")[0]]
    ids = enc(tokenizer, prompt)

    def run(params_list, **kw):
        llm = V2Runner(
            BudgetForcingProcessor, str(tiny_model_dir), script, n, len(tokenizer), max_num_reqs=8, **kw
        )
        outs = llm.generate([{"prompt_token_ids": ids}] * len(params_list), params_list)
        return [list(c.token_ids) for o in outs for c in o.outputs], llm

    many, _ = run([_sampled_params(n=3)], preempt_at={0: [2, 9]})
    assert len({tuple(t) for t in many}) == 3  # three samples, not one drawn three times
    fanned, _ = run([_with_seed(100, n=3)], preempt_at={0: [0, 5]})
    assert fanned == [run([_with_seed(100 + k, n=1)])[0][0] for k in range(3)]
    twins, llm = run([_with_seed(7, n=1), _with_seed(7, n=1)], preempt_at={0: [4], 1: [4]})
    single, _ = run([_with_seed(7, n=1)])
    assert twins == single * 2 and llm.processor.batch.released == 0 and llm.resumed_in_other_slot >= 1


def _with_seed(seed, n=3):
    p = _sampled_params(n=n)
    p.seed = seed
    return p


def test_an_inconsistent_request_is_released_and_the_others_go_on(
    tokenizer, tiny_model_dir, tmp_path, monkeypatch
):
    """A committed token that contradicts a forced one (an engine fault) never raises inside the
    sampler: that request is released from forcing, its result says so (stop_reason forcing_error),
    and the request beside it is untouched."""
    from thinkscale.inference.forcing.state import STOP_FORCING_ERROR

    prompt, n, script = _script(tokenizer)
    reqs = [BudgetRequest(prompt, max_thinking_tokens=0), BudgetRequest(prompt, max_thinking_tokens=50)]
    hf = HFEngine(ScriptedLM(script, n, len(tokenizer)), tokenizer, FMT).generate(reqs[1:])[0]
    real_sample = V2Runner.generate

    def corrupting(self, prompts, params, use_tqdm=True):
        import tests.v2_runner as runner

        original = runner.engine_sample

        def sample(logits, temperature, top_p, gen):
            out = original(logits, temperature, top_p, gen)
            if logits[0].max() >= 1e8 and not self.corrupted:  # a forced row: commit another token instead
                self.corrupted = True
                return out * 0 + 5
            return out

        self.corrupted = False
        monkeypatch.setattr(runner, "engine_sample", sample)
        return real_sample(self, prompts, params, use_tqdm)

    monkeypatch.setattr(V2Runner, "generate", corrupting)
    ours, llm = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs)
    assert llm.processor.batch.released == 1
    assert [r.stop_reason for r in ours].count(STOP_FORCING_ERROR) == 1
    assert ours[0].stop_reason == STOP_FORCING_ERROR  # the cut at 0 is forced at once: its row is the one
    assert strip(ours[1]) == strip(hf)


def test_parked_states_stay_bounded_under_aborts(tokenizer, tiny_model_dir, tmp_path, monkeypatch):
    """Requests that leave without a word (aborts, client stop strings) leave states behind; however
    many are served, what the processor holds stays below its bound (2 x max_num_seqs parked, one per slot)."""
    prompt, n, script = _script(tokenizer)
    ids = enc(tokenizer, prompt)
    noise = [(ids, FakeSamplingParams(extra_args={"max_thinking_tokens": 40}, temperature=0.0, top_p=1.0, seed=None,
                                      n=1, max_tokens=100, stop_token_ids=[]), 1 + j % 5) for j in range(60)]  # fmt: skip
    reqs = [BudgetRequest(prompt, max_thinking_tokens=50)]
    ours, llm = run_v2(tokenizer, tiny_model_dir, tmp_path, monkeypatch, script, n, reqs, noise=noise,
                       max_num_reqs=64, preempt_at={0: [2]})  # fmt: skip
    batch = llm.processor.batch
    assert len(batch.parked) <= batch.max_parked == 128 and len(batch.rows) <= 64
    small = V2Runner(BudgetForcingProcessor, str(tiny_model_dir), script, n, len(tokenizer), max_num_reqs=4)
    small.processor.batch.max_parked = 8
    for j in range(100):  # a long-lived server: requests admitted, preempted, never seen again
        p = FakeSamplingParams(extra_args={"max_thinking_tokens": 40}, temperature=0.0, top_p=1.0, seed=None, n=1,
                               max_tokens=100, stop_token_ids=[])  # fmt: skip
        BudgetForcingProcessor.validate_params(p)
        small.prompt_lens.np[j % 4] = small.prefill_lens.np[j % 4] = 4
        small.processor.add_request(j % 4, p)
    assert len(small.processor.batch.parked) <= 8 and len(small.processor.batch.rows) <= 4


def test_bad_settings_are_refused_at_admission_naming_them():
    """ignore_eos and a client's own identity field: one line naming the setting (a 400 on the server);
    async scheduling on the V1 runner: a refusal at start-up naming the flag."""
    from types import SimpleNamespace

    from vllm.sampling_params import SamplingParams

    with pytest.raises(ValueError, match="ignore_eos"):
        BudgetForcingProcessor.validate_params(
            SamplingParams(ignore_eos=True, extra_args={"max_thinking_tokens": 8})
        )
    with pytest.raises(ValueError, match="vllm_xargs.thinkscale_request"):
        BudgetForcingProcessor.validate_params(
            SamplingParams(extra_args={"max_thinking_tokens": 8, "thinkscale_request": "mine"})
        )
    ok = SamplingParams(extra_args={"max_thinking_tokens": 8})
    BudgetForcingProcessor.validate_params(ok)
    first = ok.extra_args["thinkscale_request"]
    BudgetForcingProcessor.validate_params(ok)  # one params object for many prompts: a fresh identity each
    assert isinstance(first, bytes) and ok.extra_args["thinkscale_request"] != first
    cfg = SimpleNamespace(model_config=None, speculative_config=None,
                          scheduler_config=SimpleNamespace(async_scheduling=True, max_num_seqs=4))  # fmt: skip
    with pytest.raises(ValueError, match="--no-async-scheduling") as e:
        BudgetForcingProcessor(cfg, "cpu", False)
    assert "\n" not in str(e.value)


def test_v1_a_removal_reported_only_as_a_move_parks_the_request(tokenizer, tiny_model_dir):
    """vLLM V1's persistent batch (`InputBatch.condense`): a removed row that another request is moved
    into is reported only as that move (`BatchUpdateBuilder.pop_removed`). The removed request (here
    preempted) must be parked, and found with its decisions when it is added back; before the fix its
    state was thrown away and it was replayed without them (6 of 16 real requests lost their forced
    count under preemption)."""
    from types import SimpleNamespace

    from vllm.v1.sample.logits_processor import BatchUpdateBuilder, MoveDirectionality

    model_config = SimpleNamespace(
        tokenizer=str(tiny_model_dir), model=str(tiny_model_dir), max_model_len=4096, seed=0
    )
    cfg = SimpleNamespace(model_config=model_config, speculative_config=None,
                          scheduler_config=SimpleNamespace(async_scheduling=False, max_num_seqs=8))  # fmt: skip
    proc = BudgetForcingProcessor(cfg, "cpu", False)
    params = [FakeSamplingParams(extra_args={"min_thinking_tokens": 50, "max_thinking_tokens": 60}, temperature=0.0,
                                 top_p=1.0, seed=None, n=1, max_tokens=100, stop_token_ids=[]) for _ in range(4)]  # fmt: skip
    outputs = [[] for _ in range(4)]
    for p in params:
        BudgetForcingProcessor.validate_params(p)
    builder = BatchUpdateBuilder()
    builder.added.extend((i, params[i], [1, 2, 3], outputs[i]) for i in range(4))
    proc.update_state(builder.get_and_reset(4))
    stop = proc.batch.rules.delims.think_end_ids[0]
    logits = torch.zeros(4, len(tokenizer))
    logits[:, stop] = 5.0  # every request tries to stop thinking: "Wait" is forced in its place
    out = proc.apply(logits)
    for i in range(4):
        outputs[i].append(int(out[i].argmax()))
    proc.update_state(None)
    state = proc.batch.rows[0]
    assert state.num_forced == 1
    builder.removed_append(0)  # request 0 preempted; condense moves request 3 into row 0
    assert builder.pop_removed() == 0
    builder.moved.append((3, 0, MoveDirectionality.UNIDIRECTIONAL))
    proc.update_state(builder.get_and_reset(3))
    assert proc.batch.rows[0] is not state and state in proc.batch.parked.values()
    builder.added.append((3, params[0], [1, 2, 3], outputs[0]))  # resumed later, in another row
    proc.update_state(builder.get_and_reset(4))
    assert proc.batch.rows[3] is state and state.num_forced == 1 and proc.batch.released == 0
